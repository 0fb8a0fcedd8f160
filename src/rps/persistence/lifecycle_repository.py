"""Alias-move history (``model_assignments``), training sessions (``training_runs``) and what
became of each model they trained (``training_outcomes``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import case, desc, func, insert, select, update
from sqlalchemy.engine import Connection

from rps.persistence.database import Database
from rps.persistence.tables import (
    games,
    model_assignments,
    rounds,
    training_outcomes,
    training_runs,
    utcnow,
)
from rps.persistence.training_queries import training_game_conditions


class TrainingStatus(StrEnum):
    """A training session's status (SPEC §10); a trained model's is one of succeeded, rejected
    (refused by the gate) or failed (it raised)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    REJECTED = "rejected"  # models were trained and the gate refused every one


# Sessions that trained on the data they saw, so their watermark holds: a session whose every
# model the gate refused consumed its data as much as one that registered, and retraining the
# same rounds would only be refused again. Failed and skipped sessions leave no watermark.
WATERMARK_STATUSES: frozenset[TrainingStatus] = frozenset(
    {TrainingStatus.SUCCEEDED, TrainingStatus.REJECTED}
)
FINISHED_STATUSES: tuple[TrainingStatus, ...] = (
    TrainingStatus.SUCCEEDED,
    TrainingStatus.FAILED,
    TrainingStatus.SKIPPED,
    TrainingStatus.REJECTED,
)


