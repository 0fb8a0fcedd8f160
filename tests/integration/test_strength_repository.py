"""`model_strength` through StrengthRepository (SPEC §4.1, §5), on SQLite and PostgreSQL: the
newest figures of each registered version, and the whole report kept with them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from rps.persistence.database import Database
from rps.persistence.strength_repository import StrengthRecord, StrengthRepository

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
FIGURES = {
    "overall": {"games": 40, "wins": 31, "win_rate": 0.775, "low": 0.62, "high": 0.88},
    "groups": {"naive": {"training": {"win_rate": 0.9}, "holdout": {"win_rate": 0.5}}},
    "worst": {"overall": {"opponent": "random", "win_rate": 0.25}, "holdout": None},
    "paired": {"value-greedy": {"overall": {"difference": 0.125, "low": -0.05, "high": 0.3}}},
    "versions": ["7"],
}


def record(model_type: str, version: str | None, minutes: int, **changes: Any) -> StrengthRecord:
    base = StrengthRecord(
        model_type=model_type,
        version=version,
        run_id=f"run-{model_type}-{version}-{minutes}",
        source="training",
        games_per_opponent=20,
        seed=20261207,
        scoring_version="6a3c1c91a419",
        holdout_win_rate=0.5 + minutes / 1000,
        training_win_rate=0.75,
        overall_win_rate=0.7,
        holdout_margin=0.12,
        layer_holdout_win_rate=0.48,
        greedy_holdout_win_rate=0.41,
        gate_passed=True,
        below_gate=False,
        gate_reason="accepted: test accuracy 0.612 > 0.353",
        figures=FIGURES,
        evaluated_at=T0 + timedelta(minutes=minutes),
    )
    return replace(base, **changes)


def test_latest_is_the_newest_row_of_each_version_and_ignores_unregistered_candidates(
    database: Database,
) -> None:
    repo = StrengthRepository(database)
    repo.add(record("xgboost", "1", 0))
    repo.add(record("xgboost", "2", 1))
    repo.add(record("xgboost", "1", 2, source="evaluate", gate_passed=None))
    repo.add(record("multinomial_logistic", "1", 3))
    # A refused candidate of the same family, measured last: never a version's figures.
    repo.add(record("xgboost", None, 4, gate_passed=False, gate_reason="rejected: ..."))

    latest = repo.latest()

    assert set(latest) == {("xgboost", "1"), ("xgboost", "2"), ("multinomial_logistic", "1")}
    newest = latest[("xgboost", "1")]
    assert newest.run_id == "run-xgboost-1-2"
    assert newest.source == "evaluate"
    assert newest.gate_passed is None
    assert newest.evaluated_at == T0 + timedelta(minutes=2)
    assert latest[("xgboost", "2")].run_id == "run-xgboost-2-1"


def test_latest_returns_only_the_versions_asked_for(database: Database) -> None:
    repo = StrengthRepository(database)
    repo.add(record("xgboost", "1", 0))
    repo.add(record("xgboost", "2", 1))
    repo.add(record("multinomial_logistic", "1", 2))
    repo.add(record("feedforward_nn", "2", 3))

    asked = repo.latest([("xgboost", "2"), ("multinomial_logistic", "1"), ("xgboost", "9")])

    assert set(asked) == {("xgboost", "2"), ("multinomial_logistic", "1")}
    # The family matters, not just the version number.
    assert repo.latest([("multinomial_logistic", "2")]) == {}
    assert repo.latest([]) == {}


def test_a_row_round_trips_with_its_figures_and_without_them_when_not_asked(
    database: Database,
) -> None:
    repo = StrengthRepository(database)
    written = record(
        "feedforward_nn",
        "4",
        5,
        gate_passed=False,
        below_gate=True,
        gate_reason="registered below the gate (no candidate passed): rejected: ...",
        holdout_margin=None,
        greedy_holdout_win_rate=None,
    )
    repo.add(written)

    [(key, read)] = repo.latest(with_figures=True).items()
    assert key == ("feedforward_nn", "4")
    assert read == written
    assert read.gate_passed is False
    assert read.below_gate is True
    assert read.evaluated_at is not None
    assert read.evaluated_at.tzinfo is not None
    lean = repo.latest()[key]
    assert lean.figures == {}
    assert replace(lean, figures=FIGURES) == written
