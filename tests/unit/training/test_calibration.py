"""Temperature calibration: fitting, applying, and the calibration error (SPEC §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rps.training.calibration import (
    Calibration,
    apply_temperature,
    calibrate,
    expected_calibration_error,
    fit_temperature,
)
from rps.training.evaluation import log_loss


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return probabilities


def sample(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One move per row drawn from that row's probabilities."""
    draws = rng.random(len(probabilities))[:, None]
    moves: np.ndarray = (draws > probabilities.cumsum(axis=1)).sum(axis=1).clip(0, 2)
    return moves


def synthetic(
    rows: int, true_temperature: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model probabilities softmax(z), moves drawn from softmax(z / T): a model whose
    probabilities need exactly temperature T. Returns (moves, model probabilities, truth)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(rows, 3))
    truth = softmax(logits / true_temperature)
    return sample(truth, rng), softmax(logits), truth


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_the_fit_recovers_the_temperature_the_data_was_drawn_with(true_temperature: float) -> None:
    moves, model, _ = synthetic(20_000, true_temperature, seed=1)
    assert fit_temperature(moves, model) == pytest.approx(true_temperature, rel=0.06)


@pytest.mark.parametrize("true_temperature", [0.3, 0.8, 1.0, 1.3, 4.0])
@pytest.mark.parametrize("rows", [5, 60, 2000])
def test_calibration_never_increases_the_validation_log_loss(
    true_temperature: float, rows: int
) -> None:
    moves, model, _ = synthetic(rows, true_temperature, seed=rows)
    temperature = fit_temperature(moves, model)
    assert log_loss(moves, apply_temperature(model, temperature)) <= log_loss(moves, model)


def test_the_fitted_temperature_is_the_minimum_of_the_log_loss() -> None:
    moves, model, _ = synthetic(3000, 1.7, seed=4)
    temperature = fit_temperature(moves, model)
    best = log_loss(moves, apply_temperature(model, temperature))
    for other in (temperature * 0.99, temperature * 1.01, 1.0, 1.5, 2.0):
        assert best <= log_loss(moves, apply_temperature(model, other)) + 1e-12


def test_a_temperature_that_would_not_help_is_exactly_one() -> None:
    moves = np.array([0, 1, 2])
    uniform = np.full((3, 3), 1 / 3)  # no temperature changes a uniform prediction
    assert fit_temperature(moves, uniform) == 1.0


def test_the_fit_stays_within_its_bounds() -> None:
    moves = np.zeros(50, dtype=np.int64)
    # always right, and not confident enough: the best temperature is as low as allowed
    model = np.tile([0.5, 0.3, 0.2], (50, 1))
    assert fit_temperature(moves, model, bounds=(0.1, 10.0)) == pytest.approx(0.1, rel=1e-4)


def test_a_temperature_of_one_is_the_identity() -> None:
    _, model, _ = synthetic(100, 2.0, seed=2)
    model[0] = [1.0, 0.0, 0.0]
    np.testing.assert_array_equal(apply_temperature(model, 1.0), model)
    np.testing.assert_array_equal(
        apply_temperature(model.astype(np.float32), 1), model.astype(np.float32)
    )


def test_temperatures_soften_or_sharpen_without_changing_the_predicted_move() -> None:
    _, model, _ = synthetic(500, 1.0, seed=3)
    softer, sharper = apply_temperature(model, 3.0), apply_temperature(model, 0.4)
    for scaled in (softer, sharper):
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_array_equal(scaled.argmax(axis=1), model.argmax(axis=1))
    assert (softer.max(axis=1) <= model.max(axis=1) + 1e-12).all()
    assert (sharper.max(axis=1) >= model.max(axis=1) - 1e-12).all()
    # softmax(log p / T) is p^(1/T), normalised
    expected = model ** (1 / 3.0)
    np.testing.assert_allclose(softer, expected / expected.sum(axis=1, keepdims=True), rtol=1e-10)


def test_a_probability_of_zero_stays_finite_at_any_temperature() -> None:
    certain = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    for temperature in (0.05, 0.5, 2.0, 20.0):
        scaled = apply_temperature(certain, temperature)
        assert np.isfinite(scaled).all()
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
        np.testing.assert_array_equal(scaled.argmax(axis=1), [0, 1])
        if temperature <= 2.0:
            assert scaled[0, 0] > 0.999
    assert fit_temperature([1, 0], certain) > 0


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.inf, math.nan])
def test_a_temperature_must_be_a_positive_finite_number(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(np.full((2, 3), 1 / 3), temperature)


def test_the_ece_of_calibrated_probabilities_is_near_zero() -> None:
    moves, _, truth = synthetic(50_000, 1.0, seed=5)
    assert expected_calibration_error(moves, truth) < 0.01


def test_the_ece_of_an_overconfident_model_is_large() -> None:
    moves, model, _ = synthetic(20_000, 3.0, seed=6)  # the model needed T = 3
    assert expected_calibration_error(moves, model) > 0.15
    assert expected_calibration_error(moves, apply_temperature(model, 3.0)) < 0.02


def test_the_ece_is_the_weighted_gap_between_confidence_and_accuracy_per_bin() -> None:
    proba = np.array(
        [
            [0.95, 0.03, 0.02],  # bin 9: right
            [0.02, 0.03, 0.95],  # bin 9: wrong
            [0.55, 0.25, 0.20],  # bin 5: right
            [1.00, 0.00, 0.00],  # bin 9 (1.0 belongs to the last bin): right
        ]
    )
    moves = np.array([0, 0, 0, 0])
    top = abs((0.95 + 0.95 + 1.0) / 3 - 2 / 3) * 3 / 4
    middle = abs(0.55 - 1.0) * 1 / 4
    assert expected_calibration_error(moves, proba) == pytest.approx(top + middle)


def test_scores_refuse_an_empty_set() -> None:
    empty = np.zeros((0, 3))
    with pytest.raises(ValueError, match="no rows"):
        fit_temperature([], empty)
    with pytest.raises(ValueError, match="no rows"):
        expected_calibration_error([], empty)


def test_calibrate_scores_before_and_after_and_names_the_metrics() -> None:
    moves, model, _ = synthetic(5000, 2.0, seed=7)
    result = calibrate(moves, model)
    assert isinstance(result, Calibration)
    assert result.temperature == pytest.approx(2.0, rel=0.1)
    assert result.log_loss_raw == pytest.approx(log_loss(moves, model))
    assert result.log_loss < result.log_loss_raw
    assert result.ece < result.ece_raw
    assert result.metrics() == {
        "val_log_loss_raw": result.log_loss_raw,
        "val_ece_raw": result.ece_raw,
        "val_log_loss": result.log_loss,
        "val_ece": result.ece,
        "temperature": result.temperature,
    }
