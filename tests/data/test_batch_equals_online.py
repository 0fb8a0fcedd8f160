"""Training features equal serving features: batch ≡ online on thousands of simulated games.

The comparison is exact (``np.array_equal``), not within a tolerance: both paths compute every
feature from integer tenths and integer counts and then divide once, and IEEE division is
correctly rounded, so the same definition gives the same bits. Any difference at all means the two
paths disagree on a definition, which is exactly the train/serve skew this test exists to catch.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from rps.domain.game import Game
from rps.domain.personas import PersonaName
from rps.features import (
    FEATURE_NAMES,
    OnlineFeatureState,
    RoundTable,
    batch_features,
    online_features,
    stateless_features,
)
from tests.golden.feature_vectors import play_persona_game

SEEDS_PER_PAIRING = 32  # 8 × 8 pairings × 32 = 2,048 games


@pytest.fixture(scope="module")
def games() -> list[Game]:
    """Every persona against every persona, on both sides, with seeded randomness."""
    return [
        play_persona_game(f"parity-{user}-{bot}-{seed}", user, bot, random.Random(seed))
        for user, bot in itertools.product(PersonaName, repeat=2)
        for seed in range(SEEDS_PER_PAIRING)
    ]


@pytest.fixture(scope="module")
def matrix(games: list[Game]) -> np.ndarray:
    return batch_features(RoundTable.from_games(games))


def _first_difference(batch: np.ndarray, online: np.ndarray, game: Game, n: int) -> str:
    columns = np.flatnonzero(batch != online)
    diffs = {FEATURE_NAMES[c]: (batch[c], online[c]) for c in columns}
    return f"{game.game_id} round {n + 1}: (batch, online) = {diffs}"


def test_simulation_covers_thousands_of_games_and_every_round_length(games: list[Game]) -> None:
    assert len(games) >= 2_000
    lengths = {len(g.rounds) for g in games}
    assert min(lengths) <= 8
    assert max(lengths) >= 18


def test_batch_rows_equal_online_rows_exactly(games: list[Game], matrix: np.ndarray) -> None:
    i = 0
    for game in games:
        for n, played in enumerate(game.rounds):
            online = online_features(game.rounds[:n], played.values)
            if not np.array_equal(matrix[i], online):
                pytest.fail(_first_difference(matrix[i], online, game, n))
            i += 1
    assert i == len(matrix)


def test_batch_rows_equal_incremental_state_rows_exactly(
    games: list[Game], matrix: np.ndarray
) -> None:
    rows = []
    for game in games:
        state = OnlineFeatureState()
        for played in game.rounds:
            rows.append(state.row(played.values))
            state.push(played)

    assert np.array_equal(matrix, np.array(rows))


def test_batch_rows_equal_stateless_rows_exactly(games: list[Game], matrix: np.ndarray) -> None:
    offsets = np.cumsum([0] + [len(g.rounds) for g in games])
    for g in range(0, len(games), 37):  # a spread of pairings; stateless is online underneath
        game = games[g]
        for n, played in enumerate(game.rounds):
            history = game.rounds[:n]
            row = stateless_features(
                [r.user_move.value for r in history],
                [r.bot_move.value for r in history],
                [r.outcome.value for r in history],
                played.values.as_points(),
                history_round_values=[r.values.as_points() for r in history],
                user_score=(played.user_score - played.user_delta) / 10 if n else None,
                bot_score=(played.bot_score - played.bot_delta) / 10 if n else None,
            )
            assert np.array_equal(matrix[offsets[g] + n], row), game.game_id
