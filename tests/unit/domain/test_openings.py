"""The ten named openings of rounds 1–3 (SPEC §1.3)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from rps.domain.move import Move, Rank
from rps.domain.openings import (
    OPENING_ROUNDS,
    OPENINGS,
    draw_opening,
    opening_by_name,
)

H, M, L = Rank.HIGH, Rank.MIDDLE, Rank.LOW
R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS

SPEC_OPENINGS = {
    "crescendo": ((L, M, H), 14),
    "denouement": ((H, M, L), 12),
    "paper-dolls": ((L, M, M), 12),
    "fistful-of-dollars": ((H, L, L), 10),
    "scissor-sandwich": ((L, M, L), 8),
    "bureaucrat": ((L, L, L), 6),
    "avalanche": ((H, H, H), 8),
    "toolbox": ((M, M, M), 6),
    "razor": ((M, L, H), 12),
    "switchblade": ((M, H, L), 12),
}

# "test-game" (rock, paper, scissors):
# R1 (2.0, 1.0, 1.5) → H rock, M scissors, L paper;
# R2 (1.9, 1.0, 1.4) → H rock, M scissors, L paper;
# R3 (1.0, 1.5, 2.0) → H scissors, M paper, L rock.
TEST_GAME_MOVES = {
    "crescendo": (P, S, S),
    "denouement": (R, S, R),
    "paper-dolls": (P, S, P),
    "fistful-of-dollars": (R, P, R),
    "scissor-sandwich": (P, S, R),
    "bureaucrat": (P, P, R),
    "avalanche": (R, R, S),
    "toolbox": (S, S, P),
    "razor": (S, P, S),
    "switchblade": (S, R, R),
}
# The zero UUID: R1 (1.0, 1.2, 1.7) → H scissors, M paper, L rock;
# R2 (1.2, 1.7, 1.0) → H paper, M rock, L scissors; R3 (1.0, 1.2, 1.7) → as R1.
ZERO_UUID_MOVES = {
    "crescendo": (R, R, S),
    "denouement": (S, R, R),
    "bureaucrat": (R, S, R),
    "avalanche": (S, P, S),
    "switchblade": (P, P, R),
}


def test_there_are_ten_openings_with_the_spec_names_sequences_and_weights():
    assert OPENING_ROUNDS == 3
    assert len(OPENINGS) == 10
    actual = {str(o.name): (o.ranks, o.weight) for o in OPENINGS}
    assert actual == SPEC_OPENINGS


@pytest.mark.parametrize("name", sorted(SPEC_OPENINGS))
def test_openings_can_be_looked_up_by_name(name):
    opening = opening_by_name(name)
    assert opening.name == name
    assert (opening.ranks, opening.weight) == SPEC_OPENINGS[name]


def test_unknown_opening_name_is_rejected():
    with pytest.raises(ValueError, match="unknown opening 'gambit'"):
        opening_by_name("gambit")


@pytest.mark.parametrize(("name", "expected"), sorted(TEST_GAME_MOVES.items()))
def test_openings_resolve_ranks_to_moves_for_the_test_game(name, expected):
    assert opening_by_name(name).resolve("test-game") == expected


@pytest.mark.parametrize(("name", "expected"), sorted(ZERO_UUID_MOVES.items()))
def test_openings_resolve_each_round_against_its_own_values(name, expected):
    assert opening_by_name(name).resolve("00000000-0000-0000-0000-000000000000") == expected


def test_draw_opening_with_the_same_seed_is_reproducible():
    rng_a, rng_b = random.Random(7), random.Random(7)
    seq_a = [draw_opening(rng_a).name for _ in range(200)]
    seq_b = [draw_opening(rng_b).name for _ in range(200)]
    assert seq_a == seq_b
    rng_c = random.Random(8)
    assert seq_a != [draw_opening(rng_c).name for _ in range(200)]
    assert len(set(seq_a)) == 10  # every opening can be drawn


def test_draw_opening_frequencies_follow_the_weights():
    draws = 30_000
    rng = random.Random(20240601)
    counts = Counter(draw_opening(rng).name for _ in range(draws))
    total_weight = sum(weight for _, weight in SPEC_OPENINGS.values())
    assert total_weight == 100
    chi_square = 0.0
    for name, (_, weight) in SPEC_OPENINGS.items():
        expected = draws * weight / total_weight
        chi_square += (counts[name] - expected) ** 2 / expected
    # 9 degrees of freedom: 27.88 is the 0.1% critical value. The seed is fixed, so this is exact.
    assert chi_square < 27.88, (chi_square, counts)
    # A swapped weight pair (e.g. 14 ↔ 6) moves a share by 8 points; keep each within 1.5 points.
    for name, (_, weight) in SPEC_OPENINGS.items():
        assert abs(counts[name] / draws - weight / total_weight) < 0.015, name
