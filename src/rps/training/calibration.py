"""Temperature calibration of a model's probabilities (SPEC §5), in numpy only.

A temperature ``T > 0`` rescales a model's probabilities ``p`` to ``softmax(log(p) / T)``: above 1
it softens an overconfident model, below 1 it sharpens an underconfident one, and it never
changes the most probable move (so accuracy is unchanged). ``T`` is fitted on a validation set by
minimising the log-loss of the rescaled probabilities. The serving graph applies the same
formula (:func:`rps.models.onnx_export.with_temperature`), with the same floor under ``p`` so a
probability of exactly 0 gives a finite logit, not ``-inf``.

Like :mod:`rps.training.evaluation`, every function refuses an empty set (``ValueError``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rps.models.base import PROBABILITY_FLOOR
from rps.training.evaluation import _checked, log_loss, predicted_moves

# Where the fit looks for T, and how finely: the search runs on log T, so the tolerance is
# relative (1e-6 of T), far below what would change a probability in the 5th decimal.
TEMPERATURE_BOUNDS = (0.05, 20.0)
LOG_TEMPERATURE_TOLERANCE = 1e-6
ECE_BINS = 10

_INVERSE_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618…

FloatArray = npt.NDArray[np.float64]


def _checked_temperature(temperature: float) -> float:
    value = float(temperature)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"the temperature must be a finite number above 0, got {temperature!r}")
    return value


def apply_temperature(proba: npt.ArrayLike, temperature: float) -> FloatArray:
    """``softmax(log(max(p, floor)) / T)`` row by row, in float64.

    ``T == 1`` is the identity: the probabilities come back unchanged (as float64), so an
    uncalibrated model's scores are exactly its raw ones.
    """
    t = _checked_temperature(temperature)
    probabilities = np.asarray(proba, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != 3:
        raise ValueError(f"expected probabilities (n, 3), got {probabilities.shape}")
    if t == 1.0:
        return probabilities.copy()
    logits = np.log(np.maximum(probabilities, PROBABILITY_FLOOR)) * (1.0 / t)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    calibrated: FloatArray = scaled / scaled.sum(axis=1, keepdims=True)
    return calibrated


def fit_temperature(
    y: npt.ArrayLike,
    proba: npt.ArrayLike,
    *,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    tolerance: float = LOG_TEMPERATURE_TOLERANCE,
) -> float:
    """The temperature within ``bounds`` that minimises the log-loss of
    ``apply_temperature(proba, T)`` against the true moves ``y``.

    A golden-section search on ``log T``: the negative log-likelihood is convex in ``1 / T``, so
    it has a single minimum along ``log T``. The result is never worse than no calibration: when
    the best temperature found does not lower the log-loss below the raw probabilities', the
    answer is exactly 1.
    """
    low, high = (_checked_temperature(b) for b in bounds)
    if not low <= 1.0 <= high:
        raise ValueError(f"the bounds must contain 1, got {bounds}")
    labels = np.asarray(y)
    probabilities = np.asarray(proba, dtype=np.float64)
    raw = log_loss(labels, probabilities)  # also checks shapes, labels and emptiness

    def objective(log_t: float) -> float:
        return log_loss(labels, apply_temperature(probabilities, math.exp(log_t)))

    a, b = math.log(low), math.log(high)
    c = b - _INVERSE_GOLDEN * (b - a)
    d = a + _INVERSE_GOLDEN * (b - a)
    fc, fd = objective(c), objective(d)
    while b - a > tolerance:
        if fc <= fd:  # the minimum lies in [a, d]
            b, d, fd = d, c, fc
            c = b - _INVERSE_GOLDEN * (b - a)
            fc = objective(c)
        else:  # the minimum lies in [c, b]
            a, c, fc = c, d, fd
            d = a + _INVERSE_GOLDEN * (b - a)
            fd = objective(d)
    best_log_t, best = (c, fc) if fc <= fd else (d, fd)
    return math.exp(best_log_t) if best < raw else 1.0


def expected_calibration_error(
    y: npt.ArrayLike, proba: npt.ArrayLike, *, bins: int = ECE_BINS
) -> float:
    """Expected calibration error of the top label: rows are put in ``bins`` equal-width bins of
    their highest probability (the last bin includes 1.0), and the gaps between each bin's mean
    confidence and its accuracy are averaged, weighted by the bin's share of rows."""
    if bins < 1:
        raise ValueError(f"need at least one bin, got {bins}")
    labels, probabilities = _checked(y, proba)
    confidence = probabilities.max(axis=1)
    correct = (predicted_moves(probabilities) == labels).astype(np.float64)
    which = np.clip((confidence * bins).astype(np.int64), 0, bins - 1)
    confidence_sum = np.bincount(which, weights=confidence, minlength=bins)
    correct_sum = np.bincount(which, weights=correct, minlength=bins)
    return float(np.abs(confidence_sum - correct_sum).sum() / len(labels))


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and the validation scores before (``_raw``) and after it."""

    temperature: float
    log_loss_raw: float
    ece_raw: float
    log_loss: float
    ece: float

    def metrics(self, prefix: str = "val_") -> dict[str, float]:
        """``{prefix}log_loss_raw``, ``{prefix}ece_raw``, ``{prefix}log_loss``,
        ``{prefix}ece`` and ``temperature``, as logged with the run."""
        return {
            f"{prefix}log_loss_raw": self.log_loss_raw,
            f"{prefix}ece_raw": self.ece_raw,
            f"{prefix}log_loss": self.log_loss,
            f"{prefix}ece": self.ece,
            "temperature": self.temperature,
        }


def calibrate(y: npt.ArrayLike, proba: npt.ArrayLike) -> Calibration:
    """Fit a temperature on a validation set and score the probabilities before and after."""
    temperature = fit_temperature(y, proba)
    calibrated = apply_temperature(proba, temperature)
    return Calibration(
        temperature=temperature,
        log_loss_raw=log_loss(y, proba),
        ece_raw=expected_calibration_error(y, proba),
        log_loss=log_loss(y, calibrated),
        ece=expected_calibration_error(y, calibrated),
    )
