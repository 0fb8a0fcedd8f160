"""The eight scripted personas (SPEC §2): every branch of every rule, from crafted situations."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import pytest

from rps.domain.game import Game
from rps.domain.history import PlayerView
from rps.domain.move import MOVES, Move, Outcome, beater, outcome, prey
from rps.domain.personas import (
    DETERMINISTIC_PERSONAS,
    PERSONAS,
    PersonaName,
    ace,
    bob,
    cal,
    dan,
    dan_weights,
    edd,
    fox,
    gus,
    hal,
    parse_persona,
    persona_move,
)
from rps.domain.round_values import RoundValues, round_values
from rps.domain.scoring import score_round

R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS
W, L, D = Outcome.WIN, Outcome.LOSE, Outcome.DRAW

# Value sets (rock, paper, scissors) in tenths, from the SPEC test vectors.
V1 = round_values("test-game", 1)  # 2.0 1.0 1.5: best R, middle S, lowest P; spread 1.0
V3 = round_values("test-game", 3)  # 1.0 1.5 2.0: best S, middle P, lowest R; spread 1.0
V4 = round_values("test-game", 4)  # 1.3 1.8 1.0: best P, middle R, lowest S; spread 0.8
V5 = round_values("test-game", 5)  # 1.6 1.0 1.1: best R, middle S, lowest P; spread 0.6
Z1 = round_values("00000000-0000-0000-0000-000000000000", 1)  # 1.0 1.2 1.7; spread 0.7
V2 = round_values("test-game", 2)  # 1.9 1.0 1.4: best R, middle S, lowest P


def test_value_sets_used_below_are_the_spec_vectors():
    assert V1.as_tuple() == (20, 10, 15)
    assert V2.as_tuple() == (19, 10, 14)
    assert V3.as_tuple() == (10, 15, 20)
    assert V4.as_tuple() == (13, 18, 10)
    assert V5.as_tuple() == (16, 10, 11)
    assert Z1.as_tuple() == (10, 12, 17)


def _opponent_move(mine: Move, result: Outcome) -> Move:
    return {W: prey(mine), L: beater(mine), D: mine}[result]


def view(
    values: RoundValues,
    mine: Sequence[Move] = (),
    theirs: Sequence[Move] | None = None,
    results: Sequence[Outcome] | None = None,
    past: Sequence[RoundValues] | None = None,
    scores: tuple[int, int] | None = None,
) -> PlayerView:
    """A consistent PlayerView: opponent moves follow from results or results from moves.

    Scores default to the real totals of the history under ``past`` values (default: ``values``).
    """
    mine = tuple(mine)
    if theirs is None:
        pairs = zip(mine, results or (), strict=True)
        theirs = tuple(_opponent_move(m, r) for m, r in pairs)
    theirs = tuple(theirs)
    computed = tuple(outcome(m, t) for m, t in zip(mine, theirs, strict=True))
    if results is not None:
        assert tuple(results) == computed, "inconsistent crafted history"
    past = tuple(past) if past is not None else (values,) * len(mine)
    if scores is None:
        my_score = opp_score = 0
        for m, t, v in zip(mine, theirs, past, strict=True):
            round_score = score_round(m, t, v)
            my_score += round_score.user_delta
            opp_score += round_score.bot_delta
        scores = (my_score, opp_score)
    return PlayerView(
        values=values,
        my_moves=mine,
        opponent_moves=theirs,
        my_results=computed,
        past_values=past,
        my_score=scores[0],
        opponent_score=scores[1],
    )


def _untouched(rule, v: PlayerView) -> Move:
    """Play a deterministic branch and check that it did not consume the injected RNG."""
    rng = random.Random(1234)
    state = rng.getstate()
    move = rule(v, rng)
    assert rng.getstate() == state, "a deterministic branch drew from the RNG"
    return move


def _random_branch_moves(rule, v: PlayerView, seeds: int = 300) -> Counter:
    """Moves played from many seeded RNGs; also checks each seed reproduces its move."""
    moves = Counter()
    for seed in range(seeds):
        first = rule(v, random.Random(seed))
        assert rule(v, random.Random(seed)) is first, "the move does not follow the injected RNG"
        moves[first] += 1
    return moves


def _assert_uniform(moves: Counter, seeds: int = 300) -> None:
    assert set(moves) == set(MOVES)
    for move in MOVES:
        assert 0.22 < moves[move] / seeds < 0.45, moves


# ---------------------------------------------------------------- ace


def test_ace_plays_best_with_no_history():
    assert _untouched(ace, view(V3)) is S


def test_ace_plays_best_after_winning_two_of_the_last_three():
    assert _untouched(ace, view(V3, mine=(R, P, P), results=(W, L, W))) is S


def test_ace_counts_only_the_rounds_that_exist_for_two_of_three():
    assert _untouched(ace, view(V3, mine=(P, S), results=(W, W))) is S


def test_ace_plays_the_beater_of_its_last_move_otherwise():
    # Two wins in the game, but only in rounds 1-2; the last three hold none.
    assert _untouched(ace, view(V3, mine=(R, R, P, P, S), results=(W, W, L, D, L))) is R
    assert _untouched(ace, view(V3, mine=(R, P, S), results=(L, W, L))) is R
    assert _untouched(ace, view(V3, mine=(S,), results=(W,))) is R


# ---------------------------------------------------------------- bob


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [(0, R), (1, P), (2, S), (3, R), (4, P), (5, S)],  # V1: best R, lowest P, middle S
)
def test_bob_rotates_best_lowest_middle_by_rounds_played(rounds, expected):
    v = view(V1, mine=(R,) * rounds, results=(L,) * rounds)
    assert _untouched(bob, v) is expected


def test_bob_keeps_rotating_with_only_one_win_in_the_last_three():
    v = view(V1, mine=(R, R, R, R), results=(W, W, L, L))  # n mod 3 = 1 → lowest
    assert _untouched(bob, v) is P
    v = view(V1, mine=(R, R, R, R, R), results=(W, L, D, W, L))  # n mod 3 = 2 → middle
    assert _untouched(bob, v) is S


def test_bob_after_two_wins_beats_the_opponents_favourite_tier_judged_by_past_values():
    # Opponent's tiers: paper was L in V1, rock was L in V3, rock was M in V4 → L is the favourite
    # (while rock is the favourite *move*). Now (V5) the lowest is paper → beater is scissors.
    v = view(V5, mine=(S, P, S), theirs=(P, R, R), past=(V1, V3, V4))
    assert v.my_results == (W, W, L)
    assert _untouched(bob, v) is S


def test_bob_tier_ties_prefer_middle_over_lowest():
    v = view(V5, mine=(R, S), theirs=(S, P), past=(V1, V1))  # tiers M, L
    assert v.my_results == (W, W)
    assert _untouched(bob, v) is R  # middle now is S → beater R


def test_bob_tier_ties_prefer_best_first():
    v = view(V5, mine=(P, S, P), theirs=(R, P, S), past=(V1, V1, V1))  # tiers H, L, M
    assert v.my_results == (W, W, L)
    assert _untouched(bob, v) is P  # best now is R → beater P


def test_bob_counts_tiers_over_the_whole_game():
    # Tiers H, H, M, L, L: whole game ties H/L → H; the last three alone would say L.
    v = view(V5, mine=(S, S, R, S, P), theirs=(R, R, S, P, P), past=(V1,) * 5)
    assert v.my_results == (L, L, W, W, D)
    assert _untouched(bob, v) is P


# ---------------------------------------------------------------- cal


def test_cal_plays_best_after_losing_each_of_the_last_three():
    assert _untouched(cal, view(V4, mine=(R, R, R), results=(L, L, L))) is P
    assert _untouched(cal, view(V4, mine=(R, R, R, R), results=(W, L, L, L))) is P


@pytest.mark.parametrize(
    "results",
    [(), (L,), (L, L), (L, L, D), (L, L, L, W), (W, L, L)],
)
def test_cal_plays_the_beater_of_best_otherwise(results):
    v = view(V4, mine=(R,) * len(results), results=results)
    move = _untouched(cal, v)
    assert move is beater(V4.best()) is S
    assert move is V4.lowest()


# ---------------------------------------------------------------- dan


def test_dan_weights_with_no_history_follow_the_best_value():
    # best R (2.0) → clamp(0.6); beater(best) P → 0.30; other S → max(0.05, 0.1)
    assert dan_weights(view(V1)) == pytest.approx([0.6, 0.3, 0.1])


def test_dan_weights_add_loss_behind_and_favourite_bonuses():
    # V4: best P (1.8) → 0.4, beater(best) S 0.3, other R 0.3.
    # Lost last (+0.15 P), behind (+0.10 S), opponent played rock 2 of 3 ≥ max(2, 1) (+0.10 P).
    v = view(V4, mine=(S, S, R), theirs=(R, R, P), scores=(20, 35))
    assert v.my_results == (L, L, L)
    assert dan_weights(v) == pytest.approx([0.3, 0.65, 0.4])


def test_dan_weights_add_win_and_lead_bonuses_and_look_at_the_last_ten_rounds_only():
    # V5: best R (1.6) → 0.2, beater(best) P 0.3, other S 0.5; won last (+0.05 S), ahead (+0.05 S).
    # Last 10 opponent moves: rock 5, paper 5 → rock (ties: rock first), 5 ≥ max(2, 10 // 2) → +0.10
    # to paper. Over all 13 rounds rock's 5 would miss max(2, 6).
    theirs = (S, S, S, R, R, R, R, R, P, P, P, P, P)
    v = view(V5, mine=(S,) * 13, theirs=theirs, scores=(60, 40))
    assert v.my_results[-1] is W
    assert dan_weights(v) == pytest.approx([0.2, 0.4, 0.6])


def test_dan_weights_need_at_least_two_occurrences_of_the_favourite():
    # A draw last round and level scores add nothing; one rock is below max(2, 0).
    v = view(V2, mine=(R,), theirs=(R,))
    assert (v.my_score, v.opponent_score) == (5, 5)
    assert dan_weights(v) == pytest.approx([0.5, 0.3, 0.2])


@pytest.mark.parametrize(
    ("theirs", "expected"),
    [
        ((P, P, P, R, S, R), [0.6, 0.3, 0.2]),  # paper 3 ≥ max(2, 3) → +0.10 scissors
        ((P, P, P, R, S, R, S, R), [0.6, 0.3, 0.1]),  # rock/paper 3 < max(2, 4) → nothing
    ],
)
def test_dan_favourite_threshold_is_half_the_rounds_considered(theirs, expected):
    v = view(V1, mine=theirs, theirs=theirs)  # all draws, level scores
    assert dan_weights(v) == pytest.approx(expected)


def test_dan_clamps_the_best_weight_from_below():
    # Not a value set a game produces (best only 1.5); it pins clamp(…, 0.10, …) and 1 − 0.1 − 0.3.
    assert dan_weights(view(RoundValues(10, 11, 15))) == pytest.approx([0.3, 0.6, 0.1])


def test_dan_samples_its_normalised_weights_with_the_injected_rng():
    v = view(V4, mine=(S, S, R), theirs=(R, R, P), scores=(20, 35))
    weights = dan_weights(v)
    total = sum(weights)
    draws = 20_000
    rng = random.Random(4242)
    counts = Counter(dan(v, rng) for _ in range(draws))
    for move in MOVES:
        assert abs(counts[move] / draws - weights[move.position] / total) < 0.015, counts
    moves = _random_branch_moves(dan, v, seeds=50)
    assert len(moves) == 3


# ---------------------------------------------------------------- edd


def test_edd_plays_best_with_no_history():
    assert _untouched(edd, view(V3)) is S


def test_edd_plays_best_after_losing_the_last_round():
    assert _untouched(edd, view(V1, mine=(S, R), theirs=(P, P))) is R


def test_edd_plays_the_beater_of_the_opponents_most_common_move_otherwise():
    v = view(V1, mine=(P, S, P), theirs=(R, P, P))  # W, W, D
    assert _untouched(edd, v) is S


def test_edd_breaks_most_common_ties_rock_paper_scissors():
    v = view(V1, mine=(R, S), theirs=(S, P))  # paper and scissors once each → paper
    assert v.my_results == (W, W)
    assert _untouched(edd, v) is S


# ---------------------------------------------------------------- fox


def test_fox_plays_lowest_when_ahead():
    assert _untouched(fox, view(V4, mine=(R,), theirs=(S,), scores=(30, 20))) is S


def test_fox_plays_beater_of_the_opponents_least_common_move_when_behind():
    v = view(V4, mine=(S, S, R), theirs=(R, R, P), scores=(10, 30))
    assert _untouched(fox, v) is R  # scissors never played → least common


def test_fox_least_common_ties_break_rock_first_and_count_unplayed_moves():
    v = view(V4, mine=(P,), theirs=(S,), scores=(0, 10))  # rock and paper both 0 → rock
    assert _untouched(fox, v) is P


@pytest.mark.parametrize("scores", [(0, 0), (55, 55)])
def test_fox_plays_middle_when_level(scores):
    rounds = 0 if scores == (0, 0) else 1
    v = view(V4, mine=(R,) * rounds, theirs=(R,) * rounds, scores=scores)
    assert _untouched(fox, v) is R


# ---------------------------------------------------------------- gus


def test_gus_plays_uniformly_at_random_after_losing_the_last_two():
    v = view(V1, mine=(R, R), theirs=(P, P))  # even though the spread is 1.0
    _assert_uniform(_random_branch_moves(gus, v))


def test_gus_one_loss_is_not_enough_for_random():
    assert _untouched(gus, view(V1, mine=(R,), theirs=(P,))) is R


def test_gus_plays_best_when_the_spread_is_at_least_point_eight():
    v = view(V4, mine=(R, R), theirs=(S, S))  # spread exactly 0.8
    assert _untouched(gus, v) is P


def test_gus_below_point_eight_spread_reads_the_opponent():
    v = view(Z1, mine=(R, R), theirs=(S, S))  # spread 0.7
    assert _untouched(gus, v) is R


def test_gus_with_no_history_and_a_high_spread_plays_best():
    assert _untouched(gus, view(V1)) is R


def test_gus_with_no_history_and_a_low_spread_plays_at_random():
    _assert_uniform(_random_branch_moves(gus, view(Z1)))


def test_gus_beats_the_opponents_repeated_last_move_before_the_majority_rule():
    v = view(Z1, mine=(S, S, S, R, R), theirs=(P, P, P, S, S))
    assert _untouched(gus, v) is R  # the majority rule alone would say beater(paper) = scissors


def test_gus_beats_a_move_played_in_half_of_the_opponents_rounds():
    v = view(Z1, mine=(P, S, P, R), theirs=(R, P, R, S))  # rock exactly 50%
    assert _untouched(gus, v) is P


def test_gus_two_moves_at_half_each_break_rock_first():
    v = view(Z1, mine=(P, S, P, S), theirs=(R, P, R, P))
    assert _untouched(gus, v) is P


def test_gus_otherwise_beats_the_opponents_last_move():
    v = view(Z1, mine=(P, R, S), theirs=(R, S, P))
    assert _untouched(gus, v) is S


# ---------------------------------------------------------------- hal


def test_hal_copies_the_opponents_most_common_of_the_last_three_after_three_losses():
    # Whole game: paper is the favourite; among the last three rock is.
    v = view(V1, mine=(P, P, P, S, P, S), theirs=(P, P, P, R, S, R))
    assert v.my_results[-3:] == (L, L, L)
    assert _untouched(hal, v) is R


def test_hal_breaks_ties_among_the_last_three_rock_first():
    v = view(V1, mine=(P, S, R), theirs=(S, R, P))
    assert v.my_results == (L, L, L)
    assert _untouched(hal, v) is R


@pytest.mark.parametrize("results", [(), (L, L), (L, L, L, D), (L, W, L)])
def test_hal_plays_middle_otherwise(results):
    v = view(V1, mine=(R,) * len(results), results=results)
    assert _untouched(hal, v) is S


# ---------------------------------------------------------------- all personas


SYMMETRY_MOVES = [(R, P), (R, P), (S, S), (P, R), (R, S), (S, P), (P, P), (R, P), (S, R)]


@pytest.mark.parametrize("name", list(PersonaName))
def test_persona_plays_the_same_from_the_user_and_the_bot_side(name):
    as_user = Game("symmetry")
    as_bot = Game("symmetry")
    for step, (a, b) in enumerate([*SYMMETRY_MOVES, (None, None)]):
        user_view, bot_view = as_user.view("user"), as_bot.view("bot")
        assert user_view == bot_view
        for seed in range(5):
            expected = persona_move(name, user_view, random.Random(seed))
            assert persona_move(name, bot_view, random.Random(seed)) is expected, (step, seed)
        if a is None or as_user.finished:
            break
        as_user.play(a, b)
        as_bot.play(b, a)


def test_bot_side_view_flips_results_and_scores():
    game = Game("test-game")
    game.play(P, R)  # user wins with paper (1.0)
    user_view, bot_view = game.view("user"), game.view("bot")
    assert user_view.my_results == (W,)
    assert bot_view.my_results == (L,)
    assert (user_view.my_score, user_view.opponent_score) == (10, 0)
    assert (bot_view.my_score, bot_view.opponent_score) == (0, 10)
    assert bot_view.my_moves == (R,)
    assert bot_view.opponent_moves == (P,)
    assert bot_view.values == round_values("test-game", 2)
    assert bot_view.past_values == (round_values("test-game", 1),)


def test_eight_personas_with_capitalised_display_names():
    names = ["ace", "bob", "cal", "dan", "edd", "fox", "gus", "hal"]
    assert [p.value for p in PersonaName] == names
    assert set(PERSONAS) == set(PersonaName)
    assert PersonaName.HAL.display_name == "Hal"
    assert frozenset({PersonaName.DAN, PersonaName.GUS}).isdisjoint(DETERMINISTIC_PERSONAS)
    assert len(DETERMINISTIC_PERSONAS) == 6


def test_persona_names_parse_case_insensitively_and_reject_unknown_names():
    assert parse_persona(" Cal ") is PersonaName.CAL
    with pytest.raises(ValueError, match="unknown persona 'zed'"):
        parse_persona("zed")
