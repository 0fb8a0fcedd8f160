"""Datasets shared by the model tests (built once per session: simulation is the slow part)."""

from __future__ import annotations

import pytest

from rps.domain.personas import PersonaName
from tests.model.games import Dataset, dataset, persona_rule, play_games


@pytest.fixture(scope="session")
def cal_data() -> Dataset:
    """cal's games: a deterministic user the models learn almost perfectly."""
    return dataset(play_games(persona_rule(PersonaName.CAL), 200, seed=101))


@pytest.fixture(scope="session")
def mixed_data() -> Dataset:
    """Games of every persona on the user side: noisy, as real data is."""
    games = []
    for i, persona in enumerate(PersonaName):
        games += play_games(persona_rule(persona), 30, seed=200 + i)
    # interleave personas so every split holds all of them
    games = [games[j * 30 + k] for k in range(30) for j in range(len(PersonaName))]
    return dataset(games)
