"""Export to the serving format (SPEC §6.4) and the check that the export computes what the
native model does.

Every graph has one input ``features`` (float32 [N, 50]) and one output ``probabilities``
(float32 [N, 3], rock, paper, scissors, rows summing to 1): scaling and softmax are inside, so
serving needs onnxruntime and nothing else. :func:`with_temperature` appends a model's
calibration temperature to any family's graph, keeping that signature.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from rps.features.names import FEATURE_COUNT
from rps.models.base import (
    CLASS_COUNT,
    ONNX_INPUT,
    ONNX_MAX_ABS_DIFF,
    ONNX_OUTPUT,
    PROBABILITY_FLOOR,
    FloatMatrix,
    ModelFamily,
    checked_features,
)

if TYPE_CHECKING:
    import xgboost as xgb
    from torch import nn

_BATCH_AXIS = "N"
_TORCH_OPSET = 17
# The default-domain opset the temperature nodes need when a graph imports none (the XGBoost
# converter's graph uses only ai.onnx.ml); graphs that import an older one are refused.
_CALIBRATION_OPSET = 17
_MIN_CALIBRATION_OPSET = 13
_UNCALIBRATED = "probabilities_uncalibrated"
TEMPERATURE_METADATA_KEY = "rps.temperature"


class OnnxMismatch(ValueError):
    """The exported graph's probabilities differ from the native model's beyond tolerance."""


def torch_to_onnx(serving: nn.Module, n_features: int) -> bytes:
    """A module from ``n_features`` features to probabilities (scaler and softmax inside), in
    inference mode (BatchNorm running statistics, no dropout), through the TorchScript exporter
    (``dynamo=False``: small, plain graphs)."""
    import torch

    serving.eval()
    with (
        tempfile.TemporaryDirectory(prefix="rps-onnx-") as folder,
        warnings.catch_warnings(),
        torch.no_grad(),
    ):
        # the TorchScript exporter is deprecated in favour of the dynamo one, which adds a
        # dependency (onnxscript) and larger graphs for no gain on a network this plain
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        torch.onnx.export(
            serving,
            (torch.zeros(2, n_features),),
            Path(folder) / "model.onnx",
            input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT],
            dynamic_axes={ONNX_INPUT: {0: _BATCH_AXIS}, ONNX_OUTPUT: {0: _BATCH_AXIS}},
            opset_version=_TORCH_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        model = onnx.load(Path(folder) / "model.onnx")
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def xgboost_to_onnx(booster: xgb.Booster) -> bytes:
    """The booster as an ``ai.onnx.ml`` TreeEnsembleClassifier (softmax post-transform).

    The converter also outputs the argmax label; only ``probabilities`` is kept as a graph
    output (a plain float tensor, no ZipMap), so every family's graph has the same signature.
    """
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    converted = convert_xgboost(
        booster,
        name="rps_xgboost",
        initial_types=[(ONNX_INPUT, FloatTensorType([None, FEATURE_COUNT]))],
    )
    graph = converted.graph
    outputs = [o for o in graph.output if o.name == ONNX_OUTPUT]
    if len(outputs) != 1:
        raise RuntimeError(
            f"the XGBoost converter gave outputs {[o.name for o in graph.output]}, "
            f"expected one named {ONNX_OUTPUT!r}"
        )
    del graph.output[:]
    graph.output.append(
        onnx.helper.make_tensor_value_info(
            ONNX_OUTPUT, onnx.TensorProto.FLOAT, [_BATCH_AXIS, CLASS_COUNT]
        )
    )
    del graph.input[:]
    graph.input.append(
        onnx.helper.make_tensor_value_info(
            ONNX_INPUT, onnx.TensorProto.FLOAT, [_BATCH_AXIS, FEATURE_COUNT]
        )
    )
    onnx.checker.check_model(converted)
    return bytes(converted.SerializeToString())


def with_temperature(onnx_bytes: bytes, temperature: float) -> bytes:
    """The graph with its probabilities rescaled by a calibration temperature ``T``:
    ``Softmax(Log(Max(p, floor)) · 1/T, axis=1)`` appended after the ``probabilities`` output,
    the same formula as :func:`rps.training.calibration.apply_temperature`.

    Works on any family's graph: the tensor that was the output is renamed
    (``probabilities_uncalibrated``) and the new last node produces ``probabilities``, so the
    signature (input ``features`` [N, 50], output ``probabilities`` [N, 3]) is unchanged. The
    temperature is also recorded in the graph's metadata (``rps.temperature``). ``T == 1``
    returns the graph unchanged.
    """
    t = float(temperature)
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"the temperature must be a finite number above 0, got {temperature!r}")
    if t == 1.0:
        return onnx_bytes
    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    if [o.name for o in graph.output] != [ONNX_OUTPUT]:
        raise ValueError(
            f"expected one graph output {ONNX_OUTPUT!r}, got {[o.name for o in graph.output]}"
        )
    taken = {name for node in graph.node for name in (*node.input, *node.output)}
    taken |= {i.name for i in graph.initializer} | {i.name for i in graph.input}
    if _UNCALIBRATED in taken or any(n.startswith("calibration/") for n in taken):
        raise ValueError("the graph already holds a calibration")
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == ONNX_OUTPUT:
                node.output[i] = _UNCALIBRATED
        for i, name in enumerate(node.input):
            if name == ONNX_OUTPUT:
                node.input[i] = _UNCALIBRATED
    for info in graph.value_info:
        if info.name == ONNX_OUTPUT:
            info.name = _UNCALIBRATED

    default = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not default:
        model.opset_import.append(onnx.helper.make_opsetid("", _CALIBRATION_OPSET))
    elif default[0].version < _MIN_CALIBRATION_OPSET:
        raise ValueError(
            f"the graph imports opset {default[0].version}; calibration needs "
            f"{_MIN_CALIBRATION_OPSET} or later"
        )
    graph.initializer.extend(
        [
            onnx.helper.make_tensor(
                "calibration/floor", onnx.TensorProto.FLOAT, [], [PROBABILITY_FLOOR]
            ),
            onnx.helper.make_tensor(
                "calibration/inverse_temperature", onnx.TensorProto.FLOAT, [], [1.0 / t]
            ),
        ]
    )
    graph.node.extend(
        [
            onnx.helper.make_node(
                "Max",
                [_UNCALIBRATED, "calibration/floor"],
                ["calibration/floored"],
                name="calibration/Max",
            ),
            onnx.helper.make_node(
                "Log", ["calibration/floored"], ["calibration/log"], name="calibration/Log"
            ),
            onnx.helper.make_node(
                "Mul",
                ["calibration/log", "calibration/inverse_temperature"],
                ["calibration/logits"],
                name="calibration/Mul",
            ),
            onnx.helper.make_node(
                "Softmax", ["calibration/logits"], [ONNX_OUTPUT], axis=1, name="calibration/Softmax"
            ),
        ]
    )
    onnx.helper.set_model_props(
        model,
        {
            **{p.key: p.value for p in model.metadata_props},
            TEMPERATURE_METADATA_KEY: repr(t),
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return bytes(model.SerializeToString())


def onnx_session(onnx_bytes: bytes) -> ort.InferenceSession:
    """An onnxruntime session on one thread, as serving runs it (SPEC §6.4)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def onnx_probabilities(onnx_bytes: bytes, features: FloatMatrix) -> FloatMatrix:
    """Run the exported graph on ``features`` and return its ``probabilities`` output."""
    session = onnx_session(onnx_bytes)
    (probabilities,) = session.run([ONNX_OUTPUT], {ONNX_INPUT: checked_features(features)})
    result: FloatMatrix = np.asarray(probabilities, dtype=np.float32)
    return result


