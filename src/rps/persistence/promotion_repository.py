"""What promotion reads from the database, and the promotion ledger it writes (SPEC §7).

Promotion statistics come from stored games and predictions, never from process counters, so
a restart loses nothing. A version's window starts when its alias was last assigned to it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, desc, exists, func, insert, not_, or_, select

from rps.domain.move import Winner
from rps.domain.policy import Alias
from rps.persistence.database import Database
from rps.persistence.tables import (
    alias_predictions,
    games,
    model_assignments,
    promotion_events,
    rounds,
)

# Rounds played by a model or its stand-in: a game counts for a version only if the version
# played all of them (SPEC §6.1) — a reload mid-game or a fallback round leaves it out.
_ML_SOURCES = ("model", "fallback")
# A game is evidence for a version only if the version decided at least one of its rounds.
_MODEL_SOURCE = "model"
LEDGER_JSON_FIELDS = (
    "rankings",
    "accuracies",
    "assignments_before",
    "assignments_after",
    "details",
)
LEDGER_FIELDS = (
    "event_id", "created_at", "model_type", "decision", "rule", "source", "z", "p_value",
    "sequential_p_value", "srm_p_value", "production_version", "production_wins",
    "production_games", "b_version", "b_wins", "b_games", "reorder_applied", "applied",
    "rankings", "accuracies", "assignments_before", "assignments_after", "reason", "details",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AssignedVersion:
    """The version an alias points at according to ``model_assignments``, and since when."""

    version: str
    run_id: str | None
    assigned_at: datetime


@dataclass(frozen=True, slots=True)
class VersionGames:
    """A version's finished games as an alias (completed and abandoned alike) and how many the
    bot won, in all and per game source (source → (games, bot wins))."""

    games: int
    bot_wins: int
    user_wins: int
    by_source: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VersionAccuracy:
    predictions: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.predictions if self.predictions else None


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One ledger row. JSON columns are decoded; ``id`` is the local row number."""

    event_id: str
    created_at: datetime
    model_type: str
    decision: str
    source: str
    reason: str
    rule: str | None = None
    z: float | None = None
    p_value: float | None = None
    sequential_p_value: float | None = None
    srm_p_value: float | None = None
    production_version: str | None = None
    production_wins: int | None = None
    production_games: int | None = None
    b_version: str | None = None
    b_wins: int | None = None
    b_games: int | None = None
    reorder_applied: bool = False
    applied: bool = True
    rankings: Any = None
    accuracies: Any = None
    assignments_before: Any = None
    assignments_after: Any = None
    details: Any = None
    id: int | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The portable form (``rps ledger export``): no local id, ISO timestamps."""
        data = {name: getattr(self, name) for name in LEDGER_FIELDS}
        data["created_at"] = self.created_at.isoformat()
        return data


def new_event_id() -> str:
    return uuid.uuid4().hex


def _finite(value: float | None) -> float | None:
    """JSON and some databases have no infinity: store the extremes as None."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


class PromotionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- windows -------------------------------------------------------------------------------

    def current_assignments(self, model_type: str) -> dict[str, AssignedVersion]:
        """The newest assignment of each alias of the family (alias → version and time)."""
        return {
            alias: assigned for (_, alias), assigned in self._newest_assignments(model_type).items()
        }

    def every_current_assignment(self) -> dict[tuple[str, str], AssignedVersion]:
        """The newest assignment of every family@alias, in one query (the metrics scrape)."""
        return self._newest_assignments(None)

    def _newest_assignments(self, model_type: str | None) -> dict[tuple[str, str], AssignedVersion]:
        newest = select(
            model_assignments.c.model_type,
            model_assignments.c.alias,
            func.max(model_assignments.c.id).label("id"),
        ).group_by(model_assignments.c.model_type, model_assignments.c.alias)
        if model_type is not None:
            newest = newest.where(model_assignments.c.model_type == model_type)
        chosen = newest.subquery()
        query = select(
            model_assignments.c.model_type,
            model_assignments.c.alias,
            model_assignments.c.version,
            model_assignments.c.run_id,
            model_assignments.c.assigned_at,
        ).join(chosen, model_assignments.c.id == chosen.c.id)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return {
            (r.model_type, r.alias): AssignedVersion(str(r.version), r.run_id, r.assigned_at)
            for r in rows
        }

    def version_games(
        self,
        model_type: str,
        alias: str,
        version: str,
        since: datetime | None,
        *,
        sources: Sequence[str] | None = None,
    ) -> VersionGames:
        """Finished, non-test games that ``version`` played as ``alias`` since ``since`` — the
        one definition of A/B evidence that promotion and ``/ops`` share (SPEC §7).

        Completed and abandoned games alike, so finishing only the games one is winning cannot
        steer the test. Counted: games with at least one model round, every one of whose model
        rounds that version played, started by one of ``sources`` (game sources; None: all).
        """
        model_round = exists().where(
            and_(
                rounds.c.game_id == games.c.id,
                rounds.c.decision_source == _MODEL_SOURCE,
            )
        )
        mixed = exists().where(
            and_(
                rounds.c.game_id == games.c.id,
                rounds.c.decision_source.in_(_ML_SOURCES),
                or_(
                    rounds.c.model_version.is_(None),
                    rounds.c.model_version != games.c.model_version,
                ),
            )
        )
        conditions = [
            games.c.model_type == model_type,
            games.c.bot_model_alias == alias,
            games.c.model_version == version,
            games.c.winner.is_not(None),
            games.c.is_test.is_(False),
            model_round,
            not_(mixed),
        ]
        if since is not None:
            conditions.append(games.c.created_at >= since)
        if sources is not None:
            conditions.append(games.c.source.in_(list(sources)))
        query = (
            select(
                games.c.source,
                func.count(),
                func.coalesce(func.sum(case((games.c.winner == Winner.BOT.value, 1), else_=0)), 0),
                func.coalesce(func.sum(case((games.c.winner == Winner.USER.value, 1), else_=0)), 0),
            )
            .where(*conditions)
            .group_by(games.c.source)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        by_source = {str(source): (int(n), int(bot)) for source, n, bot, _ in rows}
        return VersionGames(
            games=sum(int(n) for _, n, _, _ in rows),
            bot_wins=sum(int(bot) for _, _, bot, _ in rows),
            user_wins=sum(int(user) for _, _, _, user in rows),
            by_source=by_source,
        )

    def version_accuracy(
        self, model_type: str, versions: Iterable[str]
    ) -> dict[str, VersionAccuracy]:
        """Every recorded prediction of each version in the family, whichever alias it held."""
        wanted = sorted(set(versions))
        if not wanted:
            return {}
        query = (
            select(
                alias_predictions.c.model_version,
                func.count(),
                func.coalesce(
                    func.sum(case((alias_predictions.c.correct.is_(True), 1), else_=0)), 0
                ),
            )
            .where(
                alias_predictions.c.model_type == model_type,
                # Every alias, named, so the (model_type, alias, model_version) index serves it.
                alias_predictions.c.alias.in_([a.value for a in Alias]),
                alias_predictions.c.model_version.in_(wanted),
            )
            .group_by(alias_predictions.c.model_version)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        found = {str(v): VersionAccuracy(int(n), int(c)) for v, n, c in rows}
        return {v: found.get(v, VersionAccuracy(0, 0)) for v in wanted}

    def assignment_counts(
        self,
        model_type: str,
        since: datetime | None,
        *,
        sources: Sequence[str] | None = None,
    ) -> dict[str, int]:
        """Non-test games of the family started since ``since`` by one of ``sources`` (None:
        all), per assigned alias (the observed A/B split, for the sample-ratio-mismatch check),
        finished or not."""
        conditions = [games.c.model_type == model_type, games.c.is_test.is_(False)]
        if since is not None:
            conditions.append(games.c.created_at >= since)
        if sources is not None:
            conditions.append(games.c.source.in_(list(sources)))
        query = (
            select(games.c.bot_model_alias, func.count())
            .where(*conditions)
            .group_by(games.c.bot_model_alias)
        )
        with self._db.read() as conn:
            return {str(a): int(n) for a, n in conn.execute(query).all() if a}

    def version_margins(
        self, model_type: str, versions: Iterable[str], scoring_version: str
    ) -> dict[str, tuple[int, float | None]]:
        """Per version of the family: (rows scored by ``scoring_version``, their mean
        counterfactual point margin per model round), whichever alias it held. Rows another
        decision layer scored are not this bot's record, and are left out."""
        wanted = sorted(set(versions))
        if not wanted:
            return {}
        margin = alias_predictions.c.counterfactual_margin
        query = (
            select(alias_predictions.c.model_version, func.count(margin), func.avg(margin))
            .where(
                alias_predictions.c.model_type == model_type,
                alias_predictions.c.alias.in_([a.value for a in Alias]),
                alias_predictions.c.model_version.in_(wanted),
                alias_predictions.c.scoring_version == scoring_version,
            )
            .group_by(alias_predictions.c.model_version)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        found = {str(v): (int(n), float(mean) if mean is not None else None) for v, n, mean in rows}
        return {v: found.get(v, (0, None)) for v in wanted}

    def recent_predictions(
        self, model_type: str, version: str, limit: int
    ) -> list[tuple[str, int, tuple[float, ...]]]:
        """(game id, round, stored probabilities) of the version's newest predictions."""
        query = (
            select(
                alias_predictions.c.game_id,
                alias_predictions.c.step_no,
                alias_predictions.c.probabilities,
            )
            .where(
                alias_predictions.c.model_type == model_type,
                alias_predictions.c.alias.in_([a.value for a in Alias]),
                alias_predictions.c.model_version == version,
            )
            .order_by(desc(alias_predictions.c.id))
            .limit(limit)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [(str(g), int(s), tuple(json.loads(p))) for g, s, p in rows][::-1]

    def games_since(self, model_type: str, since: datetime | None) -> dict[str, int]:
        """Finished non-test games of the family per alias since ``since``."""
        conditions = [
            games.c.model_type == model_type,
            games.c.is_test.is_(False),
            games.c.winner.is_not(None),
        ]
        if since is not None:
            conditions.append(games.c.created_at >= since)
        query = (
            select(games.c.bot_model_alias, func.count())
            .where(*conditions)
            .group_by(games.c.bot_model_alias)
        )
        with self._db.read() as conn:
            return {str(a): int(n) for a, n in conn.execute(query).all() if a}

    # -- the ledger ----------------------------------------------------------------------------

    def add_event(self, event: LedgerEvent) -> int:
        with self._db.write() as conn:
            result = conn.execute(
                insert(promotion_events).returning(promotion_events.c.id), _row(event)
            )
            row_id: int = result.scalar_one()
        return row_id

    def events(
        self,
        *,
        limit: int = 50,
        model_type: str | None = None,
        decision: str | None = None,
        since: datetime | None = None,
        oldest_first: bool = False,
    ) -> list[LedgerEvent]:
        """Ledger rows, newest first unless ``oldest_first``."""
        order = (
            (promotion_events.c.created_at, promotion_events.c.id)
            if oldest_first
            else (desc(promotion_events.c.created_at), desc(promotion_events.c.id))
        )
        query = select(promotion_events).order_by(*order)
        if model_type:
            query = query.where(promotion_events.c.model_type == model_type)
        if decision:
            query = query.where(promotion_events.c.decision == decision)
        if since is not None:
            query = query.where(promotion_events.c.created_at >= since)
        if limit:
            query = query.limit(limit)
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [_event(r) for r in rows]

    def event_by_id(self, event_id: str) -> LedgerEvent | None:
        query = select(promotion_events).where(promotion_events.c.event_id == event_id)
        with self._db.read() as conn:
            row = conn.execute(query).first()
        return _event(row) if row else None

    def iter_events(self, batch: int = 1000) -> Iterator[LedgerEvent]:
        """Every ledger row, oldest first, read in batches (for export)."""
        last_id = 0
        while True:
            query = (
                select(promotion_events)
                .where(promotion_events.c.id > last_id)
                .order_by(promotion_events.c.id)
                .limit(batch)
            )
            with self._db.read() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            for r in rows:
                yield _event(r)
            last_id = rows[-1].id

    def import_events(self, events: Iterable[LedgerEvent]) -> tuple[int, int]:
        """Add the events whose ``event_id`` is not in the ledger yet; (added, already there).

        All or nothing: one transaction."""
        added = present = 0
        with self._db.write() as conn:
            for event in events:
                known = conn.execute(
                    select(promotion_events.c.id).where(
                        promotion_events.c.event_id == event.event_id
                    )
                ).first()
                if known is not None:
                    present += 1
                    continue
                conn.execute(insert(promotion_events), _row(event))
                added += 1
        return added, present

    def latest_by_family(self) -> dict[str, LedgerEvent]:
        newest = (
            select(func.max(promotion_events.c.id).label("id"))
            .group_by(promotion_events.c.model_type)
            .subquery()
        )
        query = select(promotion_events).join(newest, promotion_events.c.id == newest.c.id)
        with self._db.read() as conn:
            return {r.model_type: _event(r) for r in conn.execute(query).all()}

    def last_swap_times(self) -> dict[str, datetime]:
        query = (
            select(promotion_events.c.model_type, func.max(promotion_events.c.created_at))
            .where(
                promotion_events.c.decision == "swap_production_b",
                promotion_events.c.applied.is_(True),
            )
            .group_by(promotion_events.c.model_type)
        )
        with self._db.read() as conn:
            return {str(m): t for m, t in conn.execute(query).all() if t is not None}

    def decision_counts(self) -> dict[tuple[str, str], int]:
        """(family, decision) → ledger rows (the promotion event counters)."""
        query = select(
            promotion_events.c.model_type, promotion_events.c.decision, func.count()
        ).group_by(promotion_events.c.model_type, promotion_events.c.decision)
        with self._db.read() as conn:
            return {(str(m), str(d)): int(n) for m, d, n in conn.execute(query).all()}

    def reorder_counts(self) -> dict[str, int]:
        query = (
            select(promotion_events.c.model_type, func.count())
            .where(
                or_(
                    promotion_events.c.decision == "alias_reorder",
                    promotion_events.c.reorder_applied.is_(True),
                ),
                promotion_events.c.applied.is_(True),
            )
            .group_by(promotion_events.c.model_type)
        )
        with self._db.read() as conn:
            return {str(m): int(n) for m, n in conn.execute(query).all()}


def _row(event: LedgerEvent) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(event, name) for name in LEDGER_FIELDS}
    for name in ("z", "p_value", "sequential_p_value", "srm_p_value"):
        row[name] = _finite(row[name])
    for name in LEDGER_JSON_FIELDS:
        value = row[name]
        row[name] = None if value is None else json.dumps(value, sort_keys=True, default=str)
    return row


def _event(row: Any) -> LedgerEvent:
    values: dict[str, Any] = {name: getattr(row, name) for name in LEDGER_FIELDS}
    for name in LEDGER_JSON_FIELDS:
        values[name] = json.loads(values[name]) if values[name] else None
    values["reorder_applied"] = bool(values["reorder_applied"])
    values["applied"] = bool(values["applied"])
    return LedgerEvent(**values, id=row.id)


# The exported form's scalar fields by JSON type. Checked on import: SQLite would store text
# in a count column without complaint, and every later read of the ledger would then fail.
_TEXT_FIELDS = ("event_id", "model_type", "decision", "source", "reason", "rule",
                "production_version", "b_version")  # fmt: skip
_NUMBER_FIELDS = ("z", "p_value", "sequential_p_value", "srm_p_value")
_COUNT_FIELDS = ("production_wins", "production_games", "b_wins", "b_games")
_FLAG_FIELDS = ("reorder_applied", "applied")
_MAPPING_FIELDS = ("assignments_before", "assignments_after")


def _has_json_type(name: str, value: Any) -> bool:
    if name in _FLAG_FIELDS:
        return isinstance(value, bool)
    if value is None:
        return True
    if name in _TEXT_FIELDS:
        return isinstance(value, str)
    if name in _NUMBER_FIELDS:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name in _COUNT_FIELDS:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if name in _MAPPING_FIELDS:
        return isinstance(value, dict)
    return True


def event_from_json(data: Mapping[str, Any]) -> LedgerEvent:
    """A ledger row from its exported form; ValueError naming what is wrong."""
    missing = [k for k in ("event_id", "created_at", "model_type", "decision", "source", "reason")
               if not data.get(k)]  # fmt: skip
    if missing:
        raise ValueError(f"ledger row lacks {', '.join(missing)}")
    unknown = sorted(set(data) - set(LEDGER_FIELDS) - {"id"})
    if unknown:
        raise ValueError(f"ledger row has unknown fields: {', '.join(unknown)}")
    values = {k: v for k, v in data.items() if k in LEDGER_FIELDS}
    wrong = [f"{k}={v!r}" for k, v in values.items() if not _has_json_type(k, v)]
    if wrong:
        raise ValueError(f"ledger row has values of the wrong type: {', '.join(wrong)}")
    created = datetime.fromisoformat(str(values["created_at"]))
    if created.tzinfo is None:
        raise ValueError("ledger row created_at must carry a UTC offset")
    values["created_at"] = created
    return LedgerEvent(**values)
