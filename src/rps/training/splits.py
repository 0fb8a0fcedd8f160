"""Game-wise splits for the three-step evaluation (SPEC §5).

Pure functions over game indexes in chronological order (game i is older than game i + 1). They
split games, never rows: :meth:`rps.training.dataset.Dataset.rows_for_games` turns a group of
games into its rows, so a game's rounds always stay together.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

PRODUCTION_VALIDATION_EVERY = 5  # every 5th game in time order validates the production model


def holdout_split(n_games: int) -> tuple[IntArray, IntArray, IntArray]:
    """Train / validation / test games: the oldest 60 %, the next 20 %, the newest 20 %.

    The boundaries are ``floor(3n/5)`` and ``floor(4n/5)`` (integer arithmetic, no float
    rounding), so test gets ``ceil(n/5)`` games and validation the rest of the last 40 %; each
    group is non-empty from 3 games on. ``ValueError`` below 3 games.
    """
    if n_games < 3:
        raise ValueError(
            f"the hold-out split needs at least 3 games (train, validation, test), got {n_games}"
        )
    train_end = 3 * n_games // 5
    val_end = 4 * n_games // 5
    games = np.arange(n_games, dtype=np.int64)
    return games[:train_end], games[train_end:val_end], games[val_end:]


def production_split(n_games: int) -> tuple[IntArray, IntArray]:
    """Train / validation games of the production model: every 5th game in time order
    (index % 5 == 4) validates, the rest train. Fewer than 5 games: the newest one validates.
    ``ValueError`` below 2 games (one to train on, one to validate)."""
    if n_games < 2:
        raise ValueError(f"the production split needs at least 2 games, got {n_games}")
    games = np.arange(n_games, dtype=np.int64)
    is_val = games % PRODUCTION_VALIDATION_EVERY == PRODUCTION_VALIDATION_EVERY - 1
    if not is_val.any():
        is_val[-1] = True
    return games[~is_val], games[is_val]


def cv_folds(
    rounds_per_game: npt.ArrayLike, games: npt.ArrayLike, k: int = 3, seed: int = 0
) -> list[IntArray]:
    """``k`` folds of ``games`` balanced by rounds.

    The games are shuffled with ``np.random.default_rng(seed)``, then each goes into the fold
    with the fewest rounds so far (ties: the lowest fold index). ``rounds_per_game[g]`` is game
    g's weight. The folds' round totals then differ by at most one game's rounds. Returns k sorted
    arrays of game indexes; ``ValueError`` with fewer games than folds, fewer than 2 folds or a
    game listed twice.
    """
    weights = np.asarray(rounds_per_game, dtype=np.int64)
    chosen = np.asarray(games, dtype=np.int64)
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if len(chosen) < k:
        raise ValueError(f"{k} folds need at least {k} games, got {len(chosen)}")
    if len(np.unique(chosen)) != len(chosen):
        raise ValueError("a game is listed twice")
    order = np.random.default_rng(seed).permutation(chosen)
    totals = [0] * k
    members: list[list[int]] = [[] for _ in range(k)]
    for game in order.tolist():
        fold = totals.index(min(totals))  # index() finds the first, i.e. the lowest fold
        members[fold].append(game)
        totals[fold] += int(weights[game])
    return [np.sort(np.array(m, dtype=np.int64)) for m in members]


def assert_disjoint(*groups: npt.ArrayLike) -> None:
    """Raise ``ValueError`` naming a game that appears in two of ``groups`` (or twice in one)."""
    seen: dict[int, int] = {}
    for i, group in enumerate(groups):
        for game in np.asarray(group, dtype=np.int64).ravel().tolist():
            if game in seen:
                raise ValueError(f"game {game} is in group {seen[game]} and in group {i}")
            seen[game] = i
