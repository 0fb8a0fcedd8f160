"""The feature rows of a few seeded persona games are pinned in feature_vectors.json."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from rps.domain.game import Game
from rps.features import (
    FEATURE_NAMES,
    FEATURE_VERSION,
    OnlineFeatureState,
    RoundTable,
    batch_features,
    online_features,
)
from tests.golden.feature_vectors import GOLDEN_GAMES, GOLDEN_PATH, golden_games

TOLERANCE = 1e-12
REGENERATE = "regenerate with: .venv/bin/python -m tests.golden.feature_vectors"


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def games(golden: dict[str, Any]) -> list[Game]:
    """The golden games replayed now; fails (rather than comparing features) if the personas or
    the rules changed, since then the stored rows describe other games."""
    replayed = golden_games()
    for game, stored in zip(replayed, golden["games"], strict=True):
        assert game.game_id == stored["game_id"]
        played = [(r.user_move.value, r.bot_move.value, r.outcome.value) for r in game.rounds]
        expected = [(r["user_move"], r["bot_move"], r["result"]) for r in stored["rounds"]]
        assert played == expected, f"{game.game_id} plays differently now; {REGENERATE}"
    return replayed


def _stored_rows(golden: dict[str, Any]) -> np.ndarray:
    return np.array([r["features"] for g in golden["games"] for r in g["rounds"]], dtype=np.float64)


def test_golden_file_matches_the_current_feature_contract(golden: dict[str, Any]) -> None:
    assert golden["feature_version"] == FEATURE_VERSION, REGENERATE
    assert tuple(golden["feature_names"]) == FEATURE_NAMES, REGENERATE
    assert [g["game_id"] for g in golden["games"]] == [g[0] for g in GOLDEN_GAMES]


def test_golden_games_cover_every_round_of_several_games(golden: dict[str, Any]) -> None:
    assert len(golden["games"]) >= 5
    for game in golden["games"]:
        assert [r["step_no"] for r in game["rounds"]] == list(range(1, len(game["rounds"]) + 1))
        assert len(game["rounds"]) >= 4


def test_batch_features_reproduce_the_golden_vectors(
    golden: dict[str, Any], games: list[Game]
) -> None:
    computed = batch_features(RoundTable.from_games(games))

    np.testing.assert_allclose(computed, _stored_rows(golden), rtol=0, atol=TOLERANCE)


def test_online_features_reproduce_the_golden_vectors(
    golden: dict[str, Any], games: list[Game]
) -> None:
    computed = np.array(
        [online_features(g.rounds[:i], r.values) for g in games for i, r in enumerate(g.rounds)]
    )

    np.testing.assert_allclose(computed, _stored_rows(golden), rtol=0, atol=TOLERANCE)


def test_incremental_state_reproduces_the_golden_vectors(
    golden: dict[str, Any], games: list[Game]
) -> None:
    computed = []
    for game in games:
        state = OnlineFeatureState()
        for played in game.rounds:
            computed.append(state.row(played.values))
            state.push(played)

    np.testing.assert_allclose(np.array(computed), _stored_rows(golden), rtol=0, atol=TOLERANCE)
