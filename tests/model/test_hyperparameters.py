"""Hyperparameters are validated, default to SPEC §5, and every refusal names the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rps.domain.policy import Family
from rps.models.catalog import FAMILY_CLASSES, model_for
from rps.models.feedforward import FeedforwardNN
from rps.models.gradient_boosting import XGBoostModel
from rps.models.hyperparameters import (
    FeedforwardHyperparameters,
    LogisticHyperparameters,
    XGBoostHyperparameters,
)
from rps.models.logistic import MultinomialLogistic


def test_defaults_are_the_specs() -> None:
    assert FeedforwardHyperparameters().model_dump() == {
        "hidden_sizes": (64, 32),
        "dropout": 0.3,
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "batch_size": 64,
        "epochs": 200,
        "patience": 15,
        "lr_factor": 0.5,
        "lr_patience": 7,
        "min_lr": 1e-6,
        "lambda_danger": 0.0,
    }
    logistic = LogisticHyperparameters()
    assert (logistic.lr, logistic.l2, logistic.class_weight_balanced) == (5e-3, 1.0, True)
    assert (logistic.epochs, logistic.patience, logistic.lambda_danger) == (100, 25, 0.0)
    assert (logistic.lr_factor, logistic.lr_patience, logistic.min_lr) == (0.5, 7, 1e-6)
    xgb = XGBoostHyperparameters()
    assert (xgb.n_estimators, xgb.learning_rate, xgb.max_depth, xgb.min_child_weight) == (
        300,
        0.05,
        3,
        2,
    )
    assert (xgb.subsample, xgb.colsample_bytree, xgb.reg_lambda, xgb.reg_alpha) == (
        0.8,
        0.7,
        2,
        0.1,
    )
    assert (xgb.gamma, xgb.tree_method, xgb.early_stopping_rounds) == (0, "hist", 20)


def test_each_family_has_its_class_and_hyperparameter_type() -> None:
    expected = {
        Family.FEEDFORWARD_NN: FeedforwardNN,
        Family.XGBOOST: XGBoostModel,
        Family.MULTINOMIAL_LOGISTIC: MultinomialLogistic,
    }
    assert dict(FAMILY_CLASSES) == expected
    for family, model_class in FAMILY_CLASSES.items():
        model = model_for(family.value, {}, seed=3)
        assert type(model) is model_class
        assert model.family is family
        assert model.seed == 3
        assert isinstance(model.hyperparameters, model_class.hyperparameter_type)
    assert not XGBoostModel.needs_scaling
    assert FeedforwardNN.needs_scaling
    assert MultinomialLogistic.needs_scaling


@pytest.mark.parametrize(
    ("family", "values", "field"),
    [
        (Family.FEEDFORWARD_NN, {"hidden_size": [64]}, "hidden_size"),
        (Family.FEEDFORWARD_NN, {"dropout": 1.0}, "dropout"),
        (Family.FEEDFORWARD_NN, {"dropout": -0.1}, "dropout"),
        (Family.FEEDFORWARD_NN, {"lr": 0}, "lr"),
        (Family.FEEDFORWARD_NN, {"hidden_sizes": []}, "hidden_sizes"),
        (Family.FEEDFORWARD_NN, {"hidden_sizes": [64, 0]}, "hidden_sizes"),
        (Family.FEEDFORWARD_NN, {"batch_size": 1}, "batch_size"),
        (Family.FEEDFORWARD_NN, {"lr_factor": 1.0}, "lr_factor"),
        (Family.FEEDFORWARD_NN, {"lambda_danger": -1}, "lambda_danger"),
        (Family.MULTINOMIAL_LOGISTIC, {"class_weight_balanced": "false"}, "class_weight_balanced"),
        (Family.MULTINOMIAL_LOGISTIC, {"class_weight_balanced": 0}, "class_weight_balanced"),
        (Family.MULTINOMIAL_LOGISTIC, {"l2": -1}, "l2"),
        (Family.MULTINOMIAL_LOGISTIC, {"hidden_sizes": [8]}, "hidden_sizes"),
        (Family.XGBOOST, {"n_estimators": 0}, "n_estimators"),
        (Family.XGBOOST, {"subsample": 1.5}, "subsample"),
        (Family.XGBOOST, {"tree_method": "gpu_hist"}, "tree_method"),
        (Family.XGBOOST, {"max_depth": "deep"}, "max_depth"),
        (Family.XGBOOST, {"epochs": 10}, "epochs"),
    ],
)
def test_a_bad_or_unknown_hyperparameter_is_refused_naming_the_field(
    family: Family, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        model_for(family, values)
    assert [error["loc"][0] for error in refused.value.errors()] == [field]
    assert field in str(refused.value)


def test_hyperparameters_are_immutable_once_validated() -> None:
    hyperparameters = FeedforwardHyperparameters()
    with pytest.raises(ValidationError):
        hyperparameters.lr = 1.0


def test_a_model_refuses_another_familys_hyperparameters() -> None:
    with pytest.raises(TypeError, match="FeedforwardHyperparameters"):
        FeedforwardNN(LogisticHyperparameters())


def test_an_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="random_forest"):
        model_for("random_forest", {})
