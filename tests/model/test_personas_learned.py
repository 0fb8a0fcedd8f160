"""cal, ace and hal decide from what the 50 features hold, so the feedforward and XGBoost families
trained on their games predict them almost perfectly on unseen games (SPEC §2 "Predictability")."""

from __future__ import annotations

from typing import Any

import pytest

from rps.domain.personas import PersonaName
from rps.domain.policy import Family
from rps.models.catalog import model_for
from tests.model.configs import PRODUCTION
from tests.model.games import Dataset, accuracy, dataset, persona_rule, play_games

GAMES_PER_PERSONA = 320  # ~3,800 labelled rounds: 60% train, 20% validation, 20% test
PREDICTABLE = (PersonaName.CAL, PersonaName.ACE, PersonaName.HAL)


@pytest.fixture(scope="module")
def persona_data() -> dict[PersonaName, Dataset]:
    return {
        persona: dataset(play_games(persona_rule(persona), GAMES_PER_PERSONA, seed=i))
        for i, persona in enumerate(PREDICTABLE)
    }


@pytest.mark.parametrize("persona", PREDICTABLE, ids=str)
@pytest.mark.parametrize("family", [Family.FEEDFORWARD_NN, Family.XGBOOST], ids=str)
def test_feedforward_and_xgboost_predict_a_predictable_persona_on_unseen_games(
    persona_data: dict[PersonaName, Dataset], persona: PersonaName, family: Family
) -> None:
    data = persona_data[persona]
    hyperparameters: dict[str, Any] = PRODUCTION[family]
    model = model_for(family, hyperparameters, seed=0)
    model.fit(data.X, data.y, data.X_val, data.y_val)
    assert len(data.y_test) > 500
    assert accuracy(model.predict_proba(data.X_test), data.y_test) >= 0.95
