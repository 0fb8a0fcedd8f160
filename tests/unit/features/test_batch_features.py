"""The batch feature matrix: game boundaries, labels and the table's invariants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rps.domain.game import Game
from rps.domain.move import Move
from rps.features import (
    FEATURE_COUNT,
    FEATURE_NAMES,
    RoundTable,
    batch_features,
    labelled_mask,
    labels,
    online_features,
)

R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS
LAG_COLUMNS = [
    FEATURE_NAMES.index(f"{g}_-{k}_{s}")
    for g, suffixes in (
        ("user", ("rock", "paper", "scissors")),
        ("bot", ("rock", "paper", "scissors")),
        ("res", ("win", "lose", "draw")),
    )
    for k in (1, 2, 3)
    for s in suffixes
]


def _game(game_id: str, moves: list[tuple[Move, Move]]) -> Game:
    game = Game(game_id)
    for user, bot in moves:
        game.play(user, bot)
    return game


def _two_games() -> list[Game]:
    return [
        _game("first", [(R, S), (P, P), (R, P), (S, P), (S, R)]),
        _game("second", [(P, R), (P, S), (R, R), (S, P)]),
    ]


def test_second_games_first_row_has_no_lags_from_the_game_before_it() -> None:
    first, second = _two_games()
    matrix = batch_features(RoundTable.from_games([first, second]))
    start = len(first.rounds)
    row = dict(zip(FEATURE_NAMES, matrix[start], strict=True))

    assert not matrix[start, LAG_COLUMNS].any()
    assert [row[f"points_-{k}_{m}"] for k in (1, 2, 3) for m in ("rock", "paper", "scissors")] == [
        row["rock_pts"],
        row["paper_pts"],
        row["scissors_pts"],
    ] * 3
    assert row["user_tend_rock"] == row["user_tend_paper"] == row["user_tend_scissors"] == 0.0
    assert row["tend_favored"] == row["tend_fav_beater"] == row["tend_fav_beater_beater"] == 0.0
    assert row["score_diff"] == 0.0
    assert row["user_pts_to_win"] == row["bot_pts_to_win"] == 10.0
    assert row["step_no"] == 1.0
    # and the row three rounds in sees exactly the second game's three rounds
    assert np.array_equal(
        matrix[start + 3], online_features(second.rounds[:3], second.rounds[3].values)
    )


def test_batch_rows_do_not_depend_on_which_games_come_before() -> None:
    first, second = _two_games()

    together = batch_features(RoundTable.from_games([first, second]))
    alone = batch_features(RoundTable.from_games([second]))

    assert np.array_equal(together[len(first.rounds) :], alone)


def test_changing_a_rounds_moves_does_not_change_its_own_row() -> None:
    honest = _game("leak", [(R, S), (P, P), (R, P), (S, P), (S, R)])
    changed = _game("leak", [(R, S), (P, P), (R, P), (R, R), (S, R)])

    a = batch_features(RoundTable.from_games([honest]))
    b = batch_features(RoundTable.from_games([changed]))

    assert np.array_equal(a[:4], b[:4])
    assert not np.array_equal(a[4], b[4])


def test_batch_matrix_has_one_float_row_of_fifty_per_round() -> None:
    table = RoundTable.from_games(_two_games())

    matrix = batch_features(table)

    assert matrix.shape == (9, FEATURE_COUNT)
    assert matrix.dtype == np.float64
    assert not matrix[:, FEATURE_NAMES.index("easy_mode")].any()


def test_empty_table_gives_an_empty_matrix() -> None:
    assert batch_features(RoundTable.from_games([])).shape == (0, FEATURE_COUNT)


def test_labels_are_the_users_moves_and_examples_start_at_round_four() -> None:
    table = RoundTable.from_games(_two_games())

    assert labels(table).tolist() == [0, 1, 0, 2, 2, 1, 1, 0, 2]
    assert labelled_mask(table).tolist() == [False] * 3 + [True] * 2 + [False] * 3 + [True]
    assert labelled_mask(table, min_label_step=1).all()


def test_from_games_accepts_round_lists_and_numbers_games_by_position() -> None:
    first, second = _two_games()

    table = RoundTable.from_games([first.rounds, Game("empty"), second])

    assert table.game_index.tolist() == [0] * 5 + [2] * 4
    assert table.step_no.tolist() == [1, 2, 3, 4, 5, 1, 2, 3, 4]
    assert table.values[0].tolist() == [r / 10 for r in first.rounds[0].values.as_tuple()]
    assert table.user_score[-1] == second.user_score / 10


def _columns(table: RoundTable) -> dict[str, np.ndarray]:
    return {f.name: getattr(table, f.name).copy() for f in dataclasses.fields(table)}


@pytest.mark.parametrize(
    ("column", "row", "value", "message"),
    [
        ("step_no", 2, 4, r"row 2: game 0 step 4 follows game 0 step 2"),
        ("step_no", 0, 2, r"step_no\[0\] = 2, a game starts at step 1"),
        ("game_index", 5, 0, r"row 5: game 0 step 1 follows game 0 step 5"),
        ("user_move", 1, 3, r"user_move\[1\] = 3 is not in 0, 1, 2"),
        ("result", 0, 2, r"result\[0\] = 2 contradicts the moves \(user 0, bot 2\)"),
    ],
)
def test_table_rejects_rows_that_break_its_invariants(
    column: str, row: int, value: int, message: str
) -> None:
    columns = _columns(RoundTable.from_games(_two_games()))
    columns[column][row] = value

    with pytest.raises(ValueError, match=message):
        RoundTable(**columns)


def test_table_rejects_game_ids_that_go_back() -> None:
    columns = _columns(RoundTable.from_games(_two_games()))
    columns["game_index"][5:] = -1

    with pytest.raises(ValueError, match=r"row 5: game ids must increase"):
        RoundTable(**columns)


def test_table_rejects_columns_of_unequal_length() -> None:
    columns = _columns(RoundTable.from_games(_two_games()))
    columns["bot_score"] = columns["bot_score"][:-1]

    with pytest.raises(ValueError, match=r"bot_score has shape \(8,\), expected \(9,\)"):
        RoundTable(**columns)


def test_table_coerces_column_types() -> None:
    columns = {k: v.tolist() for k, v in _columns(RoundTable.from_games(_two_games())).items()}

    table = RoundTable(**columns)

    assert table.user_move.dtype == np.int8
    assert table.step_no.dtype == np.int64
    assert table.values.shape == (9, 3)
    assert np.array_equal(
        batch_features(table), batch_features(RoundTable.from_games(_two_games()))
    )
