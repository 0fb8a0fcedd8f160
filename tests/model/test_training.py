"""How the families train: early stopping keeps the best model, the danger penalty, balanced
class weights, warm starts, and the simplest user of all (SPEC §5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from rps.domain.policy import Family
from rps.models.base import ModelFamily, TrainingDiverged
from rps.models.catalog import FAMILY_CLASSES, model_for
from rps.models.feedforward import FeedforwardNN
from rps.models.gradient_boosting import XGBoostModel
from rps.models.torch_training import Standardizer, rescale_inputs
from tests.model.configs import PRODUCTION, QUICK
from tests.model.games import Dataset, always_rock, dataset, play_games

ALL_FAMILIES = list(Family)
TORCH_FAMILIES = [Family.FEEDFORWARD_NN, Family.MULTINOMIAL_LOGISTIC]


def cross_entropy(probabilities: np.ndarray, y: np.ndarray) -> float:
    picked = probabilities[np.arange(len(y)), y].astype(np.float64)
    return float(-np.log(np.clip(picked, 1e-15, 1)).mean())


def beater_probability(model: ModelFamily, features: np.ndarray, moves: np.ndarray) -> float:
    """Mean probability the model gives the move that beats the true one."""
    probabilities = model.predict_proba(features)
    return float(probabilities[np.arange(len(moves)), (moves + 1) % 3].mean())


@pytest.fixture(scope="module")
def noise() -> Dataset:
    """Random features and labels: anything learned on the training rows is overfitting."""
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(900, 50)).astype(np.float32)
    moves = rng.integers(0, 3, size=900)
    return Dataset(rows[:300], moves[:300], rows[300:600], moves[300:600], rows[600:], moves[600:])


OVERFITTING: dict[Family, dict[str, Any]] = {
    Family.FEEDFORWARD_NN: {
        "hidden_sizes": [128, 64],
        "dropout": 0.0,
        "weight_decay": 0.0,
        "lr": 0.02,
        "batch_size": 32,
        "epochs": 80,
        "patience": 10,
    },
    Family.MULTINOMIAL_LOGISTIC: {
        "l2": 0.0,
        "lr": 0.05,
        "batch_size": 16,
        "epochs": 80,
        "patience": 10,
        "class_weight_balanced": False,
    },
    Family.XGBOOST: {
        "n_estimators": 200,
        "learning_rate": 0.5,
        "max_depth": 6,
        "min_child_weight": 0,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "reg_lambda": 0,
        "reg_alpha": 0,
        "early_stopping_rounds": 10,
    },
}


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_early_stopping_keeps_the_model_with_the_best_validation_loss_not_the_last(
    noise: Dataset, family: Family
) -> None:
    model = model_for(family, OVERFITTING[family], seed=1)
    report = model.fit(noise.X, noise.y, noise.X_val, noise.y_val)
    val_loss = report.curves["val_loss"]
    assert report.best_validation_loss is not None
    assert report.best_validation_loss == pytest.approx(min(val_loss))
    assert 1 <= report.best_iteration < report.iterations_run == len(val_loss)
    # it stopped because validation stopped improving, long after the best iteration
    assert val_loss[-1] > report.best_validation_loss + 0.02
    kept_loss = cross_entropy(model.predict_proba(noise.X_val), noise.y_val)
    assert kept_loss == pytest.approx(report.best_validation_loss, abs=1e-4)


def test_xgboost_keeps_only_the_trees_up_to_the_best_round(noise: Dataset) -> None:
    model = XGBoostModel(XGBoostModel.parse_hyperparameters(OVERFITTING[Family.XGBOOST]))
    report = model.fit(noise.X, noise.y, noise.X_val, noise.y_val)
    assert model.fitted_booster().num_boosted_rounds() == report.best_iteration
    assert report.iterations_run == report.best_iteration + 10


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_without_validation_the_given_number_of_iterations_is_trained_and_kept(
    noise: Dataset, family: Family
) -> None:
    model = model_for(family, QUICK[family], seed=0)
    report = model.fit(noise.X, noise.y, max_iterations=3)
    assert report.iterations_run == report.best_iteration == 3
    assert report.best_validation_loss is None
    assert "val_loss" not in report.curves
    assert len(report.curves["train_loss"]) == 3


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_every_family_learns_that_a_constant_rock_player_plays_rock(family: Family) -> None:
    data = dataset(play_games(always_rock, 60, seed=5))
    model = model_for(family, PRODUCTION[family], seed=0)
    model.fit(data.X, data.y, data.X_val, data.y_val)
    rock = model.predict_proba(data.X_test)[:, 0]
    assert len(rock) > 100
    assert rock.min() > 0.9


@pytest.mark.parametrize("family", TORCH_FAMILIES, ids=str)
def test_the_danger_penalty_lowers_the_probability_of_the_true_moves_beater(
    mixed_data: Dataset, family: Family
) -> None:
    def trained(lambda_danger: float) -> ModelFamily:
        values = {**PRODUCTION[family], "epochs": 15, "lambda_danger": lambda_danger}
        model = model_for(family, values, seed=4)
        model.fit(mixed_data.X, mixed_data.y)
        return model

    plain = beater_probability(trained(0.0), mixed_data.X, mixed_data.y)
    penalised = beater_probability(trained(2.0), mixed_data.X, mixed_data.y)
    assert penalised < plain - 0.01


def imbalanced(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mostly rock; paper and scissors each depend weakly on one feature."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 50)).astype(np.float32)
    logits = np.stack([np.full(rows, 2.2), features[:, 0], features[:, 1]], axis=1)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    moves = (rng.random(rows)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    return features, moves.astype(np.int64)


def test_balanced_class_weights_raise_the_recall_of_the_rare_moves() -> None:
    features, moves = imbalanced(3000, seed=1)
    test_features, test_moves = imbalanced(3000, seed=2)
    assert np.bincount(moves)[0] > 0.75 * len(moves)

    def minority_recall(balanced: bool) -> float:
        values = {**QUICK[Family.MULTINOMIAL_LOGISTIC], "class_weight_balanced": balanced}
        model = model_for(Family.MULTINOMIAL_LOGISTIC, values, seed=0)
        model.fit(features, moves)
        predicted = model.predict_proba(test_features).argmax(axis=1)
        rare = test_moves != 0
        return float((predicted[rare] == test_moves[rare]).mean())

    assert minority_recall(True) > minority_recall(False) + 0.2


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_a_warm_start_begins_from_the_previous_model_not_from_scratch(
    cal_data: Dataset, family: Family
) -> None:
    half = len(cal_data.y) // 2
    fields = FAMILY_CLASSES[family].hyperparameter_type.model_fields
    values = {**PRODUCTION[family], "epochs": 20, "n_estimators": 20}
    values = {name: value for name, value in values.items() if name in fields}
    previous = model_for(family, values, seed=0)
    previous.fit(cal_data.X[:half], cal_data.y[:half], cal_data.X_val, cal_data.y_val)

    fresh = model_for(family, values, seed=0)
    fresh_report = fresh.fit(
        cal_data.X[half:], cal_data.y[half:], cal_data.X_val, cal_data.y_val, max_iterations=1
    )
    warm = model_for(family, values, seed=0)
    warm_report = warm.fit(
        cal_data.X[half:],
        cal_data.y[half:],
        cal_data.X_val,
        cal_data.y_val,
        max_iterations=1,
        warm_start=previous,
    )
    assert warm_report.warm_started
    assert not fresh_report.warm_started
    assert warm_report.curves["val_loss"][0] < fresh_report.curves["val_loss"][0] - 0.05


def test_xgboost_continues_boosting_on_top_of_the_previous_trees(cal_data: Dataset) -> None:
    values = {"n_estimators": 10, "learning_rate": 0.3}
    previous = model_for(Family.XGBOOST, values)
    previous.fit(cal_data.X, cal_data.y)
    warm = model_for(Family.XGBOOST, values)
    report = warm.fit(cal_data.X, cal_data.y, warm_start=previous)
    assert isinstance(warm, XGBoostModel)
    assert warm.fitted_booster().num_boosted_rounds() == 10 + report.best_iteration == 20


def test_a_warm_start_with_another_architecture_starts_from_scratch_and_says_so(
    cal_data: Dataset,
) -> None:
    previous = model_for(Family.FEEDFORWARD_NN, {**QUICK[Family.FEEDFORWARD_NN], "epochs": 1})
    previous.fit(cal_data.X, cal_data.y)
    other = model_for(
        Family.FEEDFORWARD_NN, {**QUICK[Family.FEEDFORWARD_NN], "epochs": 1, "hidden_sizes": [8]}
    )
    report = other.fit(cal_data.X, cal_data.y, warm_start=previous)
    assert not report.warm_started


def test_a_warm_start_from_another_family_is_refused(cal_data: Dataset) -> None:
    previous = model_for(Family.MULTINOMIAL_LOGISTIC, QUICK[Family.MULTINOMIAL_LOGISTIC])
    previous.fit(cal_data.X, cal_data.y, max_iterations=1)
    with pytest.raises(TypeError, match="warm-start"):
        model_for(Family.FEEDFORWARD_NN).fit(cal_data.X, cal_data.y, warm_start=previous)


def test_rescaling_the_inputs_leaves_the_networks_function_unchanged(cal_data: Dataset) -> None:
    model = model_for(Family.FEEDFORWARD_NN, {**QUICK[Family.FEEDFORWARD_NN], "epochs": 2})
    model.fit(cal_data.X, cal_data.y)
    assert isinstance(model, FeedforwardNN)
    before = model.predict_proba(cal_data.X_test)
    shifted = cal_data.X_test * 3 + 1
    rescale_inputs(model.fitted_network(), *Standardizer.statistics(shifted))
    assert not torch.equal(
        model.fitted_network().scaler.mean, Standardizer.statistics(cal_data.X)[0]
    )
    np.testing.assert_allclose(model.predict_proba(cal_data.X_test), before, atol=1e-5)


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
@pytest.mark.parametrize("configs", [QUICK, PRODUCTION], ids=["quick", "production"])
def test_a_fit_with_the_same_seed_gives_the_same_model(
    mixed_data: Dataset, family: Family, configs: dict[Family, dict[str, Any]]
) -> None:
    def probabilities() -> np.ndarray:
        model = model_for(family, configs[family], seed=9)
        model.fit(mixed_data.X, mixed_data.y, mixed_data.X_val, mixed_data.y_val, max_iterations=6)
        return model.predict_proba(mixed_data.X_test)

    np.testing.assert_array_equal(probabilities(), probabilities())


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_malformed_training_data_is_refused_with_a_reason(family: Family) -> None:
    model = model_for(family, QUICK[family])
    zeros = np.zeros((10, 50), dtype=np.float32)
    rocks = np.zeros(10, dtype=np.int64)
    with pytest.raises(ValueError, match=r"shape \[N, 50\]"):
        model.fit(zeros[:, :49], rocks)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        model.fit(zeros, np.full(10, 3))
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.full((10, 50), np.nan, dtype=np.float32), rocks)
    with pytest.raises(ValueError, match="validation"):
        model.fit(zeros, rocks, zeros)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict_proba(zeros)


@pytest.mark.parametrize("family", TORCH_FAMILIES, ids=str)
def test_a_diverging_fit_fails_loudly_instead_of_keeping_a_broken_model(
    noise: Dataset, family: Family
) -> None:
    model = model_for(family, {"lr": 1e30, "epochs": 5})
    with pytest.raises(TrainingDiverged, match="learning rate"):
        model.fit(noise.X, noise.y, noise.X_val, noise.y_val)
