"""The feature matrix of many games' rounds at once, vectorised (training, parity checks).

Row i of :func:`batch_features` holds the features for predicting round i's user move from the
rounds before it in the same game, so it must equal :func:`rps.features.online.online_features`
on that game's earlier rounds bit for bit. Two choices make that exact rather than approximate:
scores and values are taken back to integer tenths before any arithmetic (so a score difference is
one integer subtraction and one division, as online), and shares are integer counts divided once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rps.domain.game import Game
from rps.domain.history import PlayedRound
from rps.domain.move import OUTCOMES
from rps.domain.scoring import TARGET_TENTHS
from rps.features.names import (
    BOT_LAG_COL,
    BOT_PTS_TO_WIN_COL,
    FEATURE_COUNT,
    LAGS,
    MIN_LABEL_STEP,
    PAST_VALUES_COL,
    RESULT_LAG_COL,
    SCORE_DIFF_COL,
    STEP_NO_COL,
    TIER_TENDENCY_COL,
    USER_LAG_COL,
    USER_PTS_TO_WIN_COL,
    USER_TENDENCY_COL,
    VALUES_COL,
)

IntArray = npt.NDArray[np.int64]
SmallIntArray = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_RESULT_INDEX = {o: i for i, o in enumerate(OUTCOMES)}


@dataclass(frozen=True, eq=False)
class RoundTable:
    """Equal-length columns of many games' rounds, sorted by (game, step).

    - ``game_index``: int64 id of the round's game; one game's rows are contiguous and ids increase.
    - ``step_no``: int64 round number, 1-based, contiguous within a game (1, 2, 3, ...).
    - ``user_move``, ``bot_move``: int8 move index (0 rock, 1 paper, 2 scissors).
    - ``result``: int8 outcome from the user's view (0 win, 1 lose, 2 draw, as ``OUTCOMES``).
    - ``values``: float64 (n, 3) points of rock, paper, scissors in that round (e.g. 1.5).
    - ``user_score``, ``bot_score``: float64 points after the round.

    The constructor coerces dtypes and checks the invariants above (a malformed table would
    otherwise give silently wrong lags); ``ValueError`` names the first offending row.
    """

    game_index: IntArray
    step_no: IntArray
    user_move: SmallIntArray
    bot_move: SmallIntArray
    result: SmallIntArray
    values: FloatArray
    user_score: FloatArray
    bot_score: FloatArray

    def __post_init__(self) -> None:
        coerce: dict[str, Any] = {
            "game_index": np.int64,
            "step_no": np.int64,
            "user_move": np.int8,
            "bot_move": np.int8,
            "result": np.int8,
            "values": np.float64,
            "user_score": np.float64,
            "bot_score": np.float64,
        }
        for name, dtype in coerce.items():
            # frozen dataclass: the coerced column replaces the given one before anyone reads it
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        self._validate()

    def _validate(self) -> None:
        n = len(self.game_index)
        for name in ("game_index", "step_no", "user_move", "bot_move", "result"):
            column = getattr(self, name)
            if column.shape != (n,):
                raise ValueError(f"RoundTable.{name} has shape {column.shape}, expected ({n},)")
        for name in ("user_score", "bot_score"):
            column = getattr(self, name)
            if column.shape != (n,):
                raise ValueError(f"RoundTable.{name} has shape {column.shape}, expected ({n},)")
        if self.values.shape != (n, 3):
            raise ValueError(f"RoundTable.values has shape {self.values.shape}, expected ({n}, 3)")
        if n == 0:
            return
        for name in ("user_move", "bot_move", "result"):
            column = getattr(self, name)
            bad = np.flatnonzero((column < 0) | (column > 2))
            if bad.size:
                row = int(bad[0])
                raise ValueError(f"RoundTable.{name}[{row}] = {column[row]} is not in 0, 1, 2")
        same_game = self.game_index[1:] == self.game_index[:-1]
        expected_step = np.where(same_game, self.step_no[:-1] + 1, 1)
        bad_step = np.flatnonzero(self.step_no[1:] != expected_step)
        if self.step_no[0] != 1:
            raise ValueError(f"RoundTable.step_no[0] = {self.step_no[0]}, a game starts at step 1")
        if bad_step.size:
            row = int(bad_step[0]) + 1
            raise ValueError(
                f"RoundTable row {row}: game {self.game_index[row]} step {self.step_no[row]} "
                f"follows game {self.game_index[row - 1]} step {self.step_no[row - 1]}; rows must "
                "be sorted by (game, step) with steps 1, 2, 3, ... in each game"
            )
        bad_game = np.flatnonzero(self.game_index[1:] < self.game_index[:-1])
        if bad_game.size:
            row = int(bad_game[0]) + 1
            raise ValueError(f"RoundTable row {row}: game ids must increase, got a smaller one")
        # (user - bot) mod 3: 0 draw, 1 user's move beats the bot's, 2 the bot's beats the user's
        expected_result = np.array([2, 0, 1], dtype=np.int8)[
            (self.user_move.astype(np.int64) - self.bot_move) % 3
        ]
        bad_result = np.flatnonzero(self.result != expected_result)
        if bad_result.size:
            row = int(bad_result[0])
            raise ValueError(
                f"RoundTable.result[{row}] = {self.result[row]} contradicts the moves "
                f"(user {self.user_move[row]}, bot {self.bot_move[row]})"
            )

    def __len__(self) -> int:
        return len(self.game_index)

    @classmethod
    def from_games(cls, games: Iterable[Game | Sequence[PlayedRound]]) -> RoundTable:
        """A table of the given games' rounds; ``game_index`` is each game's position in
        ``games`` (a game without rounds contributes no rows)."""
        game_index: list[int] = []
        step_no: list[int] = []
        user_move: list[int] = []
        bot_move: list[int] = []
        result: list[int] = []
        values: list[tuple[int, int, int]] = []
        user_tenths: list[int] = []
        bot_tenths: list[int] = []
        for g, game in enumerate(games):
            rounds = game.rounds if isinstance(game, Game) else game
            for r in rounds:
                game_index.append(g)
                step_no.append(r.round_no)
                user_move.append(r.user_move.position)
                bot_move.append(r.bot_move.position)
                result.append(_RESULT_INDEX[r.outcome])
                values.append(r.values.as_tuple())
                user_tenths.append(r.user_score)
                bot_tenths.append(r.bot_score)
        return cls(
            game_index=np.array(game_index, dtype=np.int64),
            step_no=np.array(step_no, dtype=np.int64),
            user_move=np.array(user_move, dtype=np.int8),
            bot_move=np.array(bot_move, dtype=np.int8),
            result=np.array(result, dtype=np.int8),
            values=np.array(values, dtype=np.float64).reshape(-1, 3) / 10,
            user_score=np.array(user_tenths, dtype=np.float64) / 10,
            bot_score=np.array(bot_tenths, dtype=np.float64) / 10,
        )


def labelled_mask(table: RoundTable, min_label_step: int = MIN_LABEL_STEP) -> BoolArray:
    """Which rows are training examples: every round with ``step_no >= min_label_step``."""
    if min_label_step < 1:
        raise ValueError(f"min_label_step must be at least 1, got {min_label_step}")
    mask: BoolArray = table.step_no >= min_label_step
    return mask


def labels(table: RoundTable) -> IntArray:
    """Each row's label: the user's move index in that round (0 rock, 1 paper, 2 scissors)."""
    return table.user_move.astype(np.int64)


def _to_tenths(points: FloatArray) -> IntArray:
    # Points are exact to one decimal (SPEC §1.1); rounding recovers the integer the domain used.
    return np.rint(points * 10).astype(np.int64)


def _lag(column: npt.NDArray[Any], k: int) -> npt.NDArray[Any]:
    """``column`` shifted down k rows (row i gets row i-k); the first k rows repeat row 0 and must
    be masked by the caller with ``step_no > k`` — which also stops lags crossing games."""
    shifted = np.empty_like(column)
    shifted[k:] = column[:-k] if k else column
    shifted[:k] = column[:1]
    return shifted


def _count_before(indicator: IntArray, game_start: IntArray) -> IntArray:
    """Per row, per column: how often the indicator was set in the earlier rows of its game."""
    before_row = np.cumsum(indicator, axis=0) - indicator  # exclusive prefix over the whole table
    counts: IntArray = before_row - before_row[game_start]
    return counts


def _one_hot(index: npt.NDArray[Any]) -> IntArray:
    hot = np.zeros((len(index), 3), dtype=np.int64)
    hot[np.arange(len(index)), index] = 1
    return hot


def batch_features(table: RoundTable) -> FloatArray:
    """The (n, 50) float64 feature matrix of ``table``: row i predicts round i's user move from
    the earlier rounds of its game (round i's own moves and outcome never appear; its values are
    features 27–29)."""
    n = len(table)
    out = np.zeros((n, FEATURE_COUNT), dtype=np.float64)
    if n == 0:
        return out
    rows = np.arange(n)
    step = table.step_no
    user = table.user_move.astype(np.intp)
    bot = table.bot_move.astype(np.intp)
    result = table.result.astype(np.intp)
    value_tenths = _to_tenths(table.values)
    user_tenths = _to_tenths(table.user_score)
    bot_tenths = _to_tenths(table.bot_score)
    game_start = rows - (step - 1)

    out[:, VALUES_COL : VALUES_COL + 3] = value_tenths / 10
    for k in range(1, LAGS + 1):
        seen = step > k
        at = rows[seen]
        block = 3 * (k - 1)
        out[at, USER_LAG_COL + block + user[at - k]] = 1.0
        out[at, BOT_LAG_COL + block + bot[at - k]] = 1.0
        out[at, RESULT_LAG_COL + block + result[at - k]] = 1.0
        past = np.where(seen[:, None], _lag(value_tenths, k), value_tenths)
        out[:, PAST_VALUES_COL + block : PAST_VALUES_COL + block + 3] = past / 10

    previous = (step - 1)[:, None]
    has_history = np.broadcast_to(previous > 0, (n, 3))
    user_counts = _count_before(_one_hot(user), game_start)
    np.divide(
        user_counts,
        previous,
        out=out[:, USER_TENDENCY_COL : USER_TENDENCY_COL + 3],
        where=has_history,
    )
    # tier 0: the user played the round's highest-valued move, 1: its beater, 2: the beater's beater
    # (argmax takes the first maximum, as RoundValues.best() does; values are distinct anyway)
    tier = (user - np.argmax(value_tenths, axis=1)) % 3
    tier_counts = _count_before(_one_hot(tier), game_start)
    np.divide(
        tier_counts,
        previous,
        out=out[:, TIER_TENDENCY_COL : TIER_TENDENCY_COL + 3],
        where=has_history,
    )

    first = step == 1
    user_before = np.where(first, 0, _lag(user_tenths, 1))
    bot_before = np.where(first, 0, _lag(bot_tenths, 1))
    out[:, SCORE_DIFF_COL] = (user_before - bot_before) / 10
    out[:, USER_PTS_TO_WIN_COL] = np.maximum(0, TARGET_TENTHS - user_before) / 10
    out[:, BOT_PTS_TO_WIN_COL] = np.maximum(0, TARGET_TENTHS - bot_before) / 10
    out[:, STEP_NO_COL] = step
    # easy_mode (the last column) is retired and stays 0
    return out
