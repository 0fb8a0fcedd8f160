"""Small served models without training: constant ONNX graphs, a dict-backed model source, and
a local serving cache filled with them (unit, API, browser and dashboard tests)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path

from onnx import TensorProto, helper

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.features.names import FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION
from rps.registry.serving_cache import LocalStore, PublishedModel, ServingCache
from rps.serving.model_manager import FetchedModel, ModelUnavailableError

Probabilities = tuple[float, float, float]


def constant_model(probabilities: Probabilities) -> bytes:
    """An ONNX graph features[N,50] → probabilities[N,3] that always answers ``probabilities``
    (softmax of their logs over a zero-weight linear layer)."""
    weights = helper.make_tensor("W", TensorProto.FLOAT, [FEATURE_COUNT, 3], [0.0] * 150)
    bias = helper.make_tensor("B", TensorProto.FLOAT, [3], [math.log(p) for p in probabilities])
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["features", "W", "B"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "constant",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", FEATURE_COUNT])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        [weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def fetched(version: str, probabilities=(0.7, 0.2, 0.1), *, feature_version=FEATURE_VERSION):
    payload = constant_model(probabilities)
    return FetchedModel(
        payload,
        version,
        f"run-{version}",
        hashlib.sha256(payload).hexdigest(),
        {"feature_version": feature_version},
    )


class DictSource:
    """A source backed by a dict; values may be exceptions to raise."""

    def __init__(self, name: str, models: dict | None = None, generation: int | None = 1):
        self.name = name
        self.models = models or {}
        self._generation = generation
        self.calls = 0

    def fetch(self, family: Family, alias: Alias) -> FetchedModel:
        self.calls += 1
        value = self.models.get((family, alias))
        if value is None:
            raise ModelUnavailableError("no_model", "not here")
        if isinstance(value, Exception):
            raise value
        return value

    def generation(self) -> int | None:
        return self._generation


def publish_constant_models(
    cache_dir: Path,
    answers: Mapping[tuple[Family, Alias], tuple[Probabilities, str]],
    *,
    val_log_loss: float | None = None,
) -> None:
    """Publish a constant model for each family@alias of ``answers`` (→ probabilities and
    version) into a local serving cache at ``cache_dir``; ``val_log_loss``, when given, is the
    calibrated validation log-loss their metadata claims (it sets the model's prior weight)."""
    models = {}
    for (family, alias), (probabilities, version) in answers.items():
        models[(family, alias)] = PublishedModel(
            run_id=hashlib.sha256(f"{family.value}-{alias.value}".encode()).hexdigest()[:32],
            version=version,
            registered_name=REGISTERED_NAMES[family],
            onnx_bytes=constant_model(probabilities),
            metadata={
                "config_id": f"constant-{alias.value}",
                "feature_names": list(FEATURE_NAMES),
                "feature_version": FEATURE_VERSION,
                "input": "features",
                "output": "probabilities",
                **({} if val_log_loss is None else {"val_log_loss": val_log_loss}),
            },
        )
    ServingCache(LocalStore(cache_dir)).publish(models)
