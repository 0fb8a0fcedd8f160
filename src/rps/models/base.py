"""The interface every model family implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from rps.domain.policy import Family
from rps.features.names import FEATURE_COUNT

FloatMatrix = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]
CLASS_COUNT = 3  # rock, paper, scissors

# The ONNX graph every family exports: one float input of shape [N, 50], one output of
# probabilities [N, 3] in rock, paper, scissors order.
ONNX_INPUT = "features"
ONNX_OUTPUT = "probabilities"
ONNX_MAX_ABS_DIFF = 1e-5
# Probabilities are raised to this floor before a logarithm (temperature calibration, natively
# and in the serving graph), so a probability of exactly 0 gives a finite logit. A power of two:
# exactly the same number in float32 and float64.
PROBABILITY_FLOOR = 2.0**-100


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the fitted model would predict garbage."""


class Hyperparameters(BaseModel):
    """Base of each family's validated hyperparameters; unknown names are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class FitReport:
    """What one fit did: iterations run, the best one kept, and per-iteration curves.

    Iterations are epochs (PyTorch families) or boosting rounds (XGBoost) of this fit, counted
    from 1 (a warm start's earlier ones are not counted): ``best_iteration`` is how many of them
    the kept model has had — equal to ``iterations_run`` without a validation set, and 0 when a
    warm-started model was never improved on (it is kept unchanged). Curves hold one
    value per iteration run under the names ``train_loss``, ``val_loss`` and ``val_accuracy``
    (the validation ones only with a validation set) plus any family-specific ones.
    """

    iterations_run: int
    best_iteration: int
    best_validation_loss: float | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    warm_started: bool = False


class ModelFamily(ABC):
    """One trainable model of a family. Build with validated hyperparameters, then ``fit``."""

    family: ClassVar[Family]
    hyperparameter_type: ClassVar[type[Hyperparameters]]
    needs_scaling: ClassVar[bool]
    supports_warm_start: ClassVar[bool]

    def __init__(self, hyperparameters: Hyperparameters, seed: int = 0) -> None:
        if not isinstance(hyperparameters, self.hyperparameter_type):
            raise TypeError(
                f"{type(self).__name__} needs {self.hyperparameter_type.__name__}, "
                f"got {type(hyperparameters).__name__}"
            )
        self.hyperparameters = hyperparameters
        self.seed = seed

    @classmethod
    def parse_hyperparameters(cls, values: dict[str, Any]) -> Hyperparameters:
        """Validate raw values (a config's ``hyperparameters``); pydantic errors name the field."""
        return cls.hyperparameter_type.model_validate(values)

    @abstractmethod
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
        """Train on (X, y). With a validation set, stop early and restore the best iteration.

        ``max_iterations`` caps epochs / trees (used to refit without validation data);
        ``warm_start`` continues from a previous model of the same family where supported.
        """

    @abstractmethod
    def predict_proba(self, X: FloatMatrix) -> npt.NDArray[np.float32]:
        """P(user plays rock, paper, scissors) per row, shape [N, 3]."""

    @abstractmethod
    def to_onnx(self) -> bytes:
        """The serving graph: scaling (if any), the model, softmax; input ``features`` [N, 50],
        output ``probabilities`` [N, 3]."""

    @abstractmethod
    def save_native(self) -> tuple[str, bytes]:
        """The native model as (file name, bytes), logged next to the ONNX graph."""

    @classmethod
    @abstractmethod
    def load_native(cls, hyperparameters: Hyperparameters, payload: bytes) -> ModelFamily:
        """Rebuild a fitted model from ``save_native`` output (for warm starts)."""

    def extras(self) -> dict[str, Any]:
        """Family-specific artifacts as JSON-able values (importances, coefficients, ...)."""
        return {}


@dataclass(frozen=True)
class Validation:
    """A validation set: features [N, 50] and their labels."""

    features: FloatMatrix
    labels: Labels


def checked_features(features: npt.ArrayLike) -> FloatMatrix:
    """``features`` as a C-contiguous float32 [N, 50] matrix; ``ValueError`` if it has another
    shape or holds NaN or infinity (a malformed matrix would otherwise train or predict silently
    wrong)."""
    matrix = np.ascontiguousarray(features, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != FEATURE_COUNT:
        raise ValueError(f"features must have shape [N, {FEATURE_COUNT}], got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("features hold NaN or infinite values")
    return matrix


def checked_labels(labels: npt.ArrayLike, rows: int) -> Labels:
    """``labels`` as int64 move indices (0 rock, 1 paper, 2 scissors), one per feature row."""
    checked = np.ascontiguousarray(labels, dtype=np.int64)
    if checked.shape != (rows,):
        raise ValueError(f"labels must have shape ({rows},), got {checked.shape}")
    if checked.size and (checked.min() < 0 or checked.max() >= CLASS_COUNT):
        raise ValueError("labels must be move indices 0, 1 or 2")
    return checked


def checked_fit_inputs(
    features: npt.ArrayLike,
    labels: npt.ArrayLike,
    val_features: npt.ArrayLike | None,
    val_labels: npt.ArrayLike | None,
    *,
    min_rows: int = 1,
) -> tuple[FloatMatrix, Labels, Validation | None]:
    """The arguments of :meth:`ModelFamily.fit`, checked and converted; an empty validation set
    counts as none."""
    matrix = checked_features(features)
    checked = checked_labels(labels, len(matrix))
    if len(checked) < min_rows:
        raise ValueError(f"need at least {min_rows} training rows, got {len(checked)}")
    if (val_features is None) != (val_labels is None):
        raise ValueError("give both validation features and labels, or neither")
    if val_features is None or val_labels is None:
        return matrix, checked, None
    val_matrix = checked_features(val_features)
    validation = Validation(val_matrix, checked_labels(val_labels, len(val_matrix)))
    return matrix, checked, validation if len(validation.labels) else None


def iteration_budget(limit: int, max_iterations: int | None) -> int:
    """How many epochs / rounds to run: the hyperparameter's ``limit``, capped by
    ``max_iterations`` when given."""
    if max_iterations is None:
        return limit
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
    return min(limit, max_iterations)
