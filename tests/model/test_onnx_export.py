"""The serving graph of every family: one input ``features`` [N, 50], one output
``probabilities`` [N, 3], equal to the native model within 1e-5 (SPEC §6.4), with or without a
calibration temperature (SPEC §5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest

from rps.domain.policy import Family
from rps.models.base import ONNX_MAX_ABS_DIFF, ModelFamily
from rps.models.catalog import model_for
from rps.models.onnx_export import (
    OnnxMismatch,
    check_onnx,
    onnx_probabilities,
    with_temperature,
)
from rps.training.calibration import apply_temperature
from tests.model.configs import QUICK
from tests.model.games import Dataset

ALL_FAMILIES = list(Family)
# The SPEC's architecture (BatchNorm, dropout) with few epochs: export is what is under test.
EXPORTED: dict[Family, dict[str, Any]] = {
    Family.FEEDFORWARD_NN: {"hidden_sizes": [64, 32], "batch_size": 256, "epochs": 6},
    Family.XGBOOST: {"n_estimators": 40, "learning_rate": 0.3, "max_depth": 4},
    Family.MULTINOMIAL_LOGISTIC: QUICK[Family.MULTINOMIAL_LOGISTIC],
}


@pytest.fixture(scope="module")
def fitted(mixed_data: Dataset) -> dict[Family, tuple[ModelFamily, bytes]]:
    models = {}
    for family in ALL_FAMILIES:
        model = model_for(family, EXPORTED[family], seed=2)
        model.fit(mixed_data.X, mixed_data.y, mixed_data.X_val, mixed_data.y_val)
        models[family] = (model, model.to_onnx())
    return models


def random_rows(rows: int, seed: int) -> np.ndarray:
    """Rows far outside the training data too: wide values, negatives, integers, zeros."""
    rng = np.random.default_rng(seed)
    features = rng.normal(scale=3.0, size=(rows, 50)).astype(np.float32)
    features[: rows // 4] = rng.integers(0, 2, size=(rows // 4, 50))
    features[-1] = 0
    return features


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_onnx_probabilities_equal_the_native_models_on_real_and_random_rows(
    fitted: dict[Family, tuple[ModelFamily, bytes]], mixed_data: Dataset, family: Family
) -> None:
    model, graph = fitted[family]
    for features in (mixed_data.X_test, mixed_data.X, random_rows(2000, seed=1)):
        assert check_onnx(model, graph, features) <= ONNX_MAX_ABS_DIFF


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_the_graph_has_exactly_one_input_features_and_one_output_probabilities(
    fitted: dict[Family, tuple[ModelFamily, bytes]], family: Family
) -> None:
    graph = onnx.load_from_string(fitted[family][1]).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    assert [i.name for i in inputs] == ["features"]
    assert [o.name for o in graph.output] == ["probabilities"]

    def shape(value: onnx.ValueInfoProto) -> list[int | str]:
        dims = value.type.tensor_type.shape.dim
        return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]

    assert inputs[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert shape(inputs[0])[1] == 50
    assert isinstance(shape(inputs[0])[0], str)  # any batch size
    assert shape(graph.output[0])[1] == 3


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_onnx_rows_are_probabilities_for_any_batch_size(
    fitted: dict[Family, tuple[ModelFamily, bytes]], mixed_data: Dataset, family: Family
) -> None:
    graph = fitted[family][1]
    for rows in (1, 7, 500):
        probabilities = onnx_probabilities(graph, mixed_data.X_test[:rows])
        assert probabilities.shape == (rows, 3)
        assert probabilities.dtype == np.float32
        assert (probabilities >= 0).all()
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("family", [Family.FEEDFORWARD_NN, Family.MULTINOMIAL_LOGISTIC], ids=str)
def test_torch_graphs_hold_the_scaling_and_softmax_and_nothing_for_training(
    fitted: dict[Family, tuple[ModelFamily, bytes]], family: Family
) -> None:
    operators = {node.op_type for node in onnx.load_from_string(fitted[family][1]).graph.node}
    assert {"Sub", "Div", "Softmax"} <= operators
    assert not operators & {"Dropout", "RandomUniformLike", "RandomNormalLike"}
    assert operators <= {"Sub", "Div", "Gemm", "BatchNormalization", "Relu", "Softmax", "Identity"}


def test_a_graph_that_computes_something_else_is_refused(
    fitted: dict[Family, tuple[ModelFamily, bytes]], mixed_data: Dataset
) -> None:
    model, _ = fitted[Family.FEEDFORWARD_NN]
    _, other_graph = fitted[Family.MULTINOMIAL_LOGISTIC]
    with pytest.raises(OnnxMismatch, match="differ"):
        check_onnx(model, other_graph, mixed_data.X_test)
    assert issubclass(OnnxMismatch, ValueError)


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
@pytest.mark.parametrize("temperature", [0.4, 2.5])
def test_a_graph_with_a_temperature_equals_the_native_calibrated_probabilities(
    fitted: dict[Family, tuple[ModelFamily, bytes]],
    mixed_data: Dataset,
    family: Family,
    temperature: float,
) -> None:
    model, graph = fitted[family]
    calibrated = with_temperature(graph, temperature)
    for features in (mixed_data.X_test, random_rows(2000, seed=2)):
        expected = apply_temperature(model.predict_proba(features), temperature)
        exported = onnx_probabilities(calibrated, features)
        assert np.abs(exported - expected).max() <= ONNX_MAX_ABS_DIFF
        np.testing.assert_allclose(exported.sum(axis=1), 1.0, atol=1e-5)
        assert (
            check_onnx(
                model, calibrated, features, calibrate=lambda p: apply_temperature(p, temperature)
            )
            <= ONNX_MAX_ABS_DIFF
        )
    # the uncalibrated comparison fails: the temperature really is in the graph
    with pytest.raises(OnnxMismatch):
        check_onnx(model, calibrated, mixed_data.X_test)


@pytest.mark.parametrize("family", ALL_FAMILIES, ids=str)
def test_a_calibrated_graph_keeps_the_signature_and_records_its_temperature(
    fitted: dict[Family, tuple[ModelFamily, bytes]], family: Family
) -> None:
    calibrated = onnx.load_from_string(with_temperature(fitted[family][1], 2.0))
    onnx.checker.check_model(calibrated, full_check=True)
    graph = calibrated.graph
    initializers = {i.name for i in graph.initializer}
    assert [i.name for i in graph.input if i.name not in initializers] == ["features"]
    assert [o.name for o in graph.output] == ["probabilities"]
    assert graph.node[-1].op_type == "Softmax"
    assert graph.node[-1].output == ["probabilities"]
    assert [node.output[0] for node in graph.node].count("probabilities") == 1
    assert {p.key: p.value for p in calibrated.metadata_props}["rps.temperature"] == "2.0"
    with pytest.raises(ValueError, match="already"):
        with_temperature(calibrated.SerializeToString(), 2.0)


def test_a_temperature_of_one_leaves_the_graph_unchanged(
    fitted: dict[Family, tuple[ModelFamily, bytes]],
) -> None:
    graph = fitted[Family.XGBOOST][1]
    assert with_temperature(graph, 1.0) == graph
    for bad in (0.0, -2.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            with_temperature(graph, bad)


def test_a_calibrated_graph_gives_finite_probabilities_when_the_model_is_certain() -> None:
    """A model whose softmax underflows to exactly 0: the floor keeps the log finite."""
    rows = np.zeros((40, 50), dtype=np.float32)
    rows[:, 0] = np.repeat([-1.0, 1.0], 20)
    moves = np.repeat([0, 1], 20)
    model = model_for(Family.MULTINOMIAL_LOGISTIC, {"lr": 5.0, "epochs": 200, "l2": 0.0}, seed=0)
    model.fit(rows, moves)
    extreme = rows * 1000
    assert (model.predict_proba(extreme) == 0).any()
    graph = with_temperature(model.to_onnx(), 3.0)
    exported = onnx_probabilities(graph, extreme)
    assert np.isfinite(exported).all()
    assert check_onnx(model, graph, extreme, calibrate=lambda p: apply_temperature(p, 3.0)) <= (
        ONNX_MAX_ABS_DIFF
    )
