"""Strength made visible (SPEC §4.1, §8, §12): each alias's gym figures and counterfactual record
in /ops/summary and in /metrics, read from a real database on both backends."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.domain.policy import Alias, Family
from rps.persistence.database import Database
from rps.persistence.strength_repository import StrengthRecord
from rps.persistence.tables import alias_predictions, games
from rps.settings import load_settings
from tests.conftest import ADMIN_TOKEN
from tests.integration.api.test_platform_api import metric_value
from tests.support.onnx_models import DictSource, fetched

VERSIONS = {Alias.PRODUCTION: "21", Alias.B: "22", Alias.SHADOW1: "23", Alias.SHADOW2: "24"}
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OLD_LAYER = "0123456789ab"  # the digest of a decision layer this app does not play
_ids = itertools.count()


def app_on(database: Database, tmp_path: Path, *, serve: bool) -> Container:
    """The app's container on ``database``; with ``serve``, a constant model behind every
    family@alias (the VERSIONS above), else every alias on fallback."""
    settings = load_settings(
        DATA_PATH=tmp_path / "data", DATABASE_URL=database.url, RPS_ADMIN_TOKEN=ADMIN_TOKEN
    )
    models = (
        {(f, a): fetched(version) for f in Family for a, version in VERSIONS.items()}
        if serve
        else {}
    )
    container = build_container(
        settings, rng=random.Random(3), model_sources=[DictSource("cache", models)]
    )
    container.models.reload()
    return container


@pytest.fixture
def served(database: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Container]]:
    container = app_on(database, tmp_path, serve=True)
    try:
        with TestClient(create_app(container=container)) as client:
            yield client, container
    finally:
        container.close()


@pytest.fixture
def unserved(database: Database, tmp_path: Path) -> Iterator[tuple[TestClient, Container]]:
    container = app_on(database, tmp_path, serve=False)
    try:
        with TestClient(create_app(container=container)) as client:
            yield client, container
    finally:
        container.close()


def strength(version: str, holdout: float, **overrides: object) -> StrengthRecord:
    """A gym row for xgboost ``version``: value-greedy 5 points and the model-free layer 2 points
    below ``holdout`` unless overridden."""
    record = StrengthRecord(
        model_type="xgboost",
        version=version,
        run_id=f"run-{version}",
        source="evaluate",
        games_per_opponent=20,
        seed=7,
        scoring_version=OLD_LAYER,
        holdout_win_rate=holdout,
        training_win_rate=holdout + 0.01,
        overall_win_rate=holdout + 0.005,
        holdout_margin=0.4,
        layer_holdout_win_rate=holdout - 0.02,
        greedy_holdout_win_rate=holdout - 0.05,
        gate_passed=True,
        evaluated_at=T0,
    )
    return replace(record, **overrides)  # type: ignore[arg-type]


def host_game(db: Database) -> str:
    """A game to hang alias predictions on (they reference one)."""
    game_id = f"strength-game-{next(_ids):06d}"
    with db.write() as conn:
        conn.execute(
            insert(games),
            {
                "id": game_id,
                "session_id": "s",
                "player_name": "Ann",
                "policy": "forrest",
                "model_type": "xgboost",
                "bot_model_alias": "Production",
                "model_version": VERSIONS[Alias.PRODUCTION],
                "created_at": T0,
            },
        )
    return game_id


def counterfactuals(
    db: Database,
    alias: str,
    version: str,
    scoring_version: str | None,
    rounds: list[tuple[str, float | None]],
) -> None:
    """Prediction rows of xgboost ``version`` as ``alias``: (counterfactual result, margin)."""
    game_id = host_game(db)
    with db.write() as conn:
        conn.execute(
            insert(alias_predictions),
            [
                {
                    "game_id": game_id,
                    "step_no": 4 + i,
                    "model_type": "xgboost",
                    "alias": alias,
                    "model_version": version,
                    "predicted_move": "rock",
                    "probabilities": "[0.7, 0.2, 0.1]",
                    "correct": True,
                    "counterfactual_result": result,
                    "counterfactual_margin": margin,
                    "scoring_version": scoring_version,
                    "created_at": T0 + timedelta(minutes=i),
                }
                for i, (result, margin) in enumerate(rounds)
            ],
        )


def assign(container: Container, alias: Alias, version: str, hours: int = 0) -> None:
    container.lifecycle.record_assignment(
        model_type="xgboost",
        alias=alias.value,
        version=version,
        run_id=f"run-{version}",
        previous_version=None,
        assigned_by="test",
        assigned_at=T0 + timedelta(hours=hours),
    )


def aliases_of(summary: dict[str, object], family: str) -> dict[str, dict[str, object]]:
    found = next(f for f in summary["families"] if f["model_type"] == family)  # type: ignore[attr-defined, index]
    return {a["alias"]: a for a in found["aliases"]}


# -- GET /ops/summary ----------------------------------------------------------------------------


def test_ops_summary_shows_the_newest_gym_figures_of_each_served_version_and_flags_below_gate(
    served: tuple[TestClient, Container],
) -> None:
    client, container = served
    container.strength.add(strength("21", 0.5))  # superseded by the next evaluation
    container.strength.add(
        strength("21", 0.66, source="training", evaluated_at=T0 + timedelta(days=1))
    )
    container.strength.add(
        strength(
            "22",
            0.55,
            greedy_holdout_win_rate=0.61,
            gate_passed=False,
            below_gate=True,
            gate_reason="gym win rate 55.0% is 6.0 points below value-greedy's 61.0%",
        )
    )
    container.strength.add(strength("99", 0.9))  # no alias serves it
    container.strength.add(replace(strength("21", 0.7), model_type="feedforward_nn"))

    summary = client.get("/ops/summary").json()

    xgboost = aliases_of(summary, "xgboost")
    assert xgboost["Production"]["gym"] == {
        "holdout_win_rate": 0.66,
        "training_win_rate": pytest.approx(0.67),
        "holdout_margin": 0.4,
        "layer_holdout_win_rate": pytest.approx(0.64),
        "greedy_holdout_win_rate": pytest.approx(0.61),
        "gate_passed": True,
        "below_gate": False,
        "gate_reason": None,
        "games_per_opponent": 20,
        "scoring_version": OLD_LAYER,
        "evaluated_at": "2026-12-02T09:00:00Z",
        "source": "training",
    }
    b = xgboost["B"]["gym"]
    assert (b["holdout_win_rate"], b["greedy_holdout_win_rate"]) == (0.55, 0.61)
    assert (b["gate_passed"], b["below_gate"]) == (False, True)
    assert b["gate_reason"].startswith("gym win rate 55.0%")
    assert xgboost["shadow1"]["gym"] is None
    assert xgboost["shadow2"]["gym"] is None
    # Version 21 of another family is another model: its figures stay with its family.
    assert aliases_of(summary, "feedforward_nn")["Production"]["gym"]["holdout_win_rate"] == 0.7
    assert aliases_of(summary, "multinomial_logistic")["Production"]["gym"] is None


def test_ops_summary_counts_counterfactual_rounds_of_the_current_layer_only(
    served: tuple[TestClient, Container],
) -> None:
    client, container = served
    db, current = container.database, container.gameplay.scoring_version
    counterfactuals(db, "shadow1", "23", current, [("win", 0.5), ("lose", -0.2), ("win", 0.3)])
    counterfactuals(db, "shadow1", "23", current, [("draw", 0.0)])
    # None of these is shadow1's version 23 scored by this app's layer.
    counterfactuals(db, "shadow1", "23", OLD_LAYER, [("win", 9.0), ("win", 9.0)])
    counterfactuals(db, "shadow1", "23", None, [("win", 9.0)])
    counterfactuals(db, "shadow1", "19", current, [("lose", -9.0)])
    counterfactuals(db, "shadow2", "23", current, [("lose", -9.0)])

    summary = client.get("/ops/summary").json()

    assert summary["scoring_version"] == current
    xgboost = aliases_of(summary, "xgboost")
    shadow1 = xgboost["shadow1"]["counterfactual"]
    assert (shadow1["model_rounds"], shadow1["win_rate"]) == (4, 0.5)
    assert shadow1["mean_margin"] == pytest.approx(0.15)
    for alias in ("Production", "B", "shadow2"):
        assert xgboost[alias]["counterfactual"] == {
            "model_rounds": 0,
            "win_rate": None,
            "mean_margin": None,
        }


def test_ops_summary_without_served_versions_has_no_gym_or_counterfactual_figures(
    unserved: tuple[TestClient, Container],
) -> None:
    client, container = unserved
    container.strength.add(strength("21", 0.66))
    counterfactuals(
        container.database, "Production", "21", container.gameplay.scoring_version, [("win", 1.0)]
    )

    summary = client.get("/ops/summary").json()

    for family in summary["families"]:
        for alias in family["aliases"]:
            assert alias["gym"] is None
            assert alias["counterfactual"]["model_rounds"] == 0


# -- /metrics ------------------------------------------------------------------------------------


def test_gym_series_follow_the_version_each_alias_was_last_assigned(
    unserved: tuple[TestClient, Container],
) -> None:
    client, container = unserved
    assign(container, Alias.PRODUCTION, "21")
    assign(container, Alias.PRODUCTION, "22", hours=1)  # Production moved on to 22
    assign(container, Alias.B, "21", hours=1)
    assign(container, Alias.SHADOW1, "23", hours=1)  # never evaluated
    container.strength.add(strength("21", 0.7))
    container.strength.add(strength("22", 0.6, greedy_holdout_win_rate=0.64))

    text = client.get("/metrics").text

    def gym(alias: str, model: str = "xgboost") -> float:
        return metric_value(text, "rps_model_gym_win_rate", model=model, alias=alias)

    def baseline(alias: str, name: str) -> float:
        labels = {"model": "xgboost", "alias": alias, "baseline": name}
        return metric_value(text, "rps_model_gym_baseline_win_rate", **labels)

    assert gym("Production") == 0.6
    assert baseline("Production", "value-greedy") == 0.64
    assert baseline("Production", "model-free-layer") == pytest.approx(0.58)
    assert gym("B") == 0.7
    assert baseline("B", "value-greedy") == pytest.approx(0.65)
    # Unmeasured or unassigned: 0, never a missing series.
    assert gym("shadow1") == 0.0
    assert baseline("shadow1", "value-greedy") == 0.0
    assert gym("shadow2") == 0.0
    assert gym("Production", model="feedforward_nn") == 0.0


def test_counterfactual_margin_series_averages_the_assigned_versions_rows_of_the_current_layer(
    unserved: tuple[TestClient, Container],
) -> None:
    client, container = unserved
    db, current = container.database, container.gameplay.scoring_version
    assign(container, Alias.SHADOW1, "23")
    assign(container, Alias.SHADOW2, "24")
    counterfactuals(db, "shadow1", "23", current, [("win", 0.6), ("lose", -0.3), ("win", 0.9)])
    counterfactuals(db, "shadow1", "23", OLD_LAYER, [("lose", -5.0)])
    counterfactuals(db, "shadow1", "23", None, [("lose", -5.0)])
    counterfactuals(db, "shadow1", "22", current, [("lose", -5.0)])  # an earlier version
    counterfactuals(db, "shadow2", "24", OLD_LAYER, [("win", 5.0)])

    text = client.get("/metrics").text

    def margin(alias: str) -> float:
        return metric_value(text, "rps_model_counterfactual_margin", model="xgboost", alias=alias)

    assert margin("shadow1") == pytest.approx(0.4)
    assert margin("shadow2") == 0.0  # only rows of another layer
    assert margin("Production") == 0.0
