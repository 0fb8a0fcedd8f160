"""The training dataset (SPEC §5): whole games in every split, labels, no leakage, downsampling.

The proof SPEC §5 asks for: whatever split the pipeline makes (hold-out, production, each CV
fold), no game's labelled rows are in two groups. Row identities are checked against the games
themselves (game id and round number), not only against the dataset's own bookkeeping.
"""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rps.domain.game import Game
from rps.domain.move import MOVES, Move
from rps.domain.personas import PersonaName, persona_move
from rps.features import FEATURE_COUNT, RoundTable, batch_features
from rps.training.dataset import Dataset, dataset_from_games
from rps.training.splits import cv_folds, holdout_split, production_split
from tests.golden.feature_vectors import play_persona_game


def _abandoned(game_id: str, user: PersonaName, bot: PersonaName, rounds: int) -> Game:
    """A persona game left after ``rounds`` rounds (or when it ends, if sooner)."""
    game = Game(game_id)
    rng = random.Random(game_id)
    while not game.finished and len(game.rounds) < rounds:
        game.play(
            persona_move(user, game.view("user"), rng), persona_move(bot, game.view("bot"), rng)
        )
    return game


@pytest.fixture(scope="module")
def games() -> list[Game]:
    """Finished games of every pairing plus abandoned ones of every length from 1 to 12."""
    finished = [
        play_persona_game(f"ds-{user}-{bot}-{seed}", user, bot, random.Random(seed))
        for seed in range(3)
        for user, bot in itertools.product(PersonaName, repeat=2)
    ]
    abandoned = [
        _abandoned(f"ds-abandoned-{i}", user, bot, rounds=1 + i % 12)
        for i, (user, bot) in enumerate(itertools.product(PersonaName, repeat=2))
    ]
    mixed = finished + abandoned
    random.Random(0).shuffle(mixed)  # chronology unrelated to length or pairing
    return mixed


@pytest.fixture(scope="module")
def dataset(games: list[Game]) -> Dataset:
    return dataset_from_games(games)


def _row_identities(dataset: Dataset) -> list[tuple[str, int]]:
    """(game id, round number) of every labelled row, from the dataset's own columns."""
    steps = dataset.table.step_no[dataset.row_index]
    return [(dataset.game_ids[g], int(s)) for g, s in zip(dataset.row_game, steps, strict=True)]


def _groups(dataset: Dataset) -> dict[str, list[np.ndarray]]:
    """Every split the three-step pipeline makes, as groups of game indexes."""
    train, val, test = holdout_split(dataset.n_games)
    prod_train, prod_val = production_split(dataset.n_games)
    splits = {"holdout": [train, val, test], "production": [prod_train, prod_val]}
    folds = cv_folds(dataset.rounds_per_game(), train, k=3, seed=0)
    splits["cv"] = folds
    for i, fold in enumerate(folds):
        splits[f"cv fold {i} against the rest"] = [np.setdiff1d(train, fold), fold]
    return splits


def test_rows_are_the_rounds_from_step_4_of_the_games_oldest_first(
    games: list[Game], dataset: Dataset
) -> None:
    expected = [(g.game_id, r.round_no) for g in games for r in g.rounds if r.round_no >= 4]

    assert _row_identities(dataset) == expected
    assert len(dataset) == len(expected) == dataset.stats["labelled_rows"]
    assert dataset.X.shape == (len(expected), FEATURE_COUNT)
    assert dataset.X.dtype == np.float32


def test_no_games_labelled_rows_straddle_two_groups_of_any_split(dataset: Dataset) -> None:
    identities = _row_identities(dataset)
    for name, groups in _groups(dataset).items():
        masks = [dataset.rows_for_games(group) for group in groups]
        # each row in exactly one group of a split that covers these games
        covered = np.sum(masks, axis=0)
        assert covered.max() == 1, name
        game_groups: dict[str, set[int]] = {}
        for i, mask in enumerate(masks):
            for row in np.flatnonzero(mask):
                game_groups.setdefault(identities[row][0], set()).add(i)
        straddling = {game: g for game, g in game_groups.items() if len(g) > 1}
        assert not straddling, f"{name}: {straddling}"


def test_holdout_and_production_groups_cover_every_labelled_row(dataset: Dataset) -> None:
    splits = _groups(dataset)
    for name in ("holdout", "production"):
        covered = np.sum([dataset.rows_for_games(g) for g in splits[name]], axis=0)
        assert (covered == 1).all(), name


def test_holdout_rows_are_chronological_by_game(dataset: Dataset) -> None:
    train, val, test = (dataset.rows_for_games(g) for g in holdout_split(dataset.n_games))
    created = np.array(dataset.game_created_at)

    assert created[dataset.row_game[train]].max() < created[dataset.row_game[val]].min()
    assert created[dataset.row_game[val]].max() < created[dataset.row_game[test]].min()


