"""Hyperparameters the model tests train with.

``PRODUCTION`` is what the shipped Production configs use (fast enough for the training budget,
as accurate as the SPEC defaults; see ``benchmarks/models.py``). ``QUICK`` trades accuracy for
speed where a test checks mechanics rather than how well a model learns.
"""

from __future__ import annotations

from typing import Any

from rps.domain.policy import Family

PRODUCTION: dict[Family, dict[str, Any]] = {
    Family.FEEDFORWARD_NN: {
        "hidden_sizes": [128, 64],
        "dropout": 0.2,
        "batch_size": 1024,
        "lr": 0.01,
        "epochs": 60,
        "patience": 8,
        "lr_patience": 3,
    },
    Family.XGBOOST: {
        "n_estimators": 150,
        "learning_rate": 0.15,
        "max_depth": 5,
        "early_stopping_rounds": 15,
    },
    Family.MULTINOMIAL_LOGISTIC: {"batch_size": 512, "lr": 0.005, "epochs": 60, "patience": 12},
}

QUICK: dict[Family, dict[str, Any]] = {
    Family.FEEDFORWARD_NN: {"batch_size": 256, "lr": 0.01, "epochs": 8},
    Family.XGBOOST: {"n_estimators": 20, "learning_rate": 0.3},
    Family.MULTINOMIAL_LOGISTIC: {"batch_size": 256, "lr": 0.03, "epochs": 8},
}
