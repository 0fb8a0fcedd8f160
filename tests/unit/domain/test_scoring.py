"""Scoring of a round and the end of a game (SPEC §1.2), with real games played through Game."""

from __future__ import annotations

import pytest

from rps.domain.errors import GameError, GameFinished
from rps.domain.game import Game
from rps.domain.move import MOVES, Move, Outcome, Winner
from rps.domain.round_values import RoundValues, round_values
from rps.domain.scoring import score_round, tenths_to_points, winner_of

R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
# "test-game" round 1: rock 2.0, paper 1.0, scissors 1.5
R1 = round_values("test-game", 1)


def _play(game: Game, moves: list[tuple[Move, Move]]) -> None:
    for user_move, bot_move in moves:
        game.play(user_move, bot_move)


@pytest.mark.parametrize("move", MOVES)
def test_draw_gives_half_a_point_to_each_side(move):
    score = score_round(move, move, R1)
    assert score.outcome is Outcome.DRAW
    assert (score.user_delta, score.bot_delta) == (5, 5)


@pytest.mark.parametrize(
    ("user_move", "bot_move", "expected"),
    [
        # The winner gains the value of the move the winner played, never the loser's move.
        (P, R, (Outcome.WIN, 10, 0)),  # paper (1.0) beats rock (2.0): user gains 1.0
        (S, P, (Outcome.WIN, 15, 0)),
        (R, S, (Outcome.WIN, 20, 0)),
        (R, P, (Outcome.LOSE, 0, 10)),  # bot's paper wins: bot gains 1.0, not rock's 2.0
        (P, S, (Outcome.LOSE, 0, 15)),
        (S, R, (Outcome.LOSE, 0, 20)),
    ],
)
def test_winner_gains_the_value_of_the_move_the_winner_played(user_move, bot_move, expected):
    score = score_round(user_move, bot_move, R1)
    assert (score.outcome, score.user_delta, score.bot_delta) == expected


def test_outcomes_are_stored_from_the_users_view():
    game = Game("test-game")
    played = game.play(R, P)  # the bot wins
    assert played.outcome is Outcome.LOSE
    assert (played.user_delta, played.bot_delta) == (0, 10)
    assert (played.user_score, played.bot_score) == (0, 10)
    assert played.values == R1
    assert played.round_no == 1


def test_game_keeps_scores_above_ten_exactly():
    game = Game("test-game")
    _play(game, [(R, R), (R, R), (R, R), (P, R), (R, S), (P, R), (P, R), (R, S)])
    assert (game.user_score, game.bot_score) == (95, 15)
    assert not game.finished
    values = game.next_values()
    assert values.tenths(S) == 20
    played = game.play(S, P)  # 9.5 + 2.0
    assert played.user_delta == 20
    assert game.user_score == 115
    assert tenths_to_points(game.user_score) == 11.5
    assert game.winner is Winner.USER


def test_scores_are_exact_tenths_where_float_sums_would_drift():
    moves = [(P, R), (R, S), (P, R), (P, R), (R, S), (P, R), (R, S), (S, P)]
    game = Game(ZERO_UUID)
    float_total = 0.0
    for user_move, bot_move in moves:
        float_total += game.next_values().points(user_move)
        game.play(user_move, bot_move)
    assert float_total < 10.0  # 1.2+1.2+1.2+1.1+1.1+1.3+1.5+1.4 in floats
    assert game.user_score == 100
    assert game.winner is Winner.USER


def test_a_game_goes_on_while_nobody_has_reached_ten():
    assert winner_of(0, 0) is None
    assert winner_of(99, 99) is None


@pytest.mark.parametrize(
    ("user", "bot", "winner"),
    [
        (100, 0, Winner.USER),
        (100, 99, Winner.USER),
        (120, 35, Winner.USER),
        (99, 100, Winner.BOT),
        (0, 115, Winner.BOT),
    ],
)
def test_the_side_that_reached_ten_wins(user, bot, winner):
    assert winner_of(user, bot) is winner


@pytest.mark.parametrize(
    ("user", "bot", "winner"),
    [
        (101, 100, Winner.USER),
        (100, 103, Winner.BOT),
        (100, 100, Winner.TIE),
        (104, 104, Winner.TIE),
    ],
)
def test_both_sides_reaching_ten_the_higher_wins_and_equal_is_a_tie(user, bot, winner):
    assert winner_of(user, bot) is winner


def test_a_final_draw_with_both_at_nine_and_a_half_is_a_tie():
    game = Game("test-game")
    _play(game, [(R, S), (R, S), (R, P), (R, P), (R, S), (R, R)])
    _play(game, [(R, P), (R, S), (P, S), (R, S), (R, P)])
    assert (game.user_score, game.bot_score) == (95, 95)
    played = game.play(R, R)
    assert played.outcome is Outcome.DRAW
    assert (game.user_score, game.bot_score) == (100, 100)
    assert game.finished
    assert game.winner is Winner.TIE


def test_a_final_draw_reached_by_both_is_won_by_the_higher_score():
    game = Game("test-game")
    _play(game, [(R, S), (R, S), (R, P), (R, P), (R, R), (R, S)])
    _play(game, [(R, P), (R, S), (P, S), (R, S), (R, P)])
    assert (game.user_score, game.bot_score) == (96, 95)
    game.play(R, R)
    assert (game.user_score, game.bot_score) == (101, 100)
    assert game.winner is Winner.USER


def test_a_final_draw_reached_by_both_goes_to_the_bot_when_it_is_higher():
    game = Game("test-game")
    _play(game, [(R, S), (R, R), (P, S), (R, P), (R, S), (R, S)])
    _play(game, [(R, P), (R, S), (P, S), (S, R), (P, R)])
    assert (game.user_score, game.bot_score) == (95, 98)
    game.play(R, R)
    assert (game.user_score, game.bot_score) == (100, 103)
    assert game.winner is Winner.BOT


def test_finished_game_rejects_moves():
    game = Game(ZERO_UUID)
    _play(game, [(P, R), (R, S), (P, R), (P, R), (R, S), (P, R), (R, S), (S, P)])
    assert game.finished
    rounds_before = list(game.rounds)
    scores_before = (game.user_score, game.bot_score)
    with pytest.raises(GameFinished):
        game.play(R, R)
    assert game.rounds == rounds_before
    assert (game.user_score, game.bot_score) == scores_before


def test_game_finished_is_a_game_error():
    assert issubclass(GameFinished, GameError)


def test_a_new_game_starts_level_at_round_one():
    game = Game("fresh")
    assert (game.user_score, game.bot_score) == (0, 0)
    assert game.winner is None
    assert not game.finished
    assert game.next_round_no == 1
    assert game.next_values() == round_values("fresh", 1)


def test_each_round_uses_its_own_round_number_values():
    game = Game("test-game")
    for round_no in range(1, 6):
        assert game.next_values() == round_values("test-game", round_no)
        played = game.play(R, R)
        assert played.round_no == round_no
        assert played.values == round_values("test-game", round_no)


def test_score_round_uses_only_the_given_values():
    values = RoundValues(13, 18, 10)
    assert score_round(S, P, values).user_delta == 10
    assert score_round(P, S, values).bot_delta == 10
    assert score_round(P, R, values).user_delta == 18
