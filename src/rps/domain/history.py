"""A game's played rounds and the view one side has of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rps.domain.move import Move, Outcome
from rps.domain.round_values import RoundValues

Side = Literal["user", "bot"]


@dataclass(frozen=True, slots=True)
class PlayedRound:
    """One stored round. Scores are the totals after the round, all in tenths."""

    round_no: int
    user_move: Move
    bot_move: Move
    outcome: Outcome  # user's view
    values: RoundValues
    user_delta: int
    bot_delta: int
    user_score: int
    bot_score: int


@dataclass(frozen=True, slots=True)
class PlayerView:
    """Everything one side may use to pick its move: the past, this round's values, the score.

    Written from the side's own view ("me", "my opponent") so a persona behaves the same whether
    it plays the user or the bot.
    """

    values: RoundValues
    my_moves: tuple[Move, ...]
    opponent_moves: tuple[Move, ...]
    my_results: tuple[Outcome, ...]
    past_values: tuple[RoundValues, ...]
    my_score: int
    opponent_score: int

    @property
    def rounds_played(self) -> int:
        return len(self.my_moves)

    def last_results(self, n: int) -> tuple[Outcome, ...]:
        return self.my_results[-n:] if n else ()

    def lost_each_of_last(self, n: int) -> bool:
        """True only when there are n rounds of history and I lost every one of them."""
        return len(self.my_results) >= n and all(r is Outcome.LOSE for r in self.my_results[-n:])

    @classmethod
    def of(
        cls,
        side: Side,
        rounds: list[PlayedRound] | tuple[PlayedRound, ...],
        values: RoundValues,
    ) -> PlayerView:
        """The view of ``side`` before the next round, whose values are ``values``."""
        users = tuple(r.user_move for r in rounds)
        bots = tuple(r.bot_move for r in rounds)
        results = tuple(r.outcome for r in rounds)
        user_score = rounds[-1].user_score if rounds else 0
        bot_score = rounds[-1].bot_score if rounds else 0
        past = tuple(r.values for r in rounds)
        if side == "user":
            return cls(values, users, bots, results, past, user_score, bot_score)
        return cls(
            values, bots, users, tuple(r.flipped() for r in results), past, bot_score, user_score
        )