def test_labels_are_the_users_move_in_that_round(games: list[Game], dataset: Dataset) -> None:
    expected = [r.user_move.position for g in games for r in g.rounds if r.round_no >= 4]

    assert dataset.y.dtype == np.int64
    assert dataset.y.tolist() == expected
    assert set(dataset.y.tolist()) == {0, 1, 2}


def test_only_rounds_from_min_label_step_on_are_labelled(games: list[Game]) -> None:
    for min_step in (1, 4, 7):
        ds = dataset_from_games(games, min_label_step=min_step)
        steps = ds.table.step_no[ds.row_index]
        expected_rows = sum(max(0, len(g.rounds) - min_step + 1) for g in games)

        assert steps.min() == min_step
        assert len(ds) == expected_rows
        assert (ds.table.step_no[ds.table.step_no >= min_step].size) == expected_rows


def test_games_without_a_labelled_round_are_left_out(games: list[Game], dataset: Dataset) -> None:
    short = {g.game_id for g in games if len(g.rounds) < 4}

    assert short, "the fixture must include games shorter than 4 rounds"
    assert short.isdisjoint(dataset.game_ids)
    assert dataset.stats["games_without_labels"] == len(short)
    assert dataset.n_games == len(games) - len(short)


def test_features_are_the_batch_features_of_the_kept_games_rounds(
    games: list[Game], dataset: Dataset
) -> None:
    kept = [g for g in games if len(g.rounds) >= 4]
    table = RoundTable.from_games(kept)
    expected = batch_features(table)[table.step_no >= 4].astype(np.float32)

    assert np.array_equal(dataset.X, expected)


def _replayed(game_id: str, moves: list[tuple[Move, Move]]) -> Game:
    game = Game(game_id)
    for user, bot in moves:
        game.play(user, bot)
    return game


def test_a_rows_features_never_change_when_a_later_round_changes(games: list[Game]) -> None:
    checked = 0
    for original in (g for g in games if len(g.rounds) >= 8):
        moves = [(r.user_move, r.bot_move) for r in original.rounds]
        cut = 5  # rounds 1..5 kept, round 6 and later replaced
        changed_user = MOVES[(moves[cut][0].position + 1) % 3]
        altered = _replayed(original.game_id, [*moves[:cut], (changed_user, moves[cut][1])])
        rng = random.Random(checked)
        while not altered.finished:
            altered.play(MOVES[rng.randrange(3)], MOVES[rng.randrange(3)])
        if len(altered.rounds) < cut + 2:
            continue
        before = dataset_from_games([original])
        after = dataset_from_games([altered])
        steps = before.table.step_no[before.row_index]

        # rows up to round 6 see only rounds 1..5, which are the same; round 6's own row must
        # not see its changed user move (the label)
        same = steps <= cut + 1
        assert np.array_equal(before.X[same], after.X[: same.sum()])
        # round 7's row sees the changed round 6: the comparison above can fail
        assert not np.array_equal(before.X[steps == cut + 2], after.X[same.sum() : same.sum() + 1])
        checked += 1
    assert checked >= 50


def test_a_rows_features_equal_those_of_the_game_cut_after_that_round(games: list[Game]) -> None:
    game = next(g for g in games if len(g.rounds) >= 12)
    full = dataset_from_games([game])
    for n in range(4, len(game.rounds) + 1):
        cut = dataset_from_games([Game(game.game_id, list(game.rounds[:n]))])
        assert np.array_equal(full.X[n - 4], cut.X[-1]), f"round {n}"


def _sources(pattern: str) -> list[str]:
    names = {"p": "persona", "h": "human", "s": "simulated"}
    return [names[c] for c in pattern]


@pytest.fixture(scope="module")
def long_games(games: list[Game]) -> list[Game]:
    return [g for g in games if len(g.rounds) >= 4]


def test_with_human_games_one_persona_game_in_stride_is_kept_newest_first(
    long_games: list[Game],
) -> None:
    pattern = "pphpppphpppppsppphpppppp"  # 20 persona games, oldest first
    chosen = long_games[: len(pattern)]
    ds = dataset_from_games(chosen, _sources(pattern), legacy_game_stride=5)

    persona_ids = [g.game_id for g, c in zip(chosen, pattern, strict=True) if c == "p"]
    kept_persona = [i for i, s in zip(ds.game_ids, ds.game_sources, strict=True) if s == "persona"]
    assert kept_persona == persona_ids[::-1][::5][::-1]  # the newest, then every 5th back
    assert kept_persona[-1] == persona_ids[-1]
    assert len(kept_persona) == math.ceil(len(persona_ids) / 5)
    humans = [g.game_id for g, c in zip(chosen, pattern, strict=True) if c == "h"]
    assert set(humans) <= set(ds.game_ids)
    assert ds.stats["persona_games_total"] == 20
    assert ds.stats["persona_games_kept"] == ds.stats["persona_games"] == 4
    assert ds.stats["human_games"] == 3
    assert ds.stats["simulated_games"] == 1


