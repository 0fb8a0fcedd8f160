"""Alias-move history (``model_assignments``) and training sessions (``training_runs``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import desc, insert, select, update

from rps.persistence.database import Database
from rps.persistence.tables import model_assignments, training_runs, utcnow


class TrainingStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


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

    def start_training_run(self, trigger: str) -> int:
        with self._db.write() as conn:
            result = conn.execute(
                insert(training_runs).returning(training_runs.c.id),
                {
                    "started_at": utcnow(),
                    "status": TrainingStatus.RUNNING.value,
                    "trigger": trigger,
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
        dataset_fingerprint: str | None = None,
        details: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self._db.write() as conn:
            conn.execute(
                update(training_runs)
                .where(training_runs.c.id == run_id)
                .values(
                    finished_at=utcnow(),
                    status=status.value,
                    rows_used=rows_used,
                    models_trained=models_trained,
                    models_registered=models_registered,
                    dataset_fingerprint=dataset_fingerprint,
                    details=json.dumps(details or {}, default=str),
                    error=error,
                )
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
    )
