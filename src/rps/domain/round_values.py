"""Deterministic per-round move values (SPEC §1.1).

Values are kept as integer tenths (10 = 1.0 point) so sums compare exactly; floats are produced only
at the edges.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from rps.domain.move import MOVES, Move, Rank, prey

BASE_TENTHS = (11, 12, 13, 14, 15)
LOW_TENTHS = 10
PREY_BONUS_TENTHS = 5


@dataclass(frozen=True, slots=True)
class RoundValues:
    """Point values of rock, paper and scissors for one round, in tenths."""

    rock: int
    paper: int
    scissors: int

    def tenths(self, move: Move) -> int:
        return (self.rock, self.paper, self.scissors)[move.position]

    def points(self, move: Move) -> float:
        return self.tenths(move) / 10

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.rock, self.paper, self.scissors)

    def as_points(self) -> dict[str, float]:
        """``{"rock": 1.0, ...}`` as the API shows it."""
        return {"rock": self.rock / 10, "paper": self.paper / 10, "scissors": self.scissors / 10}

    def ranked(self) -> tuple[Move, Move, Move]:
        """Moves from highest to lowest value (values within a round are always distinct)."""
        return tuple(sorted(MOVES, key=self.tenths, reverse=True))  # type: ignore[return-value]

    def move_of_rank(self, rank: Rank) -> Move:
        order = self.ranked()
        return order[{Rank.HIGH: 0, Rank.MIDDLE: 1, Rank.LOW: 2}[rank]]

    def rank_of(self, move: Move) -> Rank:
        return (Rank.HIGH, Rank.MIDDLE, Rank.LOW)[self.ranked().index(move)]

    def best(self) -> Move:
        return self.move_of_rank(Rank.HIGH)

    def middle(self) -> Move:
        return self.move_of_rank(Rank.MIDDLE)

    def lowest(self) -> Move:
        return self.move_of_rank(Rank.LOW)

    @classmethod
    def from_points(cls, rock: float, paper: float, scissors: float) -> RoundValues:
        return cls(round(rock * 10), round(paper * 10), round(scissors * 10))


def _digest_number(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:2], "big")


@lru_cache(maxsize=65536)
def round_values(game_id: str, round_no: int) -> RoundValues:
    """The values of the three moves in round ``round_no`` (1-based) of game ``game_id``.

    The lowest-valued move gets 1.0, the move it beats gets base + 0.5 and the third gets base,
    with base drawn from 1.1–1.5; so the highest-valued move always loses to the lowest-valued one.
    """
    if round_no < 1:
        raise ValueError(f"round numbers start at 1, got {round_no}")
    low = MOVES[_digest_number(f"{game_id}:{round_no}:low") % 3]
    base = BASE_TENTHS[_digest_number(f"{game_id}:{round_no}:base") % 5]
    tenths = dict.fromkeys(MOVES, base)
    tenths[low] = LOW_TENTHS
    tenths[prey(low)] = base + PREY_BONUS_TENTHS
    return RoundValues(tenths[Move.ROCK], tenths[Move.PAPER], tenths[Move.SCISSORS])