@settings(max_examples=60, deadline=None)
@given(
    pattern=st.text(alphabet="phs", min_size=1, max_size=60),
    stride=st.integers(min_value=1, max_value=9),
)
def test_scripted_downsampling_keeps_ceil_n_over_stride_only_when_humans_played(
    long_games: list[Game], pattern: str, stride: int
) -> None:
    chosen = long_games[: len(pattern)]
    ds = dataset_from_games(chosen, _sources(pattern), legacy_game_stride=stride)

    n_persona = pattern.count("p")
    n_simulated = pattern.count("s")
    expected = math.ceil(n_persona / stride) if "h" in pattern else n_persona
    expected_simulated = math.ceil(n_simulated / stride) if "h" in pattern else n_simulated
    assert ds.stats["persona_games"] == expected
    assert ds.stats["simulated_games"] == expected_simulated
    assert ds.n_games == pattern.count("h") + expected + expected_simulated
    for kind in "ps":
        if kind in pattern:
            newest = chosen[pattern.rindex(kind)].game_id
            assert newest in ds.game_ids


def test_without_human_games_every_persona_game_is_kept(long_games: list[Game]) -> None:
    chosen = long_games[:30]
    ds = dataset_from_games(chosen, ["persona"] * 25 + ["simulated"] * 5)

    assert ds.game_ids == tuple(g.game_id for g in chosen)


def test_row_cap_keeps_the_newest_whole_games_within_the_cap(long_games: list[Game]) -> None:
    full = dataset_from_games(long_games)
    per_game = full.labelled_rows_per_game()
    for cap in (1, per_game[-1], per_game[-1] + 1, 100, 1_000, 2_500, len(full), len(full) + 7):
        ds = dataset_from_games(long_games, max_rows=int(cap))
        kept = len(ds.game_ids)

        assert len(ds) <= cap
        assert ds.game_ids == full.game_ids[full.n_games - kept :]  # a suffix: the newest
        assert np.array_equal(ds.labelled_rows_per_game(), per_game[full.n_games - kept :])
        if kept < full.n_games:  # the next older game would not have fitted
            assert len(ds) + per_game[full.n_games - kept - 1] > cap
        assert ds.stats["games_over_row_cap"] == full.n_games - kept


def test_row_cap_below_the_newest_game_leaves_an_empty_dataset(long_games: list[Game]) -> None:
    ds = dataset_from_games(long_games, max_rows=1)

    assert len(ds) == 0
    assert ds.n_games == 0
    assert ds.X.shape == (0, FEATURE_COUNT)


def test_row_cap_applies_after_persona_downsampling(long_games: list[Game]) -> None:
    chosen = long_games[:40]
    sources = ["persona", "human"] * 20
    downsampled = dataset_from_games(chosen, sources)
    capped = dataset_from_games(chosen, sources, max_rows=200)

    assert set(capped.game_ids) <= set(downsampled.game_ids)
    assert capped.game_ids == downsampled.game_ids[downsampled.n_games - capped.n_games :]


def test_fingerprint_is_stable_for_the_same_data_and_changes_with_it(
    long_games: list[Game],
) -> None:
    games = long_games
    base = dataset_from_games(games)
    one_round_more_or_less = [Game(g.game_id, list(g.rounds[:-1])) for g in games[:1]] + games[1:]

    assert dataset_from_games(list(games)).fingerprint == base.fingerprint
    assert len(base.fingerprint) == 64
    changed = (
        dataset_from_games(games[1:]),
        dataset_from_games(games[:-1]),
        dataset_from_games(one_round_more_or_less),
        dataset_from_games(games, min_label_step=5),
        dataset_from_games([games[1], games[0], *games[2:]]),
    )
    assert len({base.fingerprint, *(d.fingerprint for d in changed)}) == 1 + len(changed)


def test_rounds_per_game_counts_every_round_of_each_kept_game(
    games: list[Game], dataset: Dataset
) -> None:
    lengths = {g.game_id: len(g.rounds) for g in games}

    assert dataset.rounds_per_game().tolist() == [lengths[i] for i in dataset.game_ids]
    assert dataset.labelled_rows_per_game().tolist() == [lengths[i] - 3 for i in dataset.game_ids]
    assert dataset.stats["rounds"] == len(dataset.table) == sum(dataset.rounds_per_game())


def test_games_must_be_given_oldest_first(long_games: list[Game]) -> None:
    stamps = [datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]
    with pytest.raises(ValueError, match="oldest first"):
        dataset_from_games(long_games[:2], created_at=stamps)
