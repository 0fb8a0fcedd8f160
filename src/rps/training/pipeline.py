"""The three-step evaluation of one model (SPEC §5).

1. Hold-out, chronological by game, 60/20/20 → ``val_acc_holdout``, ``test_acc_holdout``
   (= ``test_accuracy``), per-class test accuracy and the confusion matrix.
2. Production model, 80/20 by game (every 5th game validates) → ``train_acc_production``,
   ``val_acc_production``. This is the model that is exported and registered. A temperature is
   fitted on its validation games (1 without any) → ``temperature``, and ``val_log_loss``,
   ``val_ece`` before (``val_log_loss_raw``, ``val_ece_raw``) and after calibration; the exported
   graph applies the temperature.
3. 3-fold CV on the step-1 training games (folds balanced by rounds) → ``cv_fold_{k}_acc``,
   ``cv_mean_acc``, ``cv_std_acc`` (weighted by fold size). CV folds have no validation data of
   their own, so each refits for the number of iterations step 1 found best.

Warm starts (continuation training) apply to step 2 only: steps 1 and 3 always start fresh so
their scores never benefit from a model that has already seen the test games.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rps.models.base import FitReport, FloatMatrix, ModelFamily
from rps.models.catalog import FAMILY_CLASSES
from rps.models.onnx_export import check_onnx, with_temperature
from rps.training.calibration import apply_temperature, calibrate
from rps.training.configs import PlannedModel
from rps.training.dataset import Dataset
from rps.training.evaluation import (
    accuracy,
    confusion_matrix,
    per_class_accuracy,
    weighted_mean_std,
)
from rps.training.splits import cv_folds, holdout_split, production_split

CV_FOLDS = 3
LN3 = math.log(3)
STEPS = ("holdout", "production", "cv", "export")
_ONNX_CHECK_ROWS = 2048


@dataclass
class TrainedModel:
    """A model through all three steps, ready to be logged, gated and registered."""

    planned: PlannedModel
    model: ModelFamily
    onnx: bytes
    onnx_max_abs_diff: float
    metrics: dict[str, float]
    per_class: dict[str, Any]
    confusion: list[list[int]]
    fit_reports: dict[str, FitReport]
    test_rows: int
    durations_s: dict[str, float] = field(default_factory=dict)
    temperature: float = 1.0  # fitted on the production model's validation games

    def calibrated_proba(self, X: FloatMatrix) -> FloatMatrix:
        """The production model's probabilities rescaled by its temperature: what the exported
        graph outputs for ``X``."""
        calibrated: FloatMatrix = apply_temperature(
            self.model.predict_proba(X), self.temperature
        ).astype(np.float32)
        return calibrated

    def acceptance(self) -> tuple[bool, str]:
        """Whether the model may be registered by its own scores, and why (SPEC §5): hold-out
        test accuracy above the bar when the test set is large enough, and a calibrated
        validation log-loss below ln 3 (better than knowing nothing). The gym gate is applied
        on top by the runner."""
        bar = self.planned.acceptance
        log_loss = self.metrics.get("val_log_loss")
        if log_loss is not None and not log_loss < LN3:
            return False, (
                f"rejected: calibrated validation log-loss {log_loss:.3f} is not below "
                f"ln 3 = {LN3:.3f} (no better than uniform)"
            )
        if self.test_rows < bar.min_test_rows:
            return True, (
                f"accepted: the test set has {self.test_rows} rows, fewer than the "
                f"{bar.min_test_rows} the accuracy bar needs"
            )
        score = self.metrics["test_acc_holdout"]
        if score > bar.min_test_accuracy:
            return True, f"accepted: test accuracy {score:.3f} > {bar.min_test_accuracy:.3f}"
        return False, (
            f"rejected: test accuracy {score:.3f} is not above {bar.min_test_accuracy:.3f} "
            f"on {self.test_rows} test rows"
        )


def _new_model(planned: PlannedModel, seed: int) -> ModelFamily:
    return FAMILY_CLASSES[planned.family](planned.hyperparameters, seed=seed)


def _rows(dataset: Dataset, games: np.ndarray) -> np.ndarray:
    return np.asarray(dataset.rows_for_games(games), dtype=bool)


def train_three_steps(
    dataset: Dataset,
    planned: PlannedModel,
    *,
    seed: int = 0,
    warm_start: ModelFamily | None = None,
    on_step: Callable[[str], None] | None = None,
) -> TrainedModel:
    """Run the three steps for one planned model and export the production model."""
    X, y = dataset.X, dataset.y
    n_games = len(dataset.game_ids)
    metrics: dict[str, float] = {}
    reports: dict[str, FitReport] = {}
    durations: dict[str, float] = {}

    def done(step: str, started: float) -> None:
        durations[step] = time.perf_counter() - started
        if on_step:
            on_step(step)

    # Step 1: hold-out, chronological.
    started = time.perf_counter()
    train_games, val_games, test_games = holdout_split(n_games)
    train, val, test = (_rows(dataset, g) for g in (train_games, val_games, test_games))
    holdout = _new_model(planned, seed)
    reports["holdout"] = holdout.fit(
        X[train], y[train], *((X[val], y[val]) if val.any() else (None, None))
    )
    if val.any():
        metrics["val_acc_holdout"] = accuracy(y[val], holdout.predict_proba(X[val]))
    test_rows = int(test.sum())
    per_class: dict[str, Any] = {}
    confusion: list[list[int]] = []
    if test_rows:
        test_proba = holdout.predict_proba(X[test])
        metrics["test_acc_holdout"] = metrics["test_accuracy"] = accuracy(y[test], test_proba)
        per_class = per_class_accuracy(y[test], test_proba)
        for move, value in per_class.items():
            if value is not None:
                metrics[f"test_acc_{move}"] = value
        confusion = confusion_matrix(y[test], test_proba)
    done("holdout", started)

    # Step 2: the production model, every 5th game validates.
    started = time.perf_counter()
    prod_train_games, prod_val_games = production_split(n_games)
    prod_train, prod_val = _rows(dataset, prod_train_games), _rows(dataset, prod_val_games)
    production = _new_model(planned, seed)
    reports["production"] = production.fit(
        X[prod_train],
        y[prod_train],
        *((X[prod_val], y[prod_val]) if prod_val.any() else (None, None)),
        warm_start=warm_start if type(production).supports_warm_start else None,
    )
    metrics["train_acc_production"] = accuracy(
        y[prod_train], production.predict_proba(X[prod_train])
    )
    temperature = 1.0
    if prod_val.any():
        val_proba = production.predict_proba(X[prod_val])
        metrics["val_acc_production"] = accuracy(y[prod_val], val_proba)
        calibration = calibrate(y[prod_val], val_proba)
        metrics.update(calibration.metrics())
        temperature = calibration.temperature
    metrics["temperature"] = temperature
    done("production", started)

    # Step 3: CV on the step-1 training games, for the iterations step 1 found best.
    started = time.perf_counter()
    iterations = max(1, reports["holdout"].best_iteration)
    if len(train_games) >= CV_FOLDS:
        folds = cv_folds(dataset.rounds_per_game(), train_games, k=CV_FOLDS, seed=seed)
        scores, sizes = [], []
        for k, fold_games in enumerate(folds, start=1):
            held = _rows(dataset, fold_games)
            rest = _rows(dataset, np.setdiff1d(train_games, fold_games))
            if not held.any() or not rest.any():
                continue
            fold_model = _new_model(planned, seed + k)
            fold_model.fit(X[rest], y[rest], max_iterations=iterations)
            score = accuracy(y[held], fold_model.predict_proba(X[held]))
            metrics[f"cv_fold_{k}_acc"] = score
            scores.append(score)
            sizes.append(int(held.sum()))
        if scores:
            metrics["cv_mean_acc"], metrics["cv_std_acc"] = weighted_mean_std(scores, sizes)
    done("cv", started)

    # Export the calibrated production model and check the graph against it.
    started = time.perf_counter()
    onnx_bytes = with_temperature(production.to_onnx(), temperature)
    check_rows = X[: min(len(X), _ONNX_CHECK_ROWS)]
    max_diff = (
        check_onnx(
            production,
            onnx_bytes,
            check_rows,
            calibrate=lambda proba: apply_temperature(proba, temperature),
        )
        if len(check_rows)
        else 0.0
    )
    metrics["onnx_max_abs_diff"] = max_diff
    done("export", started)

    for step, seconds in durations.items():
        metrics[f"seconds_{step}"] = seconds
    return TrainedModel(
        planned=planned,
        model=production,
        onnx=onnx_bytes,
        onnx_max_abs_diff=max_diff,
        metrics=metrics,
        per_class=per_class,
        confusion=confusion,
        fit_reports=reports,
        test_rows=test_rows,
        durations_s=durations,
        temperature=temperature,
    )
