"""The feature row of one game's next round, from its history (serving, one call per round).

Plain Python over at most 19 earlier rounds: cheaper than numpy's per-call overhead at this size.
It must agree bit for bit with :func:`rps.features.batch.batch_features`, which a test checks on
thousands of simulated games; both compute in integer tenths and counts and divide once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rps.domain.history import PlayedRound
from rps.domain.move import OUTCOMES
from rps.domain.round_values import RoundValues
from rps.domain.scoring import TARGET_TENTHS
from rps.features.names import (
    BOT_LAG_COL,
    BOT_PTS_TO_WIN_COL,
    FEATURE_COUNT,
    LAGS,
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

_RESULT_INDEX = {o: i for i, o in enumerate(OUTCOMES)}

# (user move, bot move, result, values in tenths) of one earlier round, as indexes
_Encoded = tuple[int, int, int, tuple[int, int, int]]


def _best_index(tenths: tuple[int, int, int]) -> int:
    """Index of the highest value; the first one on a tie, as RoundValues.best() and argmax."""
    best = 0
    if tenths[1] > tenths[best]:
        best = 1
    if tenths[2] > tenths[best]:
        best = 2
    return best


class OnlineFeatureState:
    """A game's running feature state: push each played round, ask for the next round's row.

    Keeps only what the features need (the last three rounds, move and tier counts, the scores),
    so a row costs the same at round 4 and at round 19.
    """

    __slots__ = (
        "_bot_tenths",
        "_recent",
        "_rounds",
        "_tier_counts",
        "_user_counts",
        "_user_tenths",
    )

    def __init__(self) -> None:
        self._rounds = 0
        self._recent: list[_Encoded] = []  # newest first, at most LAGS entries
        self._user_counts = [0, 0, 0]
        self._tier_counts = [0, 0, 0]
        self._user_tenths = 0
        self._bot_tenths = 0

    @classmethod
    def from_rounds(cls, rounds: Sequence[PlayedRound]) -> OnlineFeatureState:
        """The state after ``rounds`` (a game's rounds 1..n in order)."""
        state = cls()
        for played in rounds:
            state.push(played)
        return state

    @property
    def rounds_played(self) -> int:
        return self._rounds

    def push(self, played: PlayedRound) -> None:
        """Add the game's next round; ValueError if it is not round ``rounds_played + 1``."""
        if played.round_no != self._rounds + 1:
            raise ValueError(
                f"expected round {self._rounds + 1} of the game, got round {played.round_no}"
            )
        user = played.user_move.position
        tenths = played.values.as_tuple()
        self._recent.insert(
            0, (user, played.bot_move.position, _RESULT_INDEX[played.outcome], tenths)
        )
        del self._recent[LAGS:]
        self._user_counts[user] += 1
        self._tier_counts[(user - _best_index(tenths)) % 3] += 1
        self._user_tenths = played.user_score
        self._bot_tenths = played.bot_score
        self._rounds += 1

    def row(self, values: RoundValues) -> npt.NDArray[np.float64]:
        """The 50 features for predicting the next round's user move, whose values are
        ``values``."""
        row = [0.0] * FEATURE_COUNT
        current = values.as_tuple()
        row[VALUES_COL] = current[0] / 10
        row[VALUES_COL + 1] = current[1] / 10
        row[VALUES_COL + 2] = current[2] / 10
        for lag in range(LAGS):
            block = 3 * lag
            if lag < len(self._recent):
                user, bot, result, past = self._recent[lag]
                row[USER_LAG_COL + block + user] = 1.0
                row[BOT_LAG_COL + block + bot] = 1.0
                row[RESULT_LAG_COL + block + result] = 1.0
            else:
                past = current
            row[PAST_VALUES_COL + block] = past[0] / 10
            row[PAST_VALUES_COL + block + 1] = past[1] / 10
            row[PAST_VALUES_COL + block + 2] = past[2] / 10
        n = self._rounds
        if n:
            for i in range(3):
                row[USER_TENDENCY_COL + i] = self._user_counts[i] / n
                row[TIER_TENDENCY_COL + i] = self._tier_counts[i] / n
        user_tenths = self._user_tenths
        bot_tenths = self._bot_tenths
        # easy_mode (the last column) is retired and stays 0
        row[SCORE_DIFF_COL] = (user_tenths - bot_tenths) / 10
        row[USER_PTS_TO_WIN_COL] = max(0, TARGET_TENTHS - user_tenths) / 10
        row[BOT_PTS_TO_WIN_COL] = max(0, TARGET_TENTHS - bot_tenths) / 10
        row[STEP_NO_COL] = float(n + 1)
        return np.array(row, dtype=np.float64)


def online_features(rounds: Sequence[PlayedRound], values: RoundValues) -> npt.NDArray[np.float64]:
    """The (50,) float64 feature row for round ``len(rounds) + 1`` of a game whose rounds so far
    are ``rounds`` (in order, from round 1) and whose next round has values ``values``."""
    return OnlineFeatureState.from_rounds(rounds).row(values)
