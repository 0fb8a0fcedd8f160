"""Read-only queries that feed training: every round of the games a model may learn from.

Reading 100k rounds as one SQL row each costs far more in Python objects than in the database
(ten column values and a timestamp per round), so the query returns **one row per game**: the
game's columns once, and its rounds as one comma-separated string of integers, each packing one
whole round (step, moves, outcome, values and scores in integer tenths; see ``_FIELDS``). numpy
parses all games' strings in one call and unpacks every field with shifts and masks. The moves and
outcome become small integers inside the SQL (``CASE``), so no per-round Python object is ever
built. One statement, so the games and their rounds come from one consistent snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import BigInteger, Select, Text, and_, case, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from rps.domain.move import MOVES, OUTCOMES
from rps.persistence.database import Database
from rps.persistence.records import GameSource
from rps.persistence.tables import games, rounds

IntArray = npt.NDArray[np.int64]
SmallIntArray = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class TrainingRows:
    """Rounds of many games as plain arrays, ordered by (game created_at, game id, step_no).

    Per game (index ``g`` = position in these tuples, oldest first): ``game_ids``,
    ``game_created_at`` (UTC-aware), ``game_sources``. Per round (equal-length arrays):
    ``game_index`` (int64, into the game tuples, non-decreasing), ``step_no`` (int64),
    ``user_move`` / ``bot_move`` (int8: 0 rock, 1 paper, 2 scissors), ``result`` (int8, user's
    view: 0 win, 1 lose, 2 draw), ``values`` (float64 (n, 3): rock, paper, scissors points of the
    round) and ``user_score`` / ``bot_score`` (float64 points after the round). The layout is
    :class:`rps.features.RoundTable`'s, which validates the round invariants when built.
    A game may have no rounds (in-memory callers); the database query never returns one.
    """

    game_ids: tuple[str, ...]
    game_created_at: tuple[datetime, ...]
    game_sources: tuple[GameSource, ...]
    game_index: IntArray
    step_no: IntArray
    user_move: SmallIntArray
    bot_move: SmallIntArray
    result: SmallIntArray
    values: FloatArray
    user_score: FloatArray
    bot_score: FloatArray

    def __post_init__(self) -> None:
        n_games = len(self.game_ids)
        if len(self.game_created_at) != n_games or len(self.game_sources) != n_games:
            raise ValueError(
                f"TrainingRows: {n_games} game ids, {len(self.game_created_at)} created_at, "
                f"{len(self.game_sources)} sources; they must be equal"
            )
        n = len(self.game_index)
        for name in ("step_no", "user_move", "bot_move", "result", "user_score", "bot_score"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"TrainingRows.{name} has shape {getattr(self, name).shape}")
        if self.values.shape != (n, 3):
            raise ValueError(f"TrainingRows.values has shape {self.values.shape}, expected (n, 3)")
        if n and (self.game_index.min() < 0 or self.game_index.max() >= n_games):
            raise ValueError("TrainingRows.game_index points outside the games")

    def __len__(self) -> int:
        return len(self.game_index)

    @property
    def n_games(self) -> int:
        return len(self.game_ids)

    def rounds_per_game(self) -> IntArray:
        """How many rounds each game has here (0 for a game without rounds)."""
        counts: IntArray = np.bincount(self.game_index, minlength=self.n_games).astype(np.int64)
        return counts


# A packed round: (name, bits), lowest bits first. The rules bound every field far below its
# width (SPEC §1: at most 20 rounds, values ≤ 2.0, scores < 12.0 points); a field outside its
# range makes the whole round NULL in the query, which the count check reports.
_FIELDS: Final[tuple[tuple[str, int], ...]] = (
    ("step_no", 12),
    ("user_move", 2),
    ("bot_move", 2),
    ("result", 2),
    ("rock_tenths", 8),
    ("paper_tenths", 8),
    ("scissors_tenths", 8),
    ("user_tenths", 10),
    ("bot_tenths", 10),
)
_SHIFTS: Final = dict(
    zip(
        (name for name, _ in _FIELDS),
        np.cumsum([0] + [bits for _, bits in _FIELDS[:-1]]).tolist(),
        strict=True,
    )
)
_BITS: Final = dict(_FIELDS)
assert sum(_BITS.values()) <= 63, "a packed round must fit a signed 64-bit integer"


def _int(value: int) -> ColumnElement[Any]:
    # Inline literals: bound parameters would make PostgreSQL guess their types inside CASE.
    return literal_column(str(value), BigInteger)


def _code(column: ColumnElement[Any], names: tuple[str, ...]) -> ColumnElement[Any]:
    """The index of ``column``'s text in ``names``; NULL for any other text."""
    return case({name: _int(i) for i, name in enumerate(names)}, value=column, else_=None)


def _tenths(column: ColumnElement[Any]) -> ColumnElement[Any]:
    # ROUND first: the backends disagree on how CAST rounds a float (SQLite truncates).
    return cast(func.round(column * _int(10)), BigInteger)


