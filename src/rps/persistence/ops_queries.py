"""Read-only figures for the ops page (SPEC §9 `/ops/summary`, §12): per alias since its
assignment, and per alias per day for the charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from rps.domain.move import Winner
from rps.domain.policy import Alias
from rps.persistence.database import Database
from rps.persistence.tables import alias_predictions, games, utcnow


@dataclass(frozen=True, slots=True)
class DailyFigures:
    day: date
    alias: str
    predictions: int = 0
    correct: int = 0
    games: int = 0
    bot_wins: int = 0


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, on either backend."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


class OpsQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    def predictions_since(
        self, model_type: str, alias: str, version: str, since: datetime | None
    ) -> tuple[int, int]:
        """(predictions, correct) of ``version`` as ``alias`` since ``since``."""
        conditions = [
            alias_predictions.c.model_type == model_type,
            alias_predictions.c.alias == alias,
            alias_predictions.c.model_version == version,
        ]
        if since is not None:
            conditions.append(alias_predictions.c.created_at >= since)
        query = select(
            func.count(),
            func.coalesce(func.sum(case((alias_predictions.c.correct.is_(True), 1), else_=0)), 0),
        ).where(*conditions)
        with self._db.read() as conn:
            n, correct = conn.execute(query).one()
        return int(n), int(correct)

    def daily(
        self, model_type: str, days: int = 14, now: datetime | None = None
    ) -> list[DailyFigures]:
        """Per alias and UTC day over the last ``days`` days: predictions, correct, finished
        non-test games and the bot's wins (oldest first)."""
        start = (now or utcnow()) - timedelta(days=days)
        dialect = self._db.dialect
        p_day = _day(alias_predictions.c.created_at, dialect).label("day")
        predictions = (
            select(
                p_day,
                alias_predictions.c.alias,
                func.count(),
                func.coalesce(
                    func.sum(case((alias_predictions.c.correct.is_(True), 1), else_=0)), 0
                ),
            )
            .where(
                alias_predictions.c.model_type == model_type,
                alias_predictions.c.alias.in_([a.value for a in Alias]),
                alias_predictions.c.created_at >= start,
            )
            .group_by(p_day, alias_predictions.c.alias)
        )
        g_day = _day(games.c.finished_at, dialect).label("day")
        finished = (
            select(
                g_day,
                games.c.bot_model_alias,
                func.count(),
                func.coalesce(func.sum(case((games.c.winner == Winner.BOT.value, 1), else_=0)), 0),
            )
            .where(
                games.c.model_type == model_type,
                games.c.is_test.is_(False),
                games.c.winner.is_not(None),
                games.c.finished_at >= start,
            )
            .group_by(g_day, games.c.bot_model_alias)
        )
        figures: dict[tuple[date, str], dict[str, int]] = {}
        with self._db.read() as conn:
            for day, alias, n, correct in conn.execute(predictions).all():
                slot = figures.setdefault((_as_date(day), str(alias)), {})
                slot["predictions"], slot["correct"] = int(n), int(correct)
            for day, alias, n, wins in conn.execute(finished).all():
                if not alias:
                    continue
                slot = figures.setdefault((_as_date(day), str(alias)), {})
                slot["games"], slot["bot_wins"] = int(n), int(wins)
        return [
            DailyFigures(day=d, alias=a, **values) for (d, a), values in sorted(figures.items())
        ]
