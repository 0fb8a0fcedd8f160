"""Evaluation helpers: accuracy, per-class recall, confusion matrix, weighted CV summary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rps.training.evaluation import (
    accuracy,
    confusion_matrix,
    log_loss,
    per_class_accuracy,
    weighted_mean_std,
)

Y = np.array([0, 0, 1, 2, 2, 2])
PROBA = np.array(
    [
        [0.8, 0.1, 0.1],  # rock, right
        [0.1, 0.8, 0.1],  # paper, wrong
        [0.1, 0.8, 0.1],  # paper, right
        [0.1, 0.1, 0.8],  # scissors, right
        [0.8, 0.1, 0.1],  # rock, wrong
        [0.1, 0.1, 0.8],  # scissors, right
    ]
)


def test_accuracy_counts_argmax_hits():
    assert accuracy(Y, PROBA) == pytest.approx(4 / 6)


def test_per_class_accuracy_is_recall_per_true_move_and_skips_absent_moves():
    assert per_class_accuracy(Y, PROBA) == pytest.approx(
        {"rock": 0.5, "paper": 1.0, "scissors": 2 / 3}
    )
    only_rock = per_class_accuracy(np.array([0, 0]), PROBA[:2])
    assert set(only_rock) == {"rock"}


def test_confusion_matrix_rows_are_true_moves_columns_predictions():
    assert confusion_matrix(Y, PROBA) == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_weighted_mean_and_std_weight_by_fold_size():
    mean, std = weighted_mean_std([0.5, 1.0], [3, 1])
    assert mean == pytest.approx(0.625)
    assert std == pytest.approx(math.sqrt((3 * 0.125**2 + 0.375**2) / 4))


def test_log_loss_of_certain_right_answers_is_near_zero():
    assert log_loss(np.array([1]), np.array([[0.0, 1.0, 0.0]])) == pytest.approx(0.0, abs=1e-9)


def test_an_empty_set_is_an_error_not_nan():
    with pytest.raises(ValueError, match="no rows"):
        accuracy(np.array([], dtype=np.int64), np.zeros((0, 3)))