def _packed_round() -> ColumnElement[Any]:
    fields: dict[str, ColumnElement[Any]] = {
        "step_no": cast(rounds.c.step_no, BigInteger),
        "user_move": _code(rounds.c.user_move, tuple(m.value for m in MOVES)),
        "bot_move": _code(rounds.c.bot_move, tuple(m.value for m in MOVES)),
        "result": _code(rounds.c.result, tuple(o.value for o in OUTCOMES)),
        "rock_tenths": _tenths(rounds.c.rock_pts),
        "paper_tenths": _tenths(rounds.c.paper_pts),
        "scissors_tenths": _tenths(rounds.c.scissors_pts),
        "user_tenths": _tenths(rounds.c.user_score),
        "bot_tenths": _tenths(rounds.c.bot_score),
    }
    packed: ColumnElement[Any] = _int(0)
    for name, expression in fields.items():
        packed = packed + expression * _int(1 << _SHIFTS[name])

    # Range guards on the raw columns (cheap comparisons), so an out-of-range field cannot spill
    # into its neighbour: the round becomes NULL, which string aggregation skips.
    def below(field: str) -> ColumnElement[Any]:
        # the largest value whose tenths still fit, plus half a tenth
        return literal_column(repr(((1 << _BITS[field]) - 0.5) / 10))

    in_range = and_(
        rounds.c.step_no >= _int(1),
        rounds.c.step_no < _int(1 << _BITS["step_no"]),
        *(
            and_(column >= _int(0), column < below(field))
            for column, field in (
                (rounds.c.rock_pts, "rock_tenths"),
                (rounds.c.paper_pts, "paper_tenths"),
                (rounds.c.scissors_pts, "scissors_tenths"),
                (rounds.c.user_score, "user_tenths"),
                (rounds.c.bot_score, "bot_tenths"),
            )
        ),
    )
    return case((in_range, cast(packed, Text)), else_=None)


def training_game_conditions(
    since: datetime | None, *, exclude_test: bool = True
) -> list[ColumnElement[bool]]:
    """Which games training may learn from (SPEC §5 "Dataset"): created at/after ``since`` and,
    unless ``exclude_test=False``, not test games. One definition for the dataset and for the
    scheduler's count of new rounds, so the two never disagree."""
    conditions: list[ColumnElement[bool]] = []
    if exclude_test:
        conditions.append(games.c.is_test.is_(False))
    if since is not None:
        conditions.append(games.c.created_at >= since)
    return conditions


def _statement(since: datetime | None, exclude_test: bool) -> Select[Any]:
    conditions = training_game_conditions(since, exclude_test=exclude_test)
    return (
        select(
            games.c.id,
            games.c.created_at,
            games.c.source,
            func.count().label("n_rounds"),
            func.aggregate_strings(_packed_round(), ",").label("packed"),
        )
        .select_from(games.join(rounds, rounds.c.game_id == games.c.id))
        .where(*conditions)
        .group_by(games.c.id, games.c.created_at, games.c.source)
        .order_by(games.c.created_at, games.c.id)
    )


def _field(packed: IntArray, name: str) -> IntArray:
    out: IntArray = (packed >> _SHIFTS[name]) & ((1 << _BITS[name]) - 1)
    return out


def fetch_training_rounds(
    db: Database, *, since: datetime | None, exclude_test: bool = True
) -> TrainingRows:
    """Every round of every game created at/after ``since`` (UTC-aware; None = all), finished or
    not, test games left out unless ``exclude_test=False``.

    Games come oldest first (ties by id) and each game's rounds by step. Raises ``ValueError``
    naming the game when a stored round cannot be read (an unknown move or outcome, or a value
    out of range).
    """
    with db.read() as conn:
        result = conn.execute(_statement(since, exclude_test)).all()
    game_ids = tuple(str(row.id) for row in result)
    counts = np.fromiter((row.n_rounds for row in result), dtype=np.int64, count=len(result))
    readable = np.fromiter(
        ((row.packed.count(",") + 1) if row.packed else 0 for row in result),
        dtype=np.int64,
        count=len(result),
    )
    unreadable = np.flatnonzero(readable != counts)
    if unreadable.size:
        g = int(unreadable[0])
        raise ValueError(
            f"game {game_ids[g]}: {counts[g] - readable[g]} of its {counts[g]} rounds hold an "
            "unknown move or outcome, or a value out of range"
        )
    # Aggregation may concatenate a game's rounds in any order: the step inside each packed
    # round puts them back in order below, so nothing depends on it.
    text = ",".join(row.packed for row in result)
    packed = np.array(text.split(","), dtype=np.int64) if text else np.zeros(0, dtype=np.int64)
    game_index = np.repeat(np.arange(len(result), dtype=np.int64), counts)
    step_no = _field(packed, "step_no")
    order = np.lexsort((step_no, game_index))
    packed, step_no = packed[order], step_no[order]
    values = np.stack([_field(packed, f"{m.value}_tenths") for m in MOVES], axis=1).astype(
        np.float64
    )
    return TrainingRows(
        game_ids=game_ids,
        game_created_at=tuple(row.created_at for row in result),
        game_sources=tuple(GameSource(row.source) for row in result),
        game_index=game_index,
        step_no=step_no,
        user_move=_field(packed, "user_move").astype(np.int8),
        bot_move=_field(packed, "bot_move").astype(np.int8),
        result=_field(packed, "result").astype(np.int8),
        values=values / 10,
        user_score=_field(packed, "user_tenths").astype(np.float64) / 10,
        bot_score=_field(packed, "bot_tenths").astype(np.float64) / 10,
    )
