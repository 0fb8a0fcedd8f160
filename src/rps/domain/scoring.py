"""Scoring of a round and the end-of-game rule (SPEC §1.2), in exact integer tenths."""

from __future__ import annotations

from dataclasses import dataclass

from rps.domain.move import Move, Outcome, Winner, outcome
from rps.domain.round_values import RoundValues

TARGET_TENTHS = 100
DRAW_TENTHS = 5
MAX_ROUNDS = 20  # every round adds ≥ 1.0 to the two scores together


@dataclass(frozen=True, slots=True)
class RoundScore:
    """What one round did: its outcome (user view) and the points each side gained, in tenths."""

    outcome: Outcome
    user_delta: int
    bot_delta: int


def score_round(user_move: Move, bot_move: Move, values: RoundValues) -> RoundScore:
    """Score one round: a draw gives both 0.5; otherwise the winner gains its move's value."""
    result = outcome(user_move, bot_move)
    if result is Outcome.DRAW:
        return RoundScore(result, DRAW_TENTHS, DRAW_TENTHS)
    if result is Outcome.WIN:
        return RoundScore(result, values.tenths(user_move), 0)
    return RoundScore(result, 0, values.tenths(bot_move))


def winner_of(user_tenths: int, bot_tenths: int) -> Winner | None:
    """The winner once a side has reached the target; None while the game goes on."""
    user_done = user_tenths >= TARGET_TENTHS
    bot_done = bot_tenths >= TARGET_TENTHS
    if not (user_done or bot_done):
        return None
    if user_done and bot_done:
        if user_tenths == bot_tenths:
            return Winner.TIE
        return Winner.USER if user_tenths > bot_tenths else Winner.BOT
    return Winner.USER if user_done else Winner.BOT


def tenths_to_points(tenths: int) -> float:
    return tenths / 10
