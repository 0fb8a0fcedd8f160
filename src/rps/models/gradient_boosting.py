"""xgboost (policy forrest): gradient-boosted trees with the native Booster API (SPEC §5)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from rps.domain.policy import Family
from rps.features.names import FEATURE_NAMES
from rps.models.base import (
    CLASS_COUNT,
    FitReport,
    FloatMatrix,
    Hyperparameters,
    Labels,
    ModelFamily,
    checked_features,
    checked_fit_inputs,
    iteration_budget,
)
from rps.models.hyperparameters import XGBoostHyperparameters

_EPSILON = 1e-15  # xgboost's clip for mlogloss


def _mlogloss(probabilities: npt.NDArray[np.float32], y: Labels) -> float:
    picked = probabilities[np.arange(len(y)), y].astype(np.float64)
    return float(-np.log(np.clip(picked, _EPSILON, 1 - _EPSILON)).mean())


class XGBoostModel(ModelFamily):
    """``multi:softprob`` over rock, paper, scissors on the raw (unscaled) features.

    With a validation set, boosting stops after ``early_stopping_rounds`` rounds without a lower
    validation ``mlogloss`` and the booster is cut to its best round, so prediction, the ONNX
    graph and the saved model all hold exactly the trees that were kept. Without one,
    ``max_iterations`` (or ``n_estimators``) rounds are boosted.

    Warm start continues boosting the previous booster on the new data (xgboost's training
    continuation): the previous trees are kept and up to ``n_estimators`` new ones are added, so
    a model grows with each continuation. With a validation set, a continuation that never beats
    the previous booster's validation loss keeps the previous booster unchanged
    (``best_iteration`` 0).
    """

    family: ClassVar[Family] = Family.XGBOOST
    hyperparameter_type: ClassVar[type[Hyperparameters]] = XGBoostHyperparameters
    needs_scaling: ClassVar[bool] = False
    supports_warm_start: ClassVar[bool] = True
    hyperparameters: XGBoostHyperparameters

    def __init__(self, hyperparameters: Hyperparameters, seed: int = 0) -> None:
        super().__init__(hyperparameters, seed)
        self.booster: xgb.Booster | None = None
        self.fit_report: FitReport | None = None

    def params(self) -> dict[str, Any]:
        """The booster parameters the hyperparameters stand for."""
        hp = self.hyperparameters
        return {
            "objective": "multi:softprob",
            "num_class": CLASS_COUNT,
            "eta": hp.learning_rate,
            "max_depth": hp.max_depth,
            "min_child_weight": hp.min_child_weight,
            "subsample": hp.subsample,
            "colsample_bytree": hp.colsample_bytree,
            "lambda": hp.reg_lambda,
            "alpha": hp.reg_alpha,
            "gamma": hp.gamma,
            "tree_method": hp.tree_method,
            "max_bin": hp.max_bin,
            "nthread": hp.n_jobs,
            "seed": self.seed,
            # early stopping follows the last metric: mlogloss
            "eval_metric": ["merror", "mlogloss"],
        }

    def fitted_booster(self) -> xgb.Booster:
        if self.booster is None:
            raise RuntimeError("XGBoostModel is not fitted")
        return self.booster

    def _matrix(
        self, features: FloatMatrix, labels: Labels, reference: xgb.DMatrix | None = None
    ) -> xgb.DMatrix:
        if self.hyperparameters.tree_method == "hist":
            return xgb.QuantileDMatrix(
                features,
                label=labels,
                ref=reference,
                max_bin=self.hyperparameters.max_bin,
                nthread=self.hyperparameters.n_jobs,
            )
        return xgb.DMatrix(features, label=labels, nthread=self.hyperparameters.n_jobs)

    def fit(
        self,
        X: FloatMatrix,
        y: Labels,
        X_val: FloatMatrix | None = None,
        y_val: Labels | None = None,
        *,
        max_iterations: int | None = None,
        warm_start: ModelFamily | None = None,
    ) -> FitReport:
        started = time.perf_counter()
        features, labels, validation = checked_fit_inputs(X, y, X_val, y_val)
        rounds = iteration_budget(self.hyperparameters.n_estimators, max_iterations)
        previous = self._previous_booster(warm_start)
        previous_rounds = previous.num_boosted_rounds() if previous is not None else 0

        train = self._matrix(features, labels)
        evals: list[tuple[xgb.DMatrix, str]] = [(train, "train")]
        if validation is not None:
            evals.append(
                (self._matrix(validation.features, validation.labels, reference=train), "val")
            )
        history: dict[str, dict[str, list[float]]] = {}
        booster = xgb.train(
            self.params(),
            train,
            num_boost_round=rounds,
            evals=evals,
            evals_result=history,
            early_stopping_rounds=(
                self.hyperparameters.early_stopping_rounds if validation is not None else None
            ),
            verbose_eval=False,
            xgb_model=previous.copy() if previous is not None else None,
        )
        run = booster.num_boosted_rounds() - previous_rounds
        curves = {"train_loss": list(history["train"]["mlogloss"])}
        best_loss: float | None = None
        kept = run
        if validation is not None:
            val_loss = list(history["val"]["mlogloss"])
            curves["val_loss"] = val_loss
            curves["val_accuracy"] = [1.0 - e for e in history["val"]["merror"]]
            kept = int(np.argmin(val_loss)) + 1  # the first round with the lowest loss
            best_loss = float(val_loss[kept - 1])
            if previous is not None:
                before = _mlogloss(self._predict(previous, validation.features), validation.labels)
                if before <= best_loss:
                    kept, best_loss = 0, before
        if kept:
            booster = booster[: previous_rounds + kept]
        elif previous is not None:
            booster = previous.copy()
        # the attributes early stopping leaves describe the uncut booster; the cut one is whole
        booster.set_attr(best_iteration=None, best_score=None)
        self.booster = booster
        self.fit_report = FitReport(
            iterations_run=run,
            best_iteration=kept,
            best_validation_loss=best_loss,
            curves=curves,
            seconds=time.perf_counter() - started,
            warm_started=previous is not None,
        )
        return self.fit_report

    def _previous_booster(self, warm_start: ModelFamily | None) -> xgb.Booster | None:
        if warm_start is None:
            return None
        if not isinstance(warm_start, XGBoostModel):
            raise TypeError(f"cannot warm-start XGBoostModel from {type(warm_start).__name__}")
        return warm_start.fitted_booster()

    @staticmethod
    def _predict(booster: xgb.Booster, features: FloatMatrix) -> npt.NDArray[np.float32]:
        probabilities = np.asarray(booster.inplace_predict(features), dtype=np.float32)
        return probabilities.reshape(len(features), CLASS_COUNT)

    def predict_proba(self, X: FloatMatrix) -> npt.NDArray[np.float32]:
        return self._predict(self.fitted_booster(), checked_features(X))

    def to_onnx(self) -> bytes:
        from rps.models.onnx_export import xgboost_to_onnx

        return xgboost_to_onnx(self.fitted_booster())

    def save_native(self) -> tuple[str, bytes]:
        return "xgboost.ubj", bytes(self.fitted_booster().save_raw(raw_format="ubj"))

    @classmethod
    def load_native(cls, hyperparameters: Hyperparameters, payload: bytes) -> XGBoostModel:
        model = cls(hyperparameters)
        booster = xgb.Booster()
        booster.load_model(bytearray(payload))
        booster.set_param({"nthread": model.hyperparameters.n_jobs})
        model.booster = booster
        return model

    def extras(self) -> dict[str, Any]:
        """Feature importances by feature name: ``gain`` (mean gain of the feature's splits) and
        ``total_gain``; features never split on get 0."""
        if self.booster is None:
            return {}
        extras: dict[str, Any] = {"trees_per_class": self.booster.num_boosted_rounds()}
        for kind in ("gain", "total_gain"):
            scores = self.booster.get_score(importance_type=kind)
            extras[f"feature_importance_{kind}"] = {
                name: float(scores.get(f"f{i}", 0.0))  # type: ignore[arg-type]
                for i, name in enumerate(FEATURE_NAMES)
            }
        if self.fit_report is not None:
            extras["curves"] = self.fit_report.curves
        return extras
