"""The training series of SPEC §8 are true counters over all of history: counted in the database
from ``training_runs`` (sessions, ``model_type="all"``) and ``training_outcomes`` (each model),
never a window of the newest sessions; a model the gate refused is ``rejected``, one that raised
is ``failed``. Sessions are inserted directly where only their number matters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from rps.bootstrap import Container
from rps.domain.policy import Family
from rps.observability.metrics import TRAINING_BUCKETS
from rps.persistence.database import Database
from rps.persistence.lifecycle_repository import LifecycleRepository, TrainingStatus
from rps.persistence.tables import training_outcomes, training_runs
from rps.settings import PACKAGED_TRAINING_CONFIG
from rps.training.configs import PlannedModel, load_config, plan
from rps.training.dataset import Dataset, dataset_from_games
from rps.training.runner import ModelOutcome
from rps.training.scheduling import Trigger, train_session

T0 = datetime(2026, 9, 1, tzinfo=UTC)
PLANNED = plan(load_config(PACKAGED_TRAINING_CONFIG))
XGB, NN = Family.XGBOOST.value, Family.FEEDFORWARD_NN.value


def insert_sessions(
    db: Database,
    status: str,
    n: int,
    *,
    duration_s: float | None = 60.0,
    models: Sequence[tuple[str, str]] = (),
) -> None:
    """``n`` finished sessions of one status, each with one outcome row per (family, status)."""
    start = T0 + timedelta(hours=_count(db))
    runs = [
        {
            "started_at": start + timedelta(hours=i),
            "finished_at": start + timedelta(hours=i, seconds=duration_s or 0),
            "status": status,
            "trigger": "scheduled",
            "duration_s": duration_s,
        }
        for i in range(n)
    ]
    with db.write() as conn:
        ids = conn.execute(
            sa.insert(training_runs).returning(training_runs.c.id, sort_by_parameter_order=True),
            runs,
        ).scalars()
        outcomes = [
            {
                "training_run_id": run_id,
                "model_type": family,
                "model_key": f"{family}/cfg",
                "status": model_status,
                "created_at": T0,
            }
            for run_id in ids
            for family, model_status in models
        ]
        if outcomes:
            conn.execute(sa.insert(training_outcomes), outcomes)


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(training_runs)).scalar_one())


class MixedRunner:
    """Trains nothing; the planned models' fates in order: ``registered``, ``below_gate``
    (registered although refused), ``refused`` or ``raised``."""

    def __init__(self, fates: Sequence[str]) -> None:
        self._fates = fates

    def run(
        self,
        dataset: Dataset,
        planned: Sequence[PlannedModel],
        **options: Any,  # warm starts, placement: nothing to place when nothing is trained
    ) -> list[ModelOutcome]:
        outcomes = []
        for i, (item, fate) in enumerate(zip(planned, self._fates, strict=True), start=1):
            outcome = ModelOutcome(item, run_id=f"run-{i}", seconds=float(i))
            if fate == "registered":
                outcome.version, outcome.accepted = str(i), True
            elif fate == "below_gate":
                outcome.version, outcome.below_gate = str(i), True
            elif fate == "raised":
                outcome.error = "RuntimeError: out of memory"
            outcomes.append(outcome)
        return outcomes


def session(db: Database, planned: Sequence[PlannedModel], fates: Sequence[str]) -> Any:
    return train_session(
        trigger=Trigger.MANUAL,
        load_dataset=lambda: dataset_from_games([]),
        runner=MixedRunner(fates),  # type: ignore[arg-type]  # the runner's one method, faked
        lifecycle=LifecycleRepository(db),
        planned=list(planned),
    )


def test_session_counts_cover_every_session_not_the_newest_500(database: Database) -> None:
    insert_sessions(database, "succeeded", 400, models=[(XGB, "succeeded"), (NN, "rejected")])
    insert_sessions(database, "skipped", 100, duration_s=0.5)
    insert_sessions(database, "failed", 60, models=[(XGB, "failed")])
    insert_sessions(database, "rejected", 40, models=[(XGB, "rejected"), (NN, "rejected")])
    lifecycle = LifecycleRepository(database)
    lifecycle.start_training_run("scheduled")  # running: not counted until it finishes

    before = lifecycle.training_completed_counts()
    assert before == {
        ("all", "succeeded"): 400,
        ("all", "skipped"): 100,
        ("all", "failed"): 60,
        ("all", "rejected"): 40,
        (XGB, "succeeded"): 400,
        (XGB, "failed"): 60,
        (XGB, "rejected"): 40,
        (NN, "rejected"): 440,
    }

    insert_sessions(database, "failed", 30, models=[(NN, "failed")])
    after = lifecycle.training_completed_counts()
    assert after[("all", "failed")] == 90
    assert after[(NN, "failed")] == 30
    assert all(after.get(key, 0) >= value for key, value in before.items())


def test_refused_models_are_rejected_and_models_that_raised_failed(database: Database) -> None:
    xgb = [p for p in PLANNED if p.family is Family.XGBOOST][:2]
    nn = [p for p in PLANNED if p.family is Family.FEEDFORWARD_NN][:2]
    mixed = session(database, [*xgb, *nn], ["registered", "refused", "below_gate", "raised"])
    refused = session(database, xgb, ["refused", "refused"])
    fine = session(database, nn, ["refused", "registered"])
    lifecycle = LifecycleRepository(database)

    assert (mixed.status, refused.status, fine.status) == (
        TrainingStatus.FAILED,
        TrainingStatus.REJECTED,
        TrainingStatus.SUCCEEDED,
    )
    assert not refused.failed
    assert refused.rejected
    assert lifecycle.training_completed_counts() == {
        ("all", "failed"): 1,
        ("all", "rejected"): 1,
        ("all", "succeeded"): 1,
        (XGB, "succeeded"): 1,
        (XGB, "rejected"): 3,
        (NN, "succeeded"): 2,  # a below_gate registration counts as succeeded
        (NN, "failed"): 1,
        (NN, "rejected"): 1,
    }
    runs = {run.id: run for run in lifecycle.training_runs()}
    assert [runs[s.training_run_id].models_rejected for s in (mixed, refused, fine)] == [1, 2, 1]
    assert all(run.duration_s is not None and run.duration_s >= 0 for run in runs.values())
    with database.read() as conn:
        rows = conn.execute(
            sa.select(
                training_outcomes.c.model_key,
                training_outcomes.c.status,
                training_outcomes.c.version,
                training_outcomes.c.duration_s,
            )
            .where(training_outcomes.c.training_run_id == mixed.training_run_id)
            .order_by(training_outcomes.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (xgb[0].key, "succeeded", "1", 1.0),
        (xgb[1].key, "rejected", None, 2.0),
        (nn[0].key, "succeeded", "3", 3.0),
        (nn[1].key, "failed", None, 4.0),
    ]


def test_duration_buckets_are_counted_in_the_database_over_sessions_that_trained(
    database: Database,
) -> None:
    for status, seconds in [
        ("succeeded", 5.0),
        ("succeeded", 45.0),
        ("failed", 45.0),
        ("rejected", 700.0),
        ("succeeded", 4000.0),
        ("skipped", 20.0),  # did not train
    ]:
        insert_sessions(database, status, 1, duration_s=seconds)
    insert_sessions(database, "failed", 1, duration_s=None)  # no duration known

    counted = LifecycleRepository(database).training_duration_counts(TRAINING_BUCKETS)

    assert counted.bounds == TRAINING_BUCKETS
    expected = {10.0: 1, 30.0: 1, 60.0: 3, 120.0: 3, 300.0: 3, 600.0: 3, 1200.0: 4}
    expected |= {1800.0: 4, 3600.0: 4}
    assert dict(zip(counted.bounds, counted.cumulative, strict=True)) == expected
    assert (counted.count, counted.sum_s) == (5, pytest.approx(4795.0))


# -- /metrics ------------------------------------------------------------------------------------


def training_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("rps_training_"):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
def scrape(container: Container, client: TestClient) -> Any:
    def read() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        container.metrics.lifecycle.refresh()  # type: ignore[union-attr]  # the app set it
        return training_samples(client.get("/metrics").text)

    return read


def completed(samples: dict[Any, float], model_type: str, status: str) -> float:
    key = (
        "rps_training_completed_total",
        (("model_type", model_type), ("status", status)),
    )
    return samples[key]


def test_training_counters_in_metrics_keep_growing_past_500_sessions(
    container: Container, scrape: Any
) -> None:
    db = container.database
    insert_sessions(db, "succeeded", 520, duration_s=90.0, models=[(XGB, "succeeded")])
    insert_sessions(db, "failed", 3, duration_s=30.0, models=[(XGB, "failed")])
    first = scrape()
    assert completed(first, "all", "succeeded") == 520
    assert completed(first, "all", "failed") == 3
    assert completed(first, XGB, "succeeded") == 520
    assert first[("rps_training_duration_seconds_count", ())] == 523
    assert first[("rps_training_duration_seconds_bucket", (("le", "30.0"),))] == 3
    assert first[("rps_training_duration_seconds_bucket", (("le", "120.0"),))] == 523

    # A month of hourly sessions later: the newest 500 hold no failure, the counter still does.
    insert_sessions(db, "succeeded", 500, duration_s=90.0, models=[(XGB, "succeeded")])
    insert_sessions(db, "rejected", 2, duration_s=90.0, models=[(XGB, "rejected")])
    insert_sessions(db, "failed", 1, duration_s=30.0, models=[(NN, "failed")])
    second = scrape()

    assert completed(second, "all", "failed") == 4
    assert completed(second, "all", "rejected") == 2
    assert completed(second, XGB, "rejected") == 2
    assert completed(second, NN, "failed") == 1
    assert completed(second, "all", "succeeded") == 1020
    fell = {key: (value, second[key]) for key, value in first.items() if second[key] < value}
    assert not fell, f"counters fell between two scrapes: {fell}"
