"""Every trained model gets a temperature fitted on its validation games, logged with the
validation log-loss and calibration error before and after, and built into its serving graph
(SPEC §5, §6.4)."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import numpy as np
import pytest

from rps.domain.personas import PersonaName
from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.models.base import ONNX_MAX_ABS_DIFF
from rps.models.catalog import FAMILY_CLASSES
from rps.models.onnx_export import onnx_probabilities
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.registry.ports import AliasTarget, LoggedTraining, ModelRegistry
from rps.training.calibration import apply_temperature
from rps.training.configs import AcceptanceCriteria, PlannedModel
from rps.training.dataset import Dataset, dataset_from_games
from rps.training.evaluation import log_loss
from rps.training.pipeline import TrainedModel, train_three_steps
from rps.training.runner import TrainingRunner
from rps.training.splits import production_split
from tests.model.configs import QUICK
from tests.model.games import persona_rule, play_games

CALIBRATION_METRICS = ("val_log_loss_raw", "val_ece_raw", "val_log_loss", "val_ece", "temperature")


def planned(family: Family) -> PlannedModel:
    return PlannedModel(
        family=family,
        registered_name=REGISTERED_NAMES[family],
        config_id=f"calibration-{family.value}",
        description="",
        promote_alias=None,
        hyperparameters=FAMILY_CLASSES[family].parse_hyperparameters(QUICK[family]),
        mlflow_tags={},
        acceptance=AcceptanceCriteria(),
    )


@pytest.fixture(scope="module")
def training_set() -> Dataset:
    """Noisy and learnable users, so a model's raw probabilities are not already calibrated."""
    users = (PersonaName.CAL, PersonaName.HAL, PersonaName.BOB, PersonaName.ACE)
    games = []
    for i, user in enumerate(users):
        games += play_games(persona_rule(user), 25, seed=300 + i)
    games = [games[j * 25 + k] for k in range(25) for j in range(len(users))]
    return dataset_from_games(games)


@pytest.fixture(scope="module")
def trained(training_set: Dataset) -> dict[Family, TrainedModel]:
    return {family: train_three_steps(training_set, planned(family)) for family in Family}


@pytest.mark.parametrize("family", list(Family), ids=str)
def test_training_logs_the_validation_scores_before_and_after_calibration(
    trained: dict[Family, TrainedModel], training_set: Dataset, family: Family
) -> None:
    model = trained[family]
    metrics = model.metrics
    assert set(CALIBRATION_METRICS) <= set(metrics)
    assert all(np.isfinite(metrics[name]) for name in CALIBRATION_METRICS)
    assert metrics["temperature"] == model.temperature > 0
    assert metrics["val_log_loss"] <= metrics["val_log_loss_raw"]
    assert 0 <= metrics["val_ece"] <= 1
    assert 0 <= metrics["val_ece_raw"] <= 1

    # the scores are those of the production model on its validation games
    _, val_games = production_split(training_set.n_games)
    rows = training_set.rows_for_games(val_games)
    X, y = training_set.X[rows], training_set.y[rows]
    assert metrics["val_log_loss_raw"] == pytest.approx(log_loss(y, model.model.predict_proba(X)))
    assert metrics["val_log_loss"] == pytest.approx(
        log_loss(y, model.calibrated_proba(X)), abs=1e-6
    )


@pytest.mark.parametrize("family", list(Family), ids=str)
def test_the_exported_graph_applies_the_models_temperature(
    trained: dict[Family, TrainedModel], training_set: Dataset, family: Family
) -> None:
    model = trained[family]
    features = training_set.X[:500]
    expected = apply_temperature(model.model.predict_proba(features), model.temperature)
    np.testing.assert_allclose(model.calibrated_proba(features), expected, atol=1e-7)
    exported = onnx_probabilities(model.onnx, features)
    assert np.abs(exported - expected).max() <= ONNX_MAX_ABS_DIFF
    assert model.onnx_max_abs_diff == model.metrics["onnx_max_abs_diff"] <= ONNX_MAX_ABS_DIFF
    if model.temperature != 1.0:
        raw = model.model.predict_proba(features)
        assert np.abs(exported - raw).max() > ONNX_MAX_ABS_DIFF


def test_without_validation_rows_the_temperature_is_one(training_set: Dataset) -> None:
    _, val_games = production_split(training_set.n_games)
    keep = ~training_set.rows_for_games(val_games)
    without_validation = replace(
        training_set,
        X=training_set.X[keep],
        y=training_set.y[keep],
        row_game=training_set.row_game[keep],
        row_index=training_set.row_index[keep],
    )
    model = train_three_steps(without_validation, planned(Family.XGBOOST))
    assert model.temperature == model.metrics["temperature"] == 1.0
    assert not {"val_log_loss", "val_log_loss_raw", "val_ece", "val_ece_raw"} & set(model.metrics)
    features = training_set.X[:200]
    raw = model.model.predict_proba(features)
    np.testing.assert_array_equal(model.calibrated_proba(features), raw)
    assert np.abs(onnx_probabilities(model.onnx, features) - raw).max() <= ONNX_MAX_ABS_DIFF


class RecordingRegistry:
    """Just enough of a registry for a model that moves no alias: it keeps what was logged."""

    def __init__(self) -> None:
        self.logged: list[LoggedTraining] = []

    def log_training(self, logged: LoggedTraining) -> str:
        self.logged.append(logged)
        return f"run{len(self.logged)}"

    def mark_rejected(self, run_id: str, reason: str) -> None:
        pass

    def register(self, run_id: str, registered_name: str) -> str:
        return "1"

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget:
        # Every alias is taken, so training fills none of them.
        return AliasTarget(family, alias, REGISTERED_NAMES[family], "1", "earlier-run")


def test_the_model_metadata_carries_the_temperature_and_the_calibrated_log_loss(
    training_set: Dataset,
) -> None:
    """The metadata logged with the serving graph, which the serving cache copies (SPEC §6.3)."""
    registry = RecordingRegistry()
    runner = TrainingRunner(cast(ModelRegistry, registry), cast(LifecycleRepository, None))
    [outcome] = runner.run(training_set, [planned(Family.XGBOOST)])
    assert outcome.error is None
    assert outcome.trained is not None
    [logged] = registry.logged
    metadata = logged.model_metadata
    assert metadata["temperature"] == outcome.trained.temperature == logged.metrics["temperature"]
    assert metadata["val_log_loss"] == logged.metrics["val_log_loss"]
    assert metadata["val_log_loss"] <= logged.metrics["val_log_loss_raw"]
    assert type(metadata["temperature"]) is float
    assert type(metadata["val_log_loss"]) is float
    assert logged.onnx == outcome.trained.onnx
