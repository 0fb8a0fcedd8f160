"""The ten named openings the bot plays in rounds 1–3 (SPEC §1.3)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from rps.domain.move import Move, Rank
from rps.domain.round_values import round_values

OPENING_ROUNDS = 3
H, M, L = Rank.HIGH, Rank.MIDDLE, Rank.LOW


class OpeningName(StrEnum):
    CRESCENDO = "crescendo"
    DENOUEMENT = "denouement"
    PAPER_DOLLS = "paper-dolls"
    FISTFUL_OF_DOLLARS = "fistful-of-dollars"
    SCISSOR_SANDWICH = "scissor-sandwich"
    BUREAUCRAT = "bureaucrat"
    AVALANCHE = "avalanche"
    TOOLBOX = "toolbox"
    RAZOR = "razor"
    SWITCHBLADE = "switchblade"


@dataclass(frozen=True, slots=True)
class Opening:
    name: OpeningName
    ranks: tuple[Rank, Rank, Rank]
    weight: int

    def resolve(self, game_id: str) -> tuple[Move, Move, Move]:
        """The concrete moves for rounds 1–3 of ``game_id``, from each round's own values."""
        first, second, third = (
            round_values(game_id, i + 1).move_of_rank(rank) for i, rank in enumerate(self.ranks)
        )
        return (first, second, third)


OPENINGS: tuple[Opening, ...] = (
    Opening(OpeningName.CRESCENDO, (L, M, H), 14),
    Opening(OpeningName.DENOUEMENT, (H, M, L), 12),
    Opening(OpeningName.PAPER_DOLLS, (L, M, M), 12),
    Opening(OpeningName.FISTFUL_OF_DOLLARS, (H, L, L), 10),
    Opening(OpeningName.SCISSOR_SANDWICH, (L, M, L), 8),
    Opening(OpeningName.BUREAUCRAT, (L, L, L), 6),
    Opening(OpeningName.AVALANCHE, (H, H, H), 8),
    Opening(OpeningName.TOOLBOX, (M, M, M), 6),
    Opening(OpeningName.RAZOR, (M, L, H), 12),
    Opening(OpeningName.SWITCHBLADE, (M, H, L), 12),
)
OPENINGS_BY_NAME = {o.name: o for o in OPENINGS}


def draw_opening(rng: random.Random) -> Opening:
    """One opening drawn by weight. Production passes an unpredictable RNG (SystemRandom)."""
    return rng.choices(OPENINGS, weights=[o.weight for o in OPENINGS], k=1)[0]


def opening_by_name(name: str) -> Opening:
    try:
        return OPENINGS_BY_NAME[OpeningName(name)]
    except ValueError:
        raise ValueError(f"unknown opening {name!r}") from None
