"""Offline gym strength per version (``model_strength``): written by training for every
candidate and by ``rps evaluate --persist``; read by /ops, the metrics and promotion."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select

from rps.persistence.database import Database
from rps.persistence.tables import model_strength, utcnow


@dataclass(frozen=True, slots=True)
class StrengthRecord:
    """One version's gym figures (win rates are shares, 0–1; margins are points per round)."""

    model_type: str
    version: str | None
    run_id: str | None
    source: str  # training | evaluate
    games_per_opponent: int
    seed: int
    scoring_version: str
    holdout_win_rate: float | None
    training_win_rate: float | None
    overall_win_rate: float | None
    holdout_margin: float | None
    layer_holdout_win_rate: float | None
    greedy_holdout_win_rate: float | None
    gate_passed: bool | None = None
    below_gate: bool = False
    gate_reason: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    evaluated_at: datetime | None = None


def _record(row: Any) -> StrengthRecord:
    return StrengthRecord(
        model_type=row.model_type,
        version=row.version,
        run_id=row.run_id,
        source=row.source,
        games_per_opponent=row.games_per_opponent,
        seed=row.seed,
        scoring_version=row.scoring_version,
        holdout_win_rate=row.holdout_win_rate,
        training_win_rate=row.training_win_rate,
        overall_win_rate=row.overall_win_rate,
        holdout_margin=row.holdout_margin,
        layer_holdout_win_rate=row.layer_holdout_win_rate,
        greedy_holdout_win_rate=row.greedy_holdout_win_rate,
        gate_passed=None if row.gate_passed is None else bool(row.gate_passed),
        below_gate=bool(row.below_gate),
        gate_reason=row.gate_reason,
        figures=json.loads(row.figures) if row.figures else {},
        evaluated_at=row.evaluated_at,
    )


class StrengthRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, record: StrengthRecord) -> None:
        with self._db.write() as conn:
            conn.execute(
                insert(model_strength),
                {
                    "model_type": record.model_type,
                    "version": record.version,
                    "run_id": record.run_id,
                    "evaluated_at": record.evaluated_at or utcnow(),
                    "source": record.source,
                    "games_per_opponent": record.games_per_opponent,
                    "seed": record.seed,
                    "scoring_version": record.scoring_version,
                    "holdout_win_rate": record.holdout_win_rate,
                    "training_win_rate": record.training_win_rate,
                    "overall_win_rate": record.overall_win_rate,
                    "holdout_margin": record.holdout_margin,
                    "layer_holdout_win_rate": record.layer_holdout_win_rate,
                    "greedy_holdout_win_rate": record.greedy_holdout_win_rate,
                    "gate_passed": record.gate_passed,
                    "below_gate": record.below_gate,
                    "gate_reason": record.gate_reason,
                    "figures": json.dumps(record.figures, separators=(",", ":")),
                },
            )

    def latest(
        self, versions: Iterable[tuple[str, str]] | None = None, *, with_figures: bool = False
    ) -> dict[tuple[str, str], StrengthRecord]:
        """The newest row of each (model_type, version), of ``versions`` when given."""
        wanted = set(versions) if versions is not None else None
        newest = (
            select(
                model_strength.c.model_type,
                model_strength.c.version,
                func.max(model_strength.c.id).label("id"),
            )
            .where(model_strength.c.version.is_not(None))
            .group_by(model_strength.c.model_type, model_strength.c.version)
            .subquery()
        )
        columns = [c for c in model_strength.c if with_figures or c.name != "figures"]
        query = select(*columns).join(
            newest,
            and_(
                model_strength.c.id == newest.c.id,
            ),
        )
        if wanted is not None:
            families = sorted({f for f, _ in wanted})
            query = query.where(model_strength.c.model_type.in_(families))
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        found: dict[tuple[str, str], StrengthRecord] = {}
        for row in rows:
            key = (row.model_type, row.version)
            if wanted is not None and key not in wanted:
                continue
            found[key] = _record(row if with_figures else _WithoutFigures(row))
        return found


class _WithoutFigures:
    """A row read without its (large) figures column."""

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        if name == "figures":
            return None
        return getattr(self._row, name)
