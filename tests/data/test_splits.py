"""Game-wise splits (SPEC §5): every game in exactly one group, chronology, balanced CV folds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rps.training.splits import assert_disjoint, cv_folds, holdout_split, production_split

sizes = st.integers(min_value=3, max_value=2_000)


def _assert_partition(n_games: int, *groups: np.ndarray) -> None:
    assert_disjoint(*groups)
    joined = np.concatenate(groups)
    assert np.array_equal(np.sort(joined), np.arange(n_games))


@given(n_games=sizes)
def test_holdout_groups_partition_the_games_oldest_to_newest(n_games: int) -> None:
    train, val, test = holdout_split(n_games)

    _assert_partition(n_games, train, val, test)
    assert min(len(train), len(val), len(test)) >= 1
    assert train.max() < val.min()
    assert val.max() < test.min()
    assert len(train) == 3 * n_games // 5
    assert len(test) == -(-n_games // 5)  # ceil(n / 5): the newest fifth, rounded up


@pytest.mark.parametrize(("n_games", "expected"), [(3, (1, 1, 1)), (10, (6, 2, 2)), (8, (4, 2, 2))])
def test_holdout_sizes_follow_60_20_20(n_games: int, expected: tuple[int, int, int]) -> None:
    assert tuple(len(g) for g in holdout_split(n_games)) == expected


@pytest.mark.parametrize("n_games", [0, 1, 2])
def test_holdout_refuses_fewer_than_three_games(n_games: int) -> None:
    with pytest.raises(ValueError, match="at least 3 games"):
        holdout_split(n_games)


@given(n_games=st.integers(min_value=5, max_value=2_000))
def test_every_fifth_game_validates_the_production_model(n_games: int) -> None:
    train, val = production_split(n_games)

    _assert_partition(n_games, train, val)
    assert np.array_equal(val, np.arange(4, n_games, 5))
    assert not np.any(train % 5 == 4)


@pytest.mark.parametrize("n_games", [2, 3, 4])
def test_production_split_of_a_few_games_validates_on_the_newest(n_games: int) -> None:
    train, val = production_split(n_games)

    assert val.tolist() == [n_games - 1]
    assert train.tolist() == list(range(n_games - 1))


@pytest.mark.parametrize("n_games", [0, 1])
def test_production_split_refuses_fewer_than_two_games(n_games: int) -> None:
    with pytest.raises(ValueError, match="at least 2 games"):
        production_split(n_games)


@st.composite
def games_with_rounds(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """Round counts of n games and a chronological subset of them (like hold-out train)."""
    k = draw(st.integers(min_value=2, max_value=6))
    n_games = draw(st.integers(min_value=k, max_value=400))
    rounds = draw(
        st.lists(st.integers(min_value=1, max_value=20), min_size=n_games, max_size=n_games)
    )
    subset = draw(st.lists(st.integers(0, n_games - 1), min_size=k, unique=True))
    return np.array(rounds, dtype=np.int64), np.array(sorted(subset), dtype=np.int64), k


@settings(max_examples=200)
@given(case=games_with_rounds(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_cv_folds_partition_the_games_and_balance_their_rounds(
    case: tuple[np.ndarray, np.ndarray, int], seed: int
) -> None:
    rounds, games, k = case
    folds = cv_folds(rounds, games, k=k, seed=seed)

    assert len(folds) == k
    assert_disjoint(*folds)
    assert np.array_equal(np.sort(np.concatenate(folds)), games)
    assert all(np.array_equal(f, np.sort(f)) for f in folds)
    totals = [int(rounds[f].sum()) for f in folds]
    assert max(totals) - min(totals) <= rounds[games].max()
    assert all(len(f) for f in folds)


def test_cv_folds_are_deterministic_for_a_seed_and_differ_for_another() -> None:
    rounds = np.random.default_rng(99).integers(5, 21, size=300)
    games = np.arange(0, 300, 2)

    first = cv_folds(rounds, games, seed=0)
    again = cv_folds(rounds, games, seed=0)
    other = cv_folds(rounds, games, seed=1)

    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_cv_folds_fill_the_fold_with_fewest_rounds_lowest_index_first() -> None:
    # Equal weights: the shuffled games go to folds 0, 1, 2, 0, 1, 2, ... in shuffled order.
    games = np.arange(9)
    order = np.random.default_rng(5).permutation(games)

    folds = cv_folds(np.ones(9, dtype=np.int64), games, k=3, seed=5)

    assert [f.tolist() for f in folds] == [sorted(order[i::3].tolist()) for i in range(3)]


def test_cv_folds_refuse_fewer_games_than_folds_and_duplicates() -> None:
    rounds = np.full(10, 12)
    with pytest.raises(ValueError, match="at least 3 games"):
        cv_folds(rounds, np.array([0, 1]), k=3)
    with pytest.raises(ValueError, match="at least 2 folds"):
        cv_folds(rounds, np.arange(10), k=1)
    with pytest.raises(ValueError, match="listed twice"):
        cv_folds(rounds, np.array([0, 1, 1, 2]), k=3)


def test_assert_disjoint_names_a_game_found_in_two_groups() -> None:
    assert_disjoint(np.array([0, 1]), np.array([2]), np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="game 2 is in group 0 and in group 2"):
        assert_disjoint(np.array([1, 2]), np.array([3]), np.array([2, 4]))
