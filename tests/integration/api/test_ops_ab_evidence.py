"""``/ops/summary`` shows the A/B evidence promotion decides on (SPEC §7, §9): the same games per
arm (completed and abandoned, with a model round, of PROMOTION_SOURCES) and the same
sample-ratio-mismatch figures, from the one shared function, so the two cannot disagree.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.bootstrap.promotion import gym_figures, promotion_config
from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.persistence.database import Database, migrate
from rps.persistence.strength_repository import StrengthRecord
from rps.registry.ports import AliasTarget
from rps.services.ab_evidence import sample_ratio
from rps.services.promotion import PromotionService
from rps.settings import load_settings
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_ab_evidence import T0, VERSION, store_game
from tests.support.onnx_models import DictSource, fetched

P, B = Alias.PRODUCTION, Alias.B
LOADED = {**VERSION, Alias.SHADOW1: "5", Alias.SHADOW2: "6"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Container]]:
    """XGBoost's Production at v3 and B at v4, 70 % of games to Production, and promotion
    counting the games of people and personas only."""
    settings = load_settings(
        DATA_PATH=tmp_path / "data",
        RPS_ADMIN_TOKEN=ADMIN_TOKEN,
        AB_SPLIT_RATIO_XGBOOST=0.7,
        PROMOTION_SOURCES="persona, human",
    )
    database = Database(settings.database_url)
    migrate(database)
    database.dispose()
    models = {
        (family, alias): fetched(version) for family in Family for alias, version in LOADED.items()
    }
    container = build_container(
        settings, rng=random.Random(5), model_sources=[DictSource("cache", models)]
    )
    container.models.reload()
    for alias, at in ((P, T0 - timedelta(days=2)), (B, T0 - timedelta(days=1))):
        container.lifecycle.record_assignment(
            model_type="xgboost",
            alias=alias.value,
            version=VERSION[alias],
            run_id=None,
            previous_version=None,
            assigned_by="rps promote",
            assigned_at=at,
        )
    try:
        with TestClient(create_app(container=container)) as client:
            yield client, container
    finally:
        container.close()


def test_ops_shows_each_arms_evidence_and_split_exactly_as_promotion_counts_them(
    served: tuple[TestClient, Container],
) -> None:
    client, container = served
    db = container.database
    store_game(db, P, "bot")
    store_game(db, P, "user", reason="abandoned")
    store_game(db, P, "bot", source="persona", reason="abandoned")
    store_game(db, P, "bot", source="simulated")  # not a counted source
    store_game(db, P, "bot", decided_by=())  # no model round
    store_game(db, P, None)  # open: counts for the split only
    store_game(db, B, "bot")
    store_game(db, B, "user", source="simulated")
    store_game(db, B, "bot", created_at=T0 - timedelta(days=1, hours=1))  # before B's window

    summary = client.get("/ops/summary").json()

    xgboost = next(f for f in summary["families"] if f["model_type"] == "xgboost")
    arms = {a["alias"]: a for a in xgboost["aliases"]}
    repo = container.promotions
    sources = container.settings.promotion_sources
    for alias in (P, B):
        since = T0 - timedelta(days=2 if alias is P else 1)
        evidence = repo.version_games(
            "xgboost", alias.value, VERSION[alias], since, sources=sources
        )
        shown = arms[alias.value]
        assert (shown["games"], shown["bot_wins"]) == (evidence.games, evidence.bot_wins)
    assert (arms["Production"]["games"], arms["Production"]["bot_wins"]) == (3, 2)
    assert (arms["B"]["games"], arms["B"]["bot_wins"]) == (1, 1)

    srm = sample_ratio(repo, Family.XGBOOST, T0 - timedelta(days=1), 0.7, sources)
    assert xgboost["ab_split"] == {
        "enabled": True,
        "configured_b": pytest.approx(srm["expected_b_share"]),
        "observed_b": pytest.approx(srm["observed_b_share"]),
        "games": srm["production_games"] + srm["b_games"],
        "srm_p_value": pytest.approx(srm["p_value"]),
    }
    # Since B's window opened: five Production games of people and personas, one of B.
    assert (srm["production_games"], srm["b_games"]) == (5, 1)
    assert xgboost["ab_split"]["configured_b"] == pytest.approx(0.3)


def _gym(version: str, rate: float) -> StrengthRecord:
    return StrengthRecord(
        model_type="xgboost",
        version=version,
        run_id=None,
        source="evaluate",
        games_per_opponent=20,
        seed=1,
        scoring_version="s",
        holdout_win_rate=rate,
        training_win_rate=rate,
        overall_win_rate=rate,
        holdout_margin=0.1,
        layer_holdout_win_rate=0.8,
        greedy_holdout_win_rate=0.6,
    )


class _Registry:
    """The registry promotion would read: the same versions the app serves."""

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None:
        return AliasTarget(family, alias, REGISTERED_NAMES[family], LOADED[alias], "run")

    def set_alias(self, registered_name: str, alias: Alias, version: str) -> None:
        raise AssertionError("a dry run moves nothing")

    delete_alias = set_alias  # type: ignore[assignment]

    def version_run_id(self, registered_name: str, version: str) -> str | None:
        return "run"


def test_ops_previews_the_next_promotion_run_as_promotion_itself_decides_it(
    served: tuple[TestClient, Container],
) -> None:
    """The ops page shows the running test and the challengers in the order a concluded test
    would rank them (shadow2's stronger gym figure first), and its verdict is the one a dry
    run of the promotion service reaches on the same evidence."""
    client, container = served
    db = container.database
    for _ in range(3):
        store_game(db, P, "bot")
    store_game(db, B, "bot")
    store_game(db, B, "user")
    container.strength.add(_gym("5", 0.81))
    container.strength.add(_gym("6", 0.87))

    summary = client.get("/ops/summary").json()
    xgboost = next(f for f in summary["families"] if f["model_type"] == "xgboost")
    preview = xgboost["promotion"]

    assert preview["rule"] == "sequential"
    assert preview["production"] == {"version": "3", "games": 3, "bot_wins": 3}
    assert preview["b"] == {"version": "4", "games": 2, "bot_wins": 1}
    assert preview["next_decision"] == "insufficient_data"
    assert preview["max_games"] == container.settings.PROMOTION_MAX_GAMES
    assert 0.0 < preview["always_valid_p"] <= 1.0
    ranked = [(c["rank"], c["alias"], c["version"], c["ranked_on"]) for c in preview["challengers"]]
    assert ranked == [(1, "shadow2", "6", "gym"), (2, "shadow1", "5", "gym"), (3, "B", "4", "none")]
    assert preview["assignments_after"] == {
        "Production": "3",
        "B": "4",
        "shadow1": "5",
        "shadow2": "6",
    }

    service = PromotionService(
        container.promotions,
        container.lifecycle,
        _Registry(),
        None,
        promotion_config(container.settings),
        gym=gym_figures(db),
    )
    outcome = service.run(families=[Family.XGBOOST], dry_run=True)[0]
    assert outcome.decision == preview["next_decision"]
    assert outcome.reason == preview["reason"]


def test_ops_page_renders_the_promotion_preview(served: tuple[TestClient, Container]) -> None:
    """Every family with a served Production gets a preview; the summary validates against
    its schema (a response model mismatch would be a 500)."""
    client, _ = served
    response = client.get("/ops/summary")
    assert response.status_code == 200, response.text
    previews = [f["promotion"] for f in response.json()["families"]]
    assert all(p is not None and p["production"]["version"] == "3" for p in previews)
