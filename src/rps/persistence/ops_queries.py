"""Read-only figures for the ops page (SPEC §9 `/ops/summary`, §12) and the strength series
(§8): per alias since its assignment, per alias per day for the charts, and each version's
counterfactual record as an alias."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select

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


@dataclass(frozen=True, slots=True)
class CounterfactualFigures:
    """What a version's own decisions as an alias would have achieved, round by round, as
    scored by one version of the decision layer (SPEC §4: rows of other versions never mix)."""

    model_rounds: int = 0
    wins: int = 0  # rounds its layer move would have won
    margin_rounds: int = 0  # rounds with a stored margin
    margin_sum: float = 0.0  # points per round, bot − user

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.model_rounds if self.model_rounds else None

    @property
    def mean_margin(self) -> float | None:
        return self.margin_sum / self.margin_rounds if self.margin_rounds else None


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

    def counterfactual_figures(
        self, versions: Iterable[tuple[str, str, str]], scoring_version: str
    ) -> dict[tuple[str, str, str], CounterfactualFigures]:
        """Per (family, alias, version) asked for: the version's rows as that alias, scored by
        ``scoring_version`` (absent keys had none). One grouped query for all of them."""
        wanted = sorted(set(versions))
        if not wanted:
            return {}
        margin = alias_predictions.c.counterfactual_margin
        query = (
            select(
                alias_predictions.c.model_type,
                alias_predictions.c.alias,
                alias_predictions.c.model_version,
                func.count(),
                func.coalesce(
                    func.sum(
                        case((alias_predictions.c.counterfactual_result == "win", 1), else_=0)
                    ),
                    0,
                ),
                func.count(margin),
                func.coalesce(func.sum(margin), 0.0),
            )
            .where(
                # Each (family, alias, version) spelled out, so the version index serves it.
                or_(
                    *(
                        and_(
                            alias_predictions.c.model_type == family,
                            alias_predictions.c.alias == alias,
                            alias_predictions.c.model_version == version,
                        )
                        for family, alias, version in wanted
                    )
                ),
                alias_predictions.c.scoring_version == scoring_version,
            )
            .group_by(
                alias_predictions.c.model_type,
                alias_predictions.c.alias,
                alias_predictions.c.model_version,
            )
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return {
            (str(family), str(alias), str(version)): CounterfactualFigures(
                int(n), int(wins), int(margins), float(total)
            )
            for family, alias, version, n, wins, margins, total in rows
        }

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
