"""Properties of the rules that must hold for every game, checked with hypothesis."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rps.domain.game import Game
from rps.domain.move import MOVES, Outcome, beater, outcome, prey
from rps.domain.personas import PersonaName, persona_move
from rps.domain.round_values import round_values
from rps.domain.scoring import MAX_ROUNDS

moves = st.sampled_from(MOVES)
game_ids = st.text(min_size=0, max_size=40)
move_sequences = st.lists(moves, min_size=MAX_ROUNDS, max_size=MAX_ROUNDS)
FAST = settings(max_examples=150, deadline=None)


def _play_sequences(game_id: str, user_moves: list, bot_moves: list) -> Game:
    game = Game(game_id)
    for user_move, bot_move in zip(user_moves, bot_moves, strict=True):
        if game.finished:
            break
        game.play(user_move, bot_move)
    return game


def _assert_round_invariants(game: Game) -> None:
    previous_user = previous_bot = 0
    for played in game.rounds:
        assert played.user_score >= previous_user
        assert played.bot_score >= previous_bot
        assert played.user_delta + played.bot_delta >= 10
        assert played.user_score == previous_user + played.user_delta
        assert played.bot_score == previous_bot + played.bot_delta
        previous_user, previous_bot = played.user_score, played.bot_score


@FAST
@given(game_id=game_ids, user_moves=move_sequences, bot_moves=move_sequences)
def test_any_two_move_sequences_finish_within_twenty_rounds(game_id, user_moves, bot_moves):
    game = _play_sequences(game_id, user_moves, bot_moves)
    assert game.finished
    assert len(game.rounds) <= MAX_ROUNDS == 20


@FAST
@given(game_id=game_ids, user_moves=move_sequences, bot_moves=move_sequences)
def test_scores_never_decrease_and_every_round_adds_at_least_one_point(
    game_id, user_moves, bot_moves
):
    game = _play_sequences(game_id, user_moves, bot_moves)
    _assert_round_invariants(game)


@FAST
@given(
    game_id=game_ids,
    user=st.sampled_from(list(PersonaName)),
    bot=st.sampled_from(list(PersonaName)),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_games_between_random_personas_finish_within_twenty_rounds(game_id, user, bot, seed):
    rng = random.Random(seed)
    game = Game(game_id)
    for _ in range(MAX_ROUNDS):
        if game.finished:
            break
        user_move = persona_move(user, game.view("user"), rng)
        bot_move = persona_move(bot, game.view("bot"), rng)
        game.play(user_move, bot_move)
    assert game.finished
    _assert_round_invariants(game)


@given(move=moves)
def test_beats_is_a_three_cycle(move):
    assert beater(beater(beater(move))) is move
    assert prey(prey(prey(move))) is move
    assert prey(beater(move)) is move
    assert beater(prey(move)) is move
    assert beater(move) is not move
    assert prey(move) is not beater(move)


@given(mine=moves, theirs=moves)
def test_outcome_is_antisymmetric(mine, theirs):
    assert outcome(mine, theirs) is outcome(theirs, mine).flipped()
    assert (outcome(mine, theirs) is Outcome.DRAW) == (mine is theirs)
    assert (outcome(mine, theirs) is Outcome.WIN) == (theirs is prey(mine))
    assert (outcome(mine, theirs) is Outcome.LOSE) == (theirs is beater(mine))


@settings(max_examples=300, deadline=None)
@given(game_id=game_ids, round_no=st.integers(min_value=1, max_value=10**6))
def test_round_values_are_always_one_base_and_base_plus_a_half(game_id, round_no):
    values = round_values(game_id, round_no)
    low, base, high = sorted(values.as_tuple())
    assert low == 10
    assert 11 <= base <= 15
    assert high == base + 5
    assert values.tenths(values.lowest()) == 10
    assert values.tenths(prey(values.lowest())) == high
    assert beater(values.best()) is values.lowest()


@given(game_id=game_ids, round_no=st.integers(max_value=0))
def test_round_values_reject_rounds_below_one(game_id, round_no):
    with pytest.raises(ValueError, match="start at 1"):
        round_values(game_id, round_no)
