"""Scores of a model's predicted probabilities against the true moves (SPEC §5).

``y`` holds move indexes (0 rock, 1 paper, 2 scissors); ``proba`` is (n, 3) in that order. The
predicted move is the most probable one, ties going to the first in rock, paper, scissors order.
Every function refuses an empty set (``ValueError``) rather than return NaN.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from rps.domain.move import MOVES

MOVE_NAMES = tuple(m.value for m in MOVES)


def _checked(y: npt.ArrayLike, proba: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], np.ndarray]:
    labels = np.asarray(y, dtype=np.int64)
    probabilities = np.asarray(proba, dtype=np.float64)
    if labels.ndim != 1 or probabilities.shape != (len(labels), 3):
        raise ValueError(
            f"expected y (n,) and proba (n, 3), got {labels.shape}, {probabilities.shape}"
        )
    if len(labels) == 0:
        raise ValueError("no rows to score")
    if ((labels < 0) | (labels > 2)).any():
        raise ValueError("labels must be move indexes 0, 1, 2")
    return labels, probabilities


def predicted_moves(proba: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The most probable move of each row (first of rock, paper, scissors on ties)."""
    moves: npt.NDArray[np.int64] = np.argmax(np.asarray(proba), axis=1).astype(np.int64)
    return moves


def accuracy(y: npt.ArrayLike, proba: npt.ArrayLike) -> float:
    """Share of rows whose most probable move is the true one."""
    labels, probabilities = _checked(y, proba)
    return float(np.mean(predicted_moves(probabilities) == labels))


def per_class_accuracy(y: npt.ArrayLike, proba: npt.ArrayLike) -> dict[str, float]:
    """Recall of each true move: of the rows where the user played it, the share predicted.

    Keys are ``rock``, ``paper``, ``scissors``; a move absent from ``y`` is **omitted** (its
    recall is undefined, and a NaN would poison logged metrics).
    """
    labels, probabilities = _checked(y, proba)
    hits = predicted_moves(probabilities) == labels
    totals = np.bincount(labels, minlength=3)
    correct = np.bincount(labels, weights=hits, minlength=3)
    return {MOVE_NAMES[m]: float(correct[m] / totals[m]) for m in range(3) if totals[m] > 0}


def confusion_matrix(y: npt.ArrayLike, proba: npt.ArrayLike) -> list[list[int]]:
    """3×3 counts: row = true move, column = predicted move (rock, paper, scissors)."""
    labels, probabilities = _checked(y, proba)
    cells = np.bincount(3 * labels + predicted_moves(probabilities), minlength=9)
    return [[int(c) for c in row] for row in cells.reshape(3, 3)]


def log_loss(y: npt.ArrayLike, proba: npt.ArrayLike, eps: float = 1e-15) -> float:
    """Mean negative log-probability of the true move (probabilities clipped to [eps, 1])."""
    labels, probabilities = _checked(y, proba)
    true_p = np.clip(probabilities[np.arange(len(labels)), labels], eps, 1.0)
    return float(-np.mean(np.log(true_p)))


def weighted_mean_std(values: npt.ArrayLike, weights: npt.ArrayLike) -> tuple[float, float]:
    """Weighted mean and (population) standard deviation, e.g. fold accuracies weighted by fold
    size for ``cv_mean_acc`` / ``cv_std_acc``."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if v.shape != w.shape or v.ndim != 1:
        raise ValueError(
            f"values and weights must be equal-length vectors, got {v.shape}, {w.shape}"
        )
    if len(v) == 0:
        raise ValueError("no values to average")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    mean = float(np.average(v, weights=w))
    variance = float(np.average((v - mean) ** 2, weights=w))
    return mean, math.sqrt(variance)
