"""Online and stateless feature rows: hand-computed values, no leakage, the same answer twice."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from rps.domain.game import Game
from rps.domain.move import Move
from rps.domain.personas import PersonaName, persona_move
from rps.domain.round_values import RoundValues, round_values
from rps.features import (
    FEATURE_COUNT,
    FEATURE_NAMES,
    OnlineFeatureState,
    online_features,
    stateless_features,
)

R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS
# "test-game" values (SPEC §1.1): R1 (2.0, 1.0, 1.5); R2 (1.9, 1.0, 1.4); R3 (1.0, 1.5, 2.0);
# R4 (1.3, 1.8, 1.0)
CRAFTED_MOVES = [(R, S), (P, P), (R, P)]  # user wins 2.0, draw 0.5 each, bot wins 1.5


def _crafted_game() -> Game:
    game = Game("test-game")
    for user, bot in CRAFTED_MOVES:
        game.play(user, bot)
    return game


def _as_dict(row: np.ndarray) -> dict[str, float]:
    assert row.shape == (FEATURE_COUNT,)
    assert row.dtype == np.float64
    return dict(zip(FEATURE_NAMES, row.tolist(), strict=True))


def _assert_features(row: np.ndarray, expected: dict[str, float]) -> None:
    """Every named feature has its value and every other feature is 0."""
    unknown = set(expected) - set(FEATURE_NAMES)
    assert not unknown, f"not feature names: {unknown}"
    actual = _as_dict(row)
    wrong = {
        name: (actual[name], expected.get(name, 0.0))
        for name in FEATURE_NAMES
        if actual[name] != expected.get(name, 0.0)
    }
    assert not wrong, f"(actual, expected) differ: {wrong}"


def _play_personas(game_id: str, seed: int) -> Game:
    rng = random.Random(seed)
    game = Game(game_id)
    while not game.finished:
        game.play(
            persona_move(PersonaName.DAN, game.view("user"), rng),
            persona_move(PersonaName.GUS, game.view("bot"), rng),
        )
    return game


def test_first_round_has_no_lags_current_values_everywhere_and_step_one() -> None:
    row = online_features([], round_values("test-game", 1))

    _assert_features(
        row,
        {
            "rock_pts": 2.0,
            "paper_pts": 1.0,
            "scissors_pts": 1.5,
            **{f"points_-{k}_rock": 2.0 for k in (1, 2, 3)},
            **{f"points_-{k}_paper": 1.0 for k in (1, 2, 3)},
            **{f"points_-{k}_scissors": 1.5 for k in (1, 2, 3)},
            "user_pts_to_win": 10.0,
            "bot_pts_to_win": 10.0,
            "step_no": 1.0,
        },
    )


def test_second_round_sees_only_the_first() -> None:
    game = _crafted_game()

    row = online_features(game.rounds[:1], round_values("test-game", 2))

    _assert_features(
        row,
        {
            "user_-1_rock": 1.0,
            "bot_-1_scissors": 1.0,
            "res_-1_win": 1.0,
            "rock_pts": 1.9,
            "paper_pts": 1.0,
            "scissors_pts": 1.4,
            "points_-1_rock": 2.0,
            "points_-1_paper": 1.0,
            "points_-1_scissors": 1.5,
            **{f"points_-{k}_rock": 1.9 for k in (2, 3)},
            **{f"points_-{k}_paper": 1.0 for k in (2, 3)},
            **{f"points_-{k}_scissors": 1.4 for k in (2, 3)},
            "user_tend_rock": 1.0,
            "tend_favored": 1.0,  # rock was round 1's highest-valued move
            "score_diff": 2.0,
            "user_pts_to_win": 8.0,
            "bot_pts_to_win": 10.0,
            "step_no": 2.0,
        },
    )


def test_fourth_round_row_matches_hand_computed_values() -> None:
    game = _crafted_game()

    row = online_features(game.rounds, round_values("test-game", 4))

    _assert_features(
        row,
        {
            "user_-1_rock": 1.0,
            "user_-2_paper": 1.0,
            "user_-3_rock": 1.0,
            "bot_-1_paper": 1.0,
            "bot_-2_paper": 1.0,
            "bot_-3_scissors": 1.0,
            "res_-1_lose": 1.0,
            "res_-2_draw": 1.0,
            "res_-3_win": 1.0,
            "rock_pts": 1.3,
            "paper_pts": 1.8,
            "scissors_pts": 1.0,
            "points_-1_rock": 1.0,
            "points_-1_paper": 1.5,
            "points_-1_scissors": 2.0,
            "points_-2_rock": 1.9,
            "points_-2_paper": 1.0,
            "points_-2_scissors": 1.4,
            "points_-3_rock": 2.0,
            "points_-3_paper": 1.0,
            "points_-3_scissors": 1.5,
            "user_tend_rock": 2 / 3,
            "user_tend_paper": 1 / 3,
            # R1 best rock, played rock; R2 best rock, played paper (its beater); R3 best
            # scissors, played rock (its beater)
            "tend_favored": 1 / 3,
            "tend_fav_beater": 2 / 3,
            "score_diff": 0.5,  # 2.5 − 2.0
            "user_pts_to_win": 7.5,
            "bot_pts_to_win": 8.0,
            "step_no": 4.0,
        },
    )


def test_points_to_win_never_go_below_zero() -> None:
    rounds = _crafted_game().rounds
    ahead = dataclasses.replace(rounds[-1], user_score=115, bot_score=30)

    row = _as_dict(online_features([*rounds[:-1], ahead], round_values("test-game", 4)))

    assert row["user_pts_to_win"] == 0.0
    assert row["bot_pts_to_win"] == 7.0
    assert row["score_diff"] == 8.5


def test_a_rounds_own_moves_never_reach_its_row() -> None:
    honest = _crafted_game()
    changed = Game("test-game")
    for user, bot in CRAFTED_MOVES[:2]:
        changed.play(user, bot)
    changed.play(S, S)  # round 3 differs in both moves and the outcome

    for n in range(3):
        assert np.array_equal(
            online_features(honest.rounds[:n], honest.rounds[n].values),
            online_features(changed.rounds[:n], changed.rounds[n].values),
        )
    after_honest = online_features(honest.rounds, round_values("test-game", 4))
    after_changed = online_features(changed.rounds, round_values("test-game", 4))
    assert not np.array_equal(after_honest, after_changed)


def test_incremental_state_equals_the_function_after_every_round() -> None:
    game = _play_personas("online-state", seed=7)
    state = OnlineFeatureState()

    for n, played in enumerate(game.rounds):
        assert state.rounds_played == n
        assert np.array_equal(
            state.row(played.values), online_features(game.rounds[:n], played.values)
        )
        state.push(played)


def test_incremental_state_refuses_a_round_out_of_order() -> None:
    game = _crafted_game()
    state = OnlineFeatureState()
    state.push(game.rounds[0])

    with pytest.raises(ValueError, match="expected round 2 of the game, got round 3"):
        state.push(game.rounds[2])


@pytest.mark.parametrize("seed", range(5))
def test_stateless_equals_online_for_the_same_history(seed: int) -> None:
    game = _play_personas(f"stateless-{seed}", seed)

    for n in range(len(game.rounds)):
        history = game.rounds[:n]
        current = game.rounds[n].values
        stateless = stateless_features(
            [r.user_move.value for r in history],
            [r.bot_move.value for r in history],
            [r.outcome.value for r in history],
            current.as_points(),
            history_round_values=[r.values.as_points() for r in history],
        )
        assert np.array_equal(stateless, online_features(history, current))


def test_stateless_accepts_given_scores_and_round_values_objects() -> None:
    game = _crafted_game()
    history = game.rounds
    current = round_values("test-game", 4)

    row = stateless_features(
        ["ROCK", " paper", "rock"],
        ["scissors", "paper", "paper"],
        ["win", "draw", "Lose"],
        current,
        history_round_values=[r.values for r in history],
        user_score=2.5,
        bot_score=2.0,
    )

    assert np.array_equal(row, online_features(history, current))


def test_stateless_replays_missing_scores_with_the_current_values() -> None:
    values = {"rock": 1.3, "paper": 1.8, "scissors": 1.0}

    # user rock beats scissors: +1.3 user; draw: +0.5 each; bot paper beats rock: +1.8 bot
    row = _as_dict(
        stateless_features(
            ["rock", "paper", "rock"],
            ["scissors", "paper", "paper"],
            ["win", "draw", "lose"],
            values,
        )
    )

    assert row["score_diff"] == -0.5  # 1.8 − 2.3
    assert row["user_pts_to_win"] == 8.2
    assert row["bot_pts_to_win"] == 7.7
    for k in (1, 2, 3):
        assert [row[f"points_-{k}_{m}"] for m in ("rock", "paper", "scissors")] == [1.3, 1.8, 1.0]


def test_stateless_replays_scores_with_each_rounds_own_values_when_given() -> None:
    row = _as_dict(
        stateless_features(
            ["rock", "scissors"],
            ["scissors", "rock"],
            ["win", "lose"],
            {"rock": 1.3, "paper": 1.8, "scissors": 1.0},
            history_round_values=[
                {"rock": 2.0, "paper": 1.0, "scissors": 1.5},
                None,  # this round had the current values
            ],
        )
    )

    assert row["user_pts_to_win"] == 8.0  # won 2.0 with rock in round 1
    assert row["bot_pts_to_win"] == 8.7  # won 1.3 with rock in round 2
    assert row["points_-2_rock"] == 2.0
    assert row["points_-1_rock"] == 1.3


def test_stateless_uses_a_given_score_and_replays_the_other() -> None:
    row = _as_dict(
        stateless_features(
            ["rock"],
            ["scissors"],
            ["win"],
            {"rock": 1.3, "paper": 1.8, "scissors": 1.0},
            bot_score=4.2,
        )
    )

    assert row["user_pts_to_win"] == 8.7
    assert row["bot_pts_to_win"] == 5.8
    assert row["score_diff"] == -2.9


VALUES = {"rock": 1.3, "paper": 1.8, "scissors": 1.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"player_history": ["rock", "paper"]},
            r"must have the same length, got 2, 1 and 1",
        ),
        (
            {"result_history": []},
            r"must have the same length, got 1, 1 and 0",
        ),
        (
            {"player_history": ["lizard"]},
            r"unknown move 'lizard' in player_history\[0\]: expected rock, paper or scissors",
        ),
        (
            {"bot_history": ["spock"]},
            r"unknown move 'spock' in bot_history\[0\]",
        ),
        (
            {"result_history": ["won"]},
            r"unknown result 'won' in result_history\[0\]: expected win, lose or draw",
        ),
        (
            {"result_history": ["lose"]},
            r"result_history\[0\] is 'lose', but the user playing rock against the bot's "
            r"scissors is a win",
        ),
        (
            {"round_values": {"rock": 1.3, "paper": 1.8}},
            r"round_values must have exactly the keys rock, paper, scissors "
            r"\(missing: \['scissors'\], unexpected: none\)",
        ),
        (
            {"round_values": {"rock": 1.3, "paper": "x", "scissors": 1.0}},
            r"round_values\['paper'\] must be a number, got 'x'",
        ),
        (
            {"round_values": {"rock": 1.33, "paper": 1.8, "scissors": 1.0}},
            r"round_values\['rock'\] must be exact to one decimal, got 1.33",
        ),
        (
            {"history_round_values": []},
            r"history_round_values has 0 entries, expected one per round of history \(1\)",
        ),
        (
            {"user_score": -1.0},
            r"user_score must be a finite number ≥ 0, got -1.0",
        ),
        (
            {"player_history": [], "bot_history": [], "result_history": [], "bot_score": 1.5},
            r"must be 0 \(or omitted\) when the history is empty",
        ),
    ],
)
def test_stateless_rejects_bad_input_with_a_precise_message(
    kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "player_history": ["rock"],
        "bot_history": ["scissors"],
        "result_history": ["win"],
        "round_values": VALUES,
    }
    arguments.update(kwargs)

    with pytest.raises(ValueError, match=message):
        stateless_features(**arguments)  # type: ignore[arg-type]


def test_stateless_rejects_a_history_of_twenty_rounds() -> None:
    with pytest.raises(ValueError, match=r"the history has 20 rounds, but a game lasts at most 20"):
        stateless_features(["rock"] * 20, ["rock"] * 20, ["draw"] * 20, VALUES)


def test_stateless_accepts_a_history_of_nineteen_rounds() -> None:
    row = _as_dict(stateless_features(["rock"] * 19, ["rock"] * 19, ["draw"] * 19, VALUES))

    assert row["step_no"] == 20.0
    assert row["user_tend_rock"] == 1.0
    assert row["user_pts_to_win"] == 0.5
    assert row["res_-3_draw"] == 1.0


def test_round_values_must_be_a_mapping_or_round_values() -> None:
    with pytest.raises(ValueError, match="round_values must be a mapping"):
        stateless_features([], [], [], (1.3, 1.8, 1.0))  # type: ignore[arg-type]


def test_stateless_first_round_equals_online_first_round() -> None:
    values = RoundValues(13, 18, 10)

    assert np.array_equal(stateless_features([], [], [], values), online_features([], values))
