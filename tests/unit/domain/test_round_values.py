"""Round values (SPEC §1.1): the published test vectors and the shape every round must have."""

from __future__ import annotations

import pytest

from rps.domain.move import MOVES, Move, Outcome, Rank, beater, outcome
from rps.domain.round_values import RoundValues, round_values

ZERO_UUID = "00000000-0000-0000-0000-000000000000"

SPEC_VECTORS = {
    "test-game": [
        (2.0, 1.0, 1.5),
        (1.9, 1.0, 1.4),
        (1.0, 1.5, 2.0),
        (1.3, 1.8, 1.0),
        (1.6, 1.0, 1.1),
    ],
    ZERO_UUID: [
        (1.0, 1.2, 1.7),
        (1.2, 1.7, 1.0),
        (1.0, 1.2, 1.7),
        (1.0, 1.1, 1.6),
        (1.1, 1.6, 1.0),
    ],
}

VECTOR_CASES = [
    pytest.param(game_id, round_no, expected, id=f"{game_id}-R{round_no}")
    for game_id, rounds in SPEC_VECTORS.items()
    for round_no, expected in enumerate(rounds, start=1)
]


@pytest.mark.parametrize(("game_id", "round_no", "expected"), VECTOR_CASES)
def test_round_values_match_the_spec_test_vectors(game_id, round_no, expected):
    values = round_values(game_id, round_no)
    assert (values.points(Move.ROCK), values.points(Move.PAPER), values.points(Move.SCISSORS)) == (
        expected
    )
    assert values.as_points() == dict(zip(("rock", "paper", "scissors"), expected, strict=True))


@pytest.mark.parametrize(("game_id", "round_no", "expected"), VECTOR_CASES)
def test_round_values_are_exact_integer_tenths(game_id, round_no, expected):
    values = round_values(game_id, round_no)
    assert values.as_tuple() == tuple(round(x * 10) for x in expected)
    assert all(isinstance(t, int) for t in values.as_tuple())


def _assert_shape(values: RoundValues) -> None:
    low, base, high = sorted(values.as_tuple())
    assert low == 10
    assert base in (11, 12, 13, 14, 15)
    assert high == base + 5
    assert len(set(values.as_tuple())) == 3


@pytest.mark.parametrize("game_id", ["test-game", ZERO_UUID, "another-game", "ünïcødé-id"])
@pytest.mark.parametrize("round_no", [1, 2, 3, 7, 19, 20, 1000])
def test_values_are_one_base_and_base_plus_a_half(game_id, round_no):
    _assert_shape(round_values(game_id, round_no))


@pytest.mark.parametrize(("game_id", "round_no", "expected"), VECTOR_CASES)
def test_highest_valued_move_loses_to_the_lowest_valued_one(game_id, round_no, expected):
    values = round_values(game_id, round_no)
    best, lowest = values.best(), values.lowest()
    assert beater(best) is lowest
    assert outcome(best, lowest) is Outcome.LOSE
    # The lowest-valued move is worth 1.0 and the move it beats is the best one.
    assert values.points(lowest) == 1.0
    assert values.tenths(best) == max(values.as_tuple())


def test_ranks_order_the_moves_from_highest_to_lowest_value():
    values = round_values("test-game", 1)  # rock 2.0, paper 1.0, scissors 1.5
    assert values.ranked() == (Move.ROCK, Move.SCISSORS, Move.PAPER)
    assert values.best() is Move.ROCK
    assert values.middle() is Move.SCISSORS
    assert values.lowest() is Move.PAPER
    assert [values.rank_of(m) for m in MOVES] == [Rank.HIGH, Rank.LOW, Rank.MIDDLE]


def test_round_values_depend_on_the_game_id_and_round():
    firsts = {round_values(f"game-{i}", 1).as_tuple() for i in range(40)}
    per_round = {round_values("test-game", r).as_tuple() for r in range(1, 41)}
    assert len(firsts) > 1
    assert len(per_round) > 1


@pytest.mark.parametrize("round_no", [0, -1])
def test_round_zero_and_negative_rounds_are_rejected(round_no):
    with pytest.raises(ValueError, match="start at 1"):
        round_values("test-game", round_no)


def test_from_points_converts_to_tenths_without_float_drift():
    values = RoundValues.from_points(1.1, 1.6, 1.0)
    assert values.as_tuple() == (11, 16, 10)
