"""The ordered names of the 50 features (SPEC §3) and where each group starts.

The order is part of the contract with every trained model: append nothing, reorder nothing.
``FEATURE_VERSION`` changes whenever a feature's meaning or position changes, and models that were
trained on another version are refused at load.
"""

from __future__ import annotations

from typing import Final

from rps.domain.move import MOVES, OUTCOMES

FEATURE_VERSION: Final = "1"
FEATURE_COUNT: Final = 50
MIN_LABEL_STEP: Final = 4  # rounds 1–3 are the bot's opening; examples start at round 4
LAGS: Final = 3  # how many earlier rounds the lag features look back

_MOVE_NAMES = tuple(m.value for m in MOVES)
_OUTCOME_NAMES = tuple(o.value for o in OUTCOMES)


def _lagged(prefix: str, suffixes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{prefix}_-{k}_{s}" for k in range(1, LAGS + 1) for s in suffixes)


FEATURE_NAMES: Final[tuple[str, ...]] = (
    *_lagged("user", _MOVE_NAMES),
    *_lagged("bot", _MOVE_NAMES),
    *_lagged("res", _OUTCOME_NAMES),
    *(f"{m}_pts" for m in _MOVE_NAMES),
    *_lagged("points", _MOVE_NAMES),
    *(f"user_tend_{m}" for m in _MOVE_NAMES),
    "tend_favored",
    "tend_fav_beater",
    "tend_fav_beater_beater",
    "score_diff",
    "user_pts_to_win",
    "bot_pts_to_win",
    "step_no",
    "easy_mode",
)

# First column of each group; a lagged group holds LAGS blocks of three (rock, paper, scissors or
# win, lose, draw), the block for k rounds ago starting at ``start + 3 * (k - 1)``.
USER_LAG_COL: Final = FEATURE_NAMES.index("user_-1_rock")
BOT_LAG_COL: Final = FEATURE_NAMES.index("bot_-1_rock")
RESULT_LAG_COL: Final = FEATURE_NAMES.index("res_-1_win")
VALUES_COL: Final = FEATURE_NAMES.index("rock_pts")
PAST_VALUES_COL: Final = FEATURE_NAMES.index("points_-1_rock")
USER_TENDENCY_COL: Final = FEATURE_NAMES.index("user_tend_rock")
TIER_TENDENCY_COL: Final = FEATURE_NAMES.index("tend_favored")
SCORE_DIFF_COL: Final = FEATURE_NAMES.index("score_diff")
USER_PTS_TO_WIN_COL: Final = FEATURE_NAMES.index("user_pts_to_win")
BOT_PTS_TO_WIN_COL: Final = FEATURE_NAMES.index("bot_pts_to_win")
STEP_NO_COL: Final = FEATURE_NAMES.index("step_no")
EASY_MODE_COL: Final = FEATURE_NAMES.index("easy_mode")

assert len(FEATURE_NAMES) == FEATURE_COUNT, "the feature contract has exactly 50 names"
assert len(set(FEATURE_NAMES)) == FEATURE_COUNT, "feature names are unique"
assert EASY_MODE_COL == FEATURE_COUNT - 1, "easy_mode must stay the fiftieth feature"