def check_onnx(
    model: ModelFamily,
    onnx_bytes: bytes,
    features: FloatMatrix,
    *,
    calibrate: Callable[[FloatMatrix], npt.NDArray[np.floating]] | None = None,
) -> float:
    """The largest |ONNX − native| probability over the rows of ``features``;
    :class:`OnnxMismatch` if it exceeds ``ONNX_MAX_ABS_DIFF`` or the graph's output has the wrong
    shape.

    ``calibrate`` maps the native probabilities to what the graph should output when the graph
    post-processes them (a temperature, :func:`with_temperature`)."""
    rows = checked_features(features)
    exported = onnx_probabilities(onnx_bytes, rows)
    native = model.predict_proba(rows)
    if calibrate is not None:
        native = np.asarray(calibrate(native))
    if exported.shape != native.shape:
        raise OnnxMismatch(f"ONNX output has shape {exported.shape}, native {native.shape}")
    if not len(rows):
        return 0.0
    diff = float(np.max(np.abs(exported.astype(np.float64) - native.astype(np.float64))))
    if not diff <= ONNX_MAX_ABS_DIFF:  # also catches NaN
        raise OnnxMismatch(
            f"ONNX probabilities differ from the native model's by {diff:.3g} "
            f"(allowed {ONNX_MAX_ABS_DIFF:g})"
        )
    return diff