@dataclass(frozen=True, slots=True)
class Assignment:
    model_type: str
    alias: str
    version: str
    run_id: str | None
    previous_version: str | None
    assigned_at: datetime
    assigned_by: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class TrainingRun:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: TrainingStatus
    trigger: str
    rows_used: int | None
    models_trained: int
    models_registered: int
    dataset_fingerprint: str | None
    details: dict[str, Any]
    error: str | None
    models_rejected: int = 0
    duration_s: float | None = None
    watermark_round_id: int | None = None  # the newest round it saw, if it trained
    watermark_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    """One model a session trained: ``status`` succeeded (registered, ``below_gate`` included),
    rejected (refused by the gate) or failed (it raised); ``version`` if registered."""

    model_type: str
    model_key: str
    status: TrainingStatus
    version: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class DurationCounts:
    """A histogram counted by the database: ``cumulative[i]`` sessions took at most
    ``bounds[i]`` seconds; ``count`` and ``sum_s`` over every one."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    sum_s: float


class LifecycleRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- model assignments ---------------------------------------------------------------------

    def record_assignment(
        self,
        *,
        model_type: str,
        alias: str,
        version: str,
        run_id: str | None,
        previous_version: str | None,
        assigned_by: str,
        reason: str | None = None,
        assigned_at: datetime | None = None,
    ) -> None:
        with self._db.write() as conn:
            conn.execute(
                insert(model_assignments),
                {
                    "model_type": model_type,
                    "alias": alias,
                    "version": version,
                    "run_id": run_id,
                    "previous_version": previous_version,
                    "assigned_at": assigned_at or utcnow(),
                    "assigned_by": assigned_by,
                    "reason": reason,
                },
            )

    def assignments(
        self, model_type: str | None = None, alias: str | None = None, limit: int = 100
    ) -> list[Assignment]:
        """Alias moves, newest first."""
        query = select(model_assignments).order_by(
            desc(model_assignments.c.assigned_at), desc(model_assignments.c.id)
        )
        if model_type:
            query = query.where(model_assignments.c.model_type == model_type)
        if alias:
            query = query.where(model_assignments.c.alias == alias)
        with self._db.read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [
            Assignment(
                model_type=r.model_type,
                alias=r.alias,
                version=r.version,
                run_id=r.run_id,
                previous_version=r.previous_version,
                assigned_at=r.assigned_at,
                assigned_by=r.assigned_by,
                reason=r.reason,
            )
            for r in rows
        ]

    # -- training runs -------------------------------------------------------------------------

    def start_training_run(self, trigger: str, *, since: datetime | None = None) -> int:
        """A running session. It notes the newest round stored now among those training may
        use (games created at/after ``since``, no test games): the session's watermark, which
        it keeps only if it trains (see :data:`WATERMARK_STATUSES`). Read before the dataset,
        so a round stored meanwhile counts as new next time rather than never."""
        with self._db.write() as conn:
            newest = _newest_training_round(conn, since)
            result = conn.execute(
                insert(training_runs).returning(training_runs.c.id),
                {
                    "started_at": utcnow(),
                    "status": TrainingStatus.RUNNING.value,
                    "trigger": trigger,
                    "watermark_round_id": newest[0] if newest else None,
                    "watermark_at": newest[1] if newest else None,
                },
            )
            run_id: int = result.scalar_one()
        return run_id

    def finish_training_run(
        self,
        run_id: int,
        status: TrainingStatus,
        *,
        rows_used: int | None = None,
        models_trained: int = 0,
        models_registered: int = 0,
        models_rejected: int = 0,
        dataset_fingerprint: str | None = None,
        details: dict[str, Any] | None = None,
        error: str | None = None,
        outcomes: Sequence[TrainingOutcome] = (),
    ) -> None:
        """Close the session: its row (duration from ``started_at``; the watermark kept only
        for a session that trained) and one ``training_outcomes`` row per model, together."""
        if status is TrainingStatus.RUNNING:
            raise ValueError("a finished training session cannot be running")
        finished_at = utcnow()
        keeps_watermark = status in WATERMARK_STATUSES
        with self._db.write() as conn:
            started_at = conn.execute(
                select(training_runs.c.started_at).where(training_runs.c.id == run_id)
            ).scalar_one()
            values: dict[str, Any] = {
                "finished_at": finished_at,
                "status": status.value,
                "rows_used": rows_used,
                "models_trained": models_trained,
                "models_registered": models_registered,
                "models_rejected": models_rejected,
                "dataset_fingerprint": dataset_fingerprint,
                "details": json.dumps(details or {}, default=str),
                "error": error,
                "duration_s": max(0.0, (finished_at - started_at).total_seconds()),
            }
            if not keeps_watermark:
                values |= {"watermark_round_id": None, "watermark_at": None}
            conn.execute(update(training_runs).where(training_runs.c.id == run_id).values(values))
            if outcomes:
                conn.execute(
                    insert(training_outcomes),
                    [
                        {
                            "training_run_id": run_id,
                            "model_type": o.model_type,
                            "model_key": o.model_key,
                            "status": o.status.value,
                            "version": o.version,
                            "duration_s": o.duration_s,
                            "created_at": finished_at,
                        }
                        for o in outcomes
                    ],
                )

    def training_runs(self, limit: int = 20) -> list[TrainingRun]:
        """Training sessions, newest first."""
        query = (
            select(training_runs)
            .order_by(desc(training_runs.c.started_at), desc(training_runs.c.id))
            .limit(limit)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [_training_run(r) for r in rows]

    def last_successful_training(self) -> TrainingRun | None:
        query = (
            select(training_runs)
            .where(training_runs.c.status == TrainingStatus.SUCCEEDED.value)
            .order_by(desc(training_runs.c.started_at), desc(training_runs.c.id))
            .limit(1)
        )
        with self._db.read() as conn:
            row = conn.execute(query).first()
        return _training_run(row) if row else None

    def last_watermark(self) -> int | None:
        """The watermark (a round id) of the newest session that trained; None when no session
        trained yet or the newest has none — then every stored round is new."""
        query = (
            select(training_runs.c.watermark_round_id)
            .where(training_runs.c.status.in_([s.value for s in WATERMARK_STATUSES]))
            .order_by(desc(training_runs.c.started_at), desc(training_runs.c.id))
            .limit(1)
        )
        with self._db.read() as conn:
            found: int | None = conn.execute(query).scalar()
        return found

    def labelled_rounds_after(
        self, round_id: int | None, *, since: datetime | None, min_label_step: int
    ) -> int:
        """Labelled rounds (``step_no >= min_label_step``) training may use (as
        :meth:`start_training_run` says) with an id above ``round_id`` (None: all of them).

        Counted in the database before any downsampling or row cap, so it only grows as rounds
        are stored: a dataset that shrinks cannot hide new rounds.
        """
        query = (
            select(func.count())
            .select_from(rounds.join(games, rounds.c.game_id == games.c.id))
            .where(*training_game_conditions(since), rounds.c.step_no >= min_label_step)
        )
        if round_id is not None:
            query = query.where(rounds.c.id > round_id)
        with self._db.read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- training counters (SPEC §8): counts over all of history ------------------------------

    def training_completed_counts(self) -> dict[tuple[str, str], int]:
        """(model_type, status) → how many: ``("all", status)`` counts finished sessions,
        ``(family, status)`` the models they trained. Counts of every row ever written, so they
        never fall while rows are only added."""
        sessions = (
            select(training_runs.c.status, func.count())
            .where(training_runs.c.status.in_([s.value for s in FINISHED_STATUSES]))
            .group_by(training_runs.c.status)
        )
        models = select(
            training_outcomes.c.model_type, training_outcomes.c.status, func.count()
        ).group_by(training_outcomes.c.model_type, training_outcomes.c.status)
        with self._db.read() as conn:
            counts = {("all", status): int(n) for status, n in conn.execute(sessions).all()}
            for model_type, status, n in conn.execute(models).all():
                counts[(model_type, status)] = int(n)
        return counts

    def training_duration_counts(self, bounds: Sequence[float]) -> DurationCounts:
        """The durations of the sessions that trained (succeeded, rejected or failed; skipped
        ones did not train) as histogram counts per upper bound, counted in one query."""
        duration = training_runs.c.duration_s
        trained = [s.value for s in FINISHED_STATUSES if s is not TrainingStatus.SKIPPED]
        query = select(
            func.count(duration),
            func.coalesce(func.sum(duration), 0.0),
            *(func.coalesce(func.sum(case((duration <= b, 1), else_=0)), 0) for b in bounds),
        ).where(training_runs.c.status.in_(trained), duration.is_not(None))
        with self._db.read() as conn:
            row = conn.execute(query).one()
        return DurationCounts(
            bounds=tuple(float(b) for b in bounds),
            cumulative=tuple(int(n) for n in row[2:]),
            count=int(row[0]),
            sum_s=float(row[1]),
        )


def _newest_training_round(conn: Connection, since: datetime | None) -> tuple[int, datetime] | None:
    """The id and time of the newest round of a game training may use."""
    newest = (
        select(func.max(rounds.c.id))
        .select_from(rounds.join(games, rounds.c.game_id == games.c.id))
        .where(*training_game_conditions(since))
        .scalar_subquery()
    )
    row = conn.execute(
        select(rounds.c.id, rounds.c.created_at).where(rounds.c.id == newest)
    ).first()
    return (int(row.id), row.created_at) if row else None


def _training_run(row: Any) -> TrainingRun:
    return TrainingRun(
        id=row.id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=TrainingStatus(row.status),
        trigger=row.trigger,
        rows_used=row.rows_used,
        models_trained=row.models_trained,
        models_registered=row.models_registered,
        dataset_fingerprint=row.dataset_fingerprint,
        details=json.loads(row.details) if row.details else {},
        error=row.error,
        models_rejected=row.models_rejected,
        duration_s=row.duration_s,
        watermark_round_id=row.watermark_round_id,
        watermark_at=row.watermark_at,
    )
