"""The A/B evidence promotion decides on (SPEC §7), on SQLite and on a real PostgreSQL: each
version's finished games — completed and abandoned alike — with at least one model round, of the
counted game sources, per source; and the sample-ratio-mismatch figures of the split.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from rps.domain.policy import Alias, Family
from rps.domain.promotion import sample_ratio_mismatch_p
from rps.persistence.database import Database
from rps.persistence.promotion_repository import PromotionRepository
from rps.persistence.tables import games, rounds
from rps.services.ab_evidence import ab_window_start, sample_ratio
from tests.support.rows import round_row

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
XGB = Family.XGBOOST.value
P, B = Alias.PRODUCTION, Alias.B
VERSION = {P: "3", B: "4"}
_ids = itertools.count()


def store_game(
    db: Database,
    alias: Alias,
    winner: str | None,
    *,
    reason: str | None = None,
    source: str = "human",
    decided_by: tuple[tuple[str, str | None], ...] = (("model", None),),
    created_at: datetime = T0,
    is_test: bool = False,
) -> str:
    """An XGBoost game of ``alias`` at its version: three opening rounds, then one round per
    ``(decision_source, model_version)`` (None: the game's version)."""
    game_id = f"ab-{next(_ids):06d}"
    version = VERSION[alias]
    played = [("opening", None)] * 3 + [(s, v or version) for s, v in decided_by]
    with db.write() as conn:
        conn.execute(
            insert(games),
            {
                "id": game_id,
                "session_id": "s",
                "player_name": "Ann",
                "policy": "forrest",
                "model_type": XGB,
                "bot_model_alias": alias.value,
                "model_version": version,
                "is_test": is_test,
                "user_score": 10.0 if winner == "user" else 4.0,
                "bot_score": 10.0 if winner == "bot" else 4.0,
                "winner": winner,
                "created_at": created_at,
                "finished_at": created_at + timedelta(minutes=40) if winner else None,
                "finished_reason": (reason or "completed") if winner else None,
                "source": source,
                "rounds_played": len(played),
            },
        )
        for step, (decision_source, model_version) in enumerate(played, 1):
            conn.execute(
                insert(rounds),
                round_row(
                    game_id,
                    step,
                    decision_source=decision_source,
                    model_alias=alias.value if decision_source == "model" else None,
                    model_version=model_version if decision_source != "opening" else None,
                    created_at=created_at + timedelta(seconds=step),
                ),
            )
    return game_id


def test_a_versions_games_count_completed_and_abandoned_games_with_a_model_round(
    database: Database,
) -> None:
    store_game(database, P, "bot")
    # Walked away from while the bot was behind: still a game the bot did not win.
    store_game(database, P, "user", reason="abandoned")
    store_game(database, P, "tie", reason="abandoned", source="persona")
    store_game(database, P, "bot", source="simulated")
    # Not evidence: no model round, a round by another version, a test game, an open game,
    # a game before the window, another alias's game.
    store_game(database, P, "bot", decided_by=())
    store_game(database, P, "bot", decided_by=(("model", None), ("model", "9")))
    store_game(database, P, "bot", is_test=True)
    store_game(database, P, None)
    store_game(database, P, "bot", created_at=T0 - timedelta(days=1))
    store_game(database, B, "bot")
    repo = PromotionRepository(database)

    counted = repo.version_games(XGB, P.value, VERSION[P], T0)

    assert (counted.games, counted.bot_wins, counted.user_wins) == (4, 2, 1)
    assert counted.by_source == {"human": (2, 1), "persona": (1, 0), "simulated": (1, 1)}


def test_a_versions_games_are_restricted_to_the_counted_sources(database: Database) -> None:
    store_game(database, P, "bot")
    store_game(database, P, "user", reason="abandoned")
    store_game(database, P, "bot", source="simulated")
    store_game(database, P, "bot", reason="abandoned", source="persona")
    repo = PromotionRepository(database)

    humans = repo.version_games(XGB, P.value, VERSION[P], None, sources=["human"])
    assert (humans.games, humans.bot_wins, humans.by_source) == (2, 1, {"human": (2, 1)})
    scripted = repo.version_games(XGB, P.value, VERSION[P], None, sources=("persona", "simulated"))
    assert (scripted.games, scripted.bot_wins) == (2, 2)
    assert scripted.by_source == {"persona": (1, 1), "simulated": (1, 1)}
    nothing = repo.version_games(XGB, P.value, VERSION[P], None, sources=[])
    assert (nothing.games, nothing.by_source) == (0, {})


def test_assignment_counts_take_every_started_game_of_the_counted_sources(
    database: Database,
) -> None:
    store_game(database, P, "bot")
    store_game(database, P, None)  # started, not finished: assigned all the same
    store_game(database, P, "bot", decided_by=())  # assignment happens at the start
    store_game(database, B, "user", reason="abandoned")
    store_game(database, B, None, source="simulated")
    store_game(database, B, "bot", is_test=True)
    repo = PromotionRepository(database)

    assert repo.assignment_counts(XGB, None) == {"Production": 3, "B": 2}
    assert repo.assignment_counts(XGB, None, sources=["human"]) == {"Production": 3, "B": 1}
    assert repo.assignment_counts(XGB, None, sources=["simulated"]) == {"B": 1}


def test_the_sample_ratio_figures_compare_the_observed_split_with_the_configured_one(
    database: Database,
) -> None:
    for _ in range(6):
        store_game(database, P, "bot")
    for _ in range(2):
        store_game(database, B, None)
    store_game(database, B, "bot", source="simulated")
    store_game(database, B, "bot", created_at=T0 - timedelta(hours=1))  # before the window
    repo = PromotionRepository(database)

    figures = sample_ratio(repo, Family.XGBOOST, T0, 0.7, ["human", "persona"])

    assert figures == {
        "enabled": True,
        "since": T0.isoformat(),
        "production_games": 6,
        "b_games": 2,
        "expected_b_share": pytest.approx(0.3),
        "observed_b_share": 0.25,
        "p_value": pytest.approx(sample_ratio_mismatch_p(2, 8, 0.3)),
    }
    everything = sample_ratio(repo, Family.XGBOOST, None, 0.5, ["human", "simulated"])
    assert (everything["production_games"], everything["b_games"]) == (6, 4)
    assert everything["p_value"] == pytest.approx(sample_ratio_mismatch_p(4, 10, 0.5))


def test_with_ab_testing_off_the_split_is_shown_but_not_tested(database: Database) -> None:
    store_game(database, P, "bot")
    store_game(database, B, "bot")

    figures = sample_ratio(PromotionRepository(database), Family.XGBOOST, None, None, ["human"])

    assert figures["enabled"] is False
    assert figures["p_value"] is None
    assert (figures["production_games"], figures["b_games"]) == (1, 1)
    assert figures["expected_b_share"] == 0.0


def test_the_ab_window_opens_when_the_later_of_production_and_b_took_its_version() -> None:
    later = T0 + timedelta(days=2)
    assert ab_window_start({P: T0, B: later, Alias.SHADOW1: later + timedelta(days=1)}) == later
    assert ab_window_start({P: T0, B: None}) == T0
    assert ab_window_start({P: None, B: None}) is None
    assert ab_window_start({}) is None
