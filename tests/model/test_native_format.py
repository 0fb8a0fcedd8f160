"""The native model round-trips through bytes, and each family's extras (SPEC §5)."""

from __future__ import annotations

import numpy as np
import pytest

from rps.domain.policy import Family
from rps.features import FEATURE_NAMES
from rps.models.catalog import FAMILY_CLASSES, model_for
from tests.model.configs import QUICK
from tests.model.games import Dataset

ALL_FAMILIES = list(Family)


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_save_then_load_gives_exactly_the_same_predictions(
    mixed_data: Dataset, family: Family
) -> None:
    model = model_for(family, QUICK[family], seed=1)
    model.fit(mixed_data.X, mixed_data.y, mixed_data.X_val, mixed_data.y_val)
    name, payload = model.save_native()
    assert name.startswith(family.value)
    loaded = FAMILY_CLASSES[family].load_native(model.hyperparameters, payload)
    np.testing.assert_array_equal(
        loaded.predict_proba(mixed_data.X_test), model.predict_proba(mixed_data.X_test)
    )
    assert loaded.to_onnx()


@pytest.mark.parametrize("family", [Family.FEEDFORWARD_NN, Family.MULTINOMIAL_LOGISTIC], ids=str)
def test_loading_another_familys_payload_is_refused(mixed_data: Dataset, family: Family) -> None:
    other = (
        Family.MULTINOMIAL_LOGISTIC if family is Family.FEEDFORWARD_NN else Family.FEEDFORWARD_NN
    )
    model = model_for(other, QUICK[other])
    model.fit(mixed_data.X, mixed_data.y, max_iterations=1)
    _, payload = model.save_native()
    with pytest.raises(ValueError, match=f"not a {family.value} model"):
        FAMILY_CLASSES[family].load_native(model_for(family).hyperparameters, payload)


def test_loading_weights_of_another_architecture_is_refused(mixed_data: Dataset) -> None:
    model = model_for(Family.FEEDFORWARD_NN, {**QUICK[Family.FEEDFORWARD_NN], "epochs": 1})
    model.fit(mixed_data.X, mixed_data.y)
    _, payload = model.save_native()
    wider = model_for(Family.FEEDFORWARD_NN, {"hidden_sizes": [128]}).hyperparameters
    with pytest.raises(ValueError, match="architecture"):
        FAMILY_CLASSES[Family.FEEDFORWARD_NN].load_native(wider, payload)


def test_xgboost_extras_are_gain_importances_by_feature_name(mixed_data: Dataset) -> None:
    model = model_for(Family.XGBOOST, QUICK[Family.XGBOOST])
    model.fit(mixed_data.X, mixed_data.y)
    gains = model.extras()["feature_importance_gain"]
    assert list(gains) == list(FEATURE_NAMES)
    assert gains["easy_mode"] == 0.0  # constant: never split on
    assert max(gains.values()) > 0


def test_logistic_coefficients_in_feature_units_reproduce_the_predictions(
    mixed_data: Dataset,
) -> None:
    model = model_for(Family.MULTINOMIAL_LOGISTIC, QUICK[Family.MULTINOMIAL_LOGISTIC])
    model.fit(mixed_data.X, mixed_data.y)
    extras = model.extras()
    classes = ["rock", "paper", "scissors"]
    weights = np.array([[extras["coefficients"][c][f] for f in FEATURE_NAMES] for c in classes])
    bias = np.array([extras["intercepts"][c] for c in classes])
    logits = mixed_data.X_test.astype(np.float64) @ weights.T + bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(mixed_data.X_test), expected, atol=1e-5)
    assert extras["standardized_coefficients"]["rock"]["easy_mode"] == 0.0


def test_feedforward_extras_are_its_training_curves(mixed_data: Dataset) -> None:
    model = model_for(Family.FEEDFORWARD_NN, QUICK[Family.FEEDFORWARD_NN])
    report = model.fit(mixed_data.X, mixed_data.y, mixed_data.X_val, mixed_data.y_val)
    curves = model.extras()["curves"]
    assert set(curves) == {"train_loss", "val_loss", "val_accuracy", "learning_rate"}
    assert all(len(values) == report.iterations_run for values in curves.values())
