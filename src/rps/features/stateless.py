"""The feature row from an API call's move and result lists (``/predict``), without a stored game.

The lists are turned into the domain's :class:`PlayedRound` objects and handed to the online
implementation, so a stateless row is the online row of the same history by construction.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from rps.domain.history import PlayedRound
from rps.domain.move import MOVES, Outcome, parse_move
from rps.domain.round_values import RoundValues
from rps.domain.scoring import MAX_ROUNDS, score_round
from rps.features.online import online_features

ValuesInput = RoundValues | Mapping[str, float]

_VALUE_KEYS = frozenset(m.value for m in MOVES)
_TENTH_TOLERANCE = 1e-6


def _tenths(value: object, what: str) -> int:
    """A non-negative number of points exact to one decimal, as integer tenths."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {value!r}")
    points = float(value)
    if not math.isfinite(points) or points < 0:
        raise ValueError(f"{what} must be a finite number ≥ 0, got {value!r}")
    tenths = round(points * 10)
    if abs(points * 10 - tenths) > _TENTH_TOLERANCE:
        raise ValueError(f"{what} must be exact to one decimal, got {value!r}")
    return tenths


def _parse_values(values: ValuesInput, what: str) -> RoundValues:
    if isinstance(values, RoundValues):
        return values
    if not isinstance(values, Mapping):
        raise ValueError(f"{what} must be a mapping of rock, paper and scissors to points")
    keys = set(values)
    if keys != _VALUE_KEYS:
        missing = sorted(_VALUE_KEYS - keys)
        extra = sorted(str(k) for k in keys - _VALUE_KEYS)
        raise ValueError(
            f"{what} must have exactly the keys rock, paper, scissors "
            f"(missing: {missing or 'none'}, unexpected: {extra or 'none'})"
        )
    rock, paper, scissors = (_tenths(values[m.value], f"{what}[{m.value!r}]") for m in MOVES)
    if min(rock, paper, scissors) <= 0:
        raise ValueError(f"{what} must give every move a positive value, got {dict(values)}")
    return RoundValues(rock, paper, scissors)


def _parse_result(text: str, what: str) -> Outcome:
    try:
        return Outcome(str(text).strip().lower())
    except ValueError:
        raise ValueError(
            f"unknown result {text!r} in {what}: expected win, lose or draw (user's view)"
        ) from None


def _parse_move(text: str, what: str) -> int:
    try:
        return parse_move(str(text)).position
    except ValueError:
        raise ValueError(
            f"unknown move {text!r} in {what}: expected rock, paper or scissors"
        ) from None


def stateless_features(
    player_history: Sequence[str],
    bot_history: Sequence[str],
    result_history: Sequence[str],
    round_values: ValuesInput,
    history_round_values: Sequence[ValuesInput | None] | None = None,
    user_score: float | None = None,
    bot_score: float | None = None,
) -> npt.NDArray[np.float64]:
    """The (50,) float64 feature row for the round after the given history.

    ``player_history`` / ``bot_history`` are move names, ``result_history`` outcomes from the
    user's view, one per earlier round and oldest first. ``round_values`` are this round's values;
    a missing ``history_round_values`` (or a ``None`` entry) means that round had this round's
    values. A missing score is replayed from the outcomes: a win gives the user the value of the
    user's move in that round's values, a loss gives the bot the value of the bot's move, a draw
    0.5 each. ``ValueError`` says exactly what is wrong with malformed input.
    """
    n = len(player_history)
    if len(bot_history) != n or len(result_history) != n:
        raise ValueError(
            "player_history, bot_history and result_history must have the same length, got "
            f"{n}, {len(bot_history)} and {len(result_history)}"
        )
    if n >= MAX_ROUNDS:
        raise ValueError(
            f"the history has {n} rounds, but a game lasts at most {MAX_ROUNDS} rounds, so at "
            f"most {MAX_ROUNDS - 1} can precede the round being predicted"
        )
    if history_round_values is not None and len(history_round_values) != n:
        raise ValueError(
            f"history_round_values has {len(history_round_values)} entries, expected one per "
            f"round of history ({n})"
        )
    current = _parse_values(round_values, "round_values")

    rounds: list[PlayedRound] = []
    user_total = 0
    bot_total = 0
    for i in range(n):
        round_no = i + 1
        user = MOVES[_parse_move(player_history[i], f"player_history[{i}]")]
        bot = MOVES[_parse_move(bot_history[i], f"bot_history[{i}]")]
        result = _parse_result(result_history[i], f"result_history[{i}]")
        given = history_round_values[i] if history_round_values is not None else None
        values = current if given is None else _parse_values(given, f"history_round_values[{i}]")
        score = score_round(user, bot, values)
        if score.outcome is not result:
            raise ValueError(
                f"result_history[{i}] is {result.value!r}, but the user playing {user.value} "
                f"against the bot's {bot.value} is a {score.outcome.value} (user's view)"
            )
        user_total += score.user_delta
        bot_total += score.bot_delta
        rounds.append(
            PlayedRound(
                round_no=round_no,
                user_move=user,
                bot_move=bot,
                outcome=result,
                values=values,
                user_delta=score.user_delta,
                bot_delta=score.bot_delta,
                user_score=user_total,
                bot_score=bot_total,
            )
        )

    given_user = None if user_score is None else _tenths(user_score, "user_score")
    given_bot = None if bot_score is None else _tenths(bot_score, "bot_score")
    if rounds:
        # Only the totals after the last round reach the features; the caller's word wins there.
        last = rounds[-1]
        rounds[-1] = replace(
            last,
            user_score=last.user_score if given_user is None else given_user,
            bot_score=last.bot_score if given_bot is None else given_bot,
        )
    elif given_user or given_bot:
        raise ValueError(
            f"user_score {user_score} and bot_score {bot_score} must be 0 (or omitted) when the "
            "history is empty: no round has been played"
        )
    return online_features(rounds, current)
