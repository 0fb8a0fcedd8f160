"""The model manager (SPEC §6.1): the 12 family@alias models of this process, as ONNX Runtime
sessions, loaded from the serving cache, else the registry, else declared fallback.

A reload builds a complete new set off the request path and swaps it in with one reference
assignment, so a request sees either the old set or the new one, never a mixture. A model that
fails to load where it loaded before keeps serving its previous version (reported as stale).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from rps.domain.policy import Alias, Family
from rps.features.names import FEATURE_COUNT, FEATURE_VERSION
from rps.serving.predictor import ModelAnswer, ModelUnavailable

log = logging.getLogger(__name__)

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"


@dataclass(frozen=True)
class FetchedModel:
    """A serving artifact and what is known about it."""

    onnx: bytes
    version: str
    run_id: str
    sha256: str
    metadata: dict[str, Any]


class ModelUnavailableError(Exception):
    """A source has no usable model for family@alias; ``reason`` is the metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ModelSource(Protocol):
    """Where models come from: the serving cache or the registry."""

    name: str

    def fetch(self, family: Family, alias: Alias) -> FetchedModel: ...

    def generation(self) -> int | None:
        """A number that changes whenever the source's set changes (None if unknown)."""
        ...


@dataclass(frozen=True)
class LoadedModel:
    family: Family
    alias: Alias
    version: str
    run_id: str
    source: str
    sha256: str
    loaded_at: datetime
    feature_version: str
    session: Any = field(repr=False)
    stale_reason: str | None = None
    onnx: bytes = field(default=b"", repr=False)  # the graph, kept to build the family session
    # The calibrated validation log-loss from the model's metadata (the layer's prior weight).
    val_log_loss: float | None = None
    temperature: float | None = None

    def predict(self, features: np.ndarray) -> tuple[float, float, float]:
        row = np.asarray(features, dtype=np.float32).reshape(1, FEATURE_COUNT)
        out = self.session.run([OUTPUT_NAME], {INPUT_NAME: row})[0][0]
        return (float(out[0]), float(out[1]), float(out[2]))


@dataclass(frozen=True)
class Fallback:
    family: Family
    alias: Alias
    reason: str
    detail: str


Slot = LoadedModel | Fallback


@dataclass(frozen=True)
class FamilySession:
    """A family's loaded aliases merged into one graph: one inference call answers them all.

    Every model round asks all four aliases on the same features; one ONNX Runtime call instead
    of four saves the per-call overhead three times (about 15 µs a round).
    """

    session: Any = field(repr=False)
    outputs: tuple[str, ...]  # one per alias in ``models``
    models: tuple[LoadedModel, ...]


@dataclass(frozen=True)
class ModelSet:
    slots: dict[tuple[Family, Alias], Slot]
    generation: int | None
    loaded_at: datetime
    families: dict[Family, FamilySession] = field(default_factory=dict)

    def get(self, family: Family, alias: Alias) -> Slot:
        return self.slots[(family, alias)]


class ManagerMetrics(Protocol):
    def model_loaded(self, model: LoadedModel) -> None: ...

    def model_unloaded(self, family: Family, alias: Alias) -> None: ...

    def load_seconds(self, seconds: float) -> None: ...

    def reload_result(self, result: str) -> None: ...

    def fallback(self, family: str, reason: str) -> None: ...


def _session(onnx_bytes: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def _validated(family: Family, alias: Alias, fetched: FetchedModel, source: str) -> LoadedModel:
    """A session that answers like a serving model must, or ModelUnavailableError."""
    feature_version = str(fetched.metadata.get("feature_version", ""))
    if feature_version != FEATURE_VERSION:
        raise ModelUnavailableError(
            "feature_mismatch",
            f"{family.value}@{alias.value} v{fetched.version} was trained on feature version "
            f"{feature_version or 'unknown'}, this server computes {FEATURE_VERSION}",
        )
    try:
        session = _session(fetched.onnx)
    except Exception as exc:  # onnxruntime raises its own types for a corrupt graph
        raise ModelUnavailableError("load_failed", f"not a loadable ONNX graph: {exc}") from exc
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
        raise ModelUnavailableError(
            "load_failed", f"graph has inputs {inputs} and outputs {outputs}"
        )
    model = LoadedModel(
        family=family,
        alias=alias,
        version=fetched.version,
        run_id=fetched.run_id,
        source=source,
        sha256=fetched.sha256,
        loaded_at=datetime.now(UTC),
        feature_version=feature_version,
        session=session,
        onnx=fetched.onnx,
        val_log_loss=_finite(fetched.metadata.get("val_log_loss")),
        temperature=_finite(fetched.metadata.get("temperature")),
    )
    probs = model.predict(np.zeros(FEATURE_COUNT, dtype=np.float32))
    if not np.isfinite(probs).all() or abs(sum(probs) - 1.0) > 1e-3:
        raise ModelUnavailableError("load_failed", f"smoke prediction gave {probs}")
    return model


def _finite(value: object) -> float | None:
    """A metadata number, or None when absent or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


class ModelManager:
    """Holds this process's model set and answers the bot's questions (the Predictor port)."""

    def __init__(
        self,
        sources: Sequence[ModelSource],
        metrics: ManagerMetrics | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._sources = list(sources)
        self._metrics = metrics
        self._clock = clock
        self._set = ModelSet(
            {
                (f, a): Fallback(f, a, "not_loaded", "models have not been loaded yet")
                for f in Family
                for a in Alias
            },
            None,
            datetime.now(UTC),
        )
        self._reload_lock = threading.Lock()
        self.loaded_once = False

    # -- the Predictor port --------------------------------------------------------------------

    def predict(
        self, family: Family, alias: Alias, features: np.ndarray
    ) -> ModelAnswer | ModelUnavailable:
        slot = self._set.get(family, alias)
        if isinstance(slot, Fallback):
            return ModelUnavailable(slot.reason)
        try:
            probabilities = slot.predict(features)
        except Exception:
            log.exception("%s@%s v%s failed to predict", family.value, alias.value, slot.version)
            return ModelUnavailable("predict_failed")
        return ModelAnswer(probabilities, slot.version, slot.run_id, slot.val_log_loss)

    def predict_family(
        self, family: Family, features: np.ndarray
    ) -> dict[Alias, ModelAnswer | ModelUnavailable]:
        """Every alias of ``family`` on the same features, in one inference call when the
        family's models could be merged (else one call each)."""
        current = self._set
        merged = current.families.get(family)
        if merged is None:
            return {a: self.predict(family, a, features) for a in Alias}
        row = np.asarray(features, dtype=np.float32).reshape(1, FEATURE_COUNT)
        try:
            outputs = merged.session.run(merged.outputs, {INPUT_NAME: row})
        except Exception:
            log.exception("%s: the merged session failed; asking each alias", family.value)
            return {a: self.predict(family, a, features) for a in Alias}
        answers: dict[Alias, ModelAnswer | ModelUnavailable] = {}
        for model, out in zip(merged.models, outputs, strict=True):
            p = out[0]
            answers[model.alias] = ModelAnswer(
                (float(p[0]), float(p[1]), float(p[2])),
                model.version,
                model.run_id,
                model.val_log_loss,
            )
        for alias in Alias:
            if alias not in answers:
                slot = current.get(family, alias)
                answers[alias] = (
                    ModelUnavailable(slot.reason)
                    if isinstance(slot, Fallback)
                    else self.predict(family, alias, features)
                )
        return answers

    def version_of(self, family: Family, alias: Alias) -> str | None:
        slot = self._set.get(family, alias)
        return None if isinstance(slot, Fallback) else slot.version

    def val_log_loss(self, family: Family, alias: Alias) -> float | None:
        slot = self._set.get(family, alias)
        return None if isinstance(slot, Fallback) else slot.val_log_loss

    # -- loading -------------------------------------------------------------------------------

    @property
    def model_set(self) -> ModelSet:
        return self._set

    def source_generation(self) -> int | None:
        for source in self._sources:
            try:
                generation = source.generation()
            except Exception:  # an unreachable cache just means "unknown"
                continue
            if generation is not None:
                return generation
        return None

    def _load_one(self, family: Family, alias: Alias) -> Slot:
        problems: list[tuple[str, str]] = []
        for source in self._sources:
            try:
                return _validated(family, alias, source.fetch(family, alias), source.name)
            except ModelUnavailableError as exc:
                problems.append((exc.reason, f"{source.name}: {exc}"))
            except Exception as exc:  # a source that is down must not take the app down
                problems.append(("source_unreachable", f"{source.name}: {exc}"))
        if not problems:
            return Fallback(family, alias, "no_model", "no model source is configured")
        # Report the most telling reason: a broken model beats "nothing there".
        order = ("feature_mismatch", "load_failed", "source_unreachable", "no_model")
        reason = min((p[0] for p in problems), key=lambda r: order.index(r) if r in order else 0)
        return Fallback(family, alias, reason, "; ".join(p[1] for p in problems))

    def reload(self) -> ModelSet:
        """Load a full new set and swap it in; a model that fails keeps its previous version.

        ``rps_model_reloads_total`` counts it as ``success``; ``degraded`` when some model is on
        fallback or kept stale; ``failed`` when no model could be loaded from any source (every
        source unreachable or broken) or the reload could not complete at all.
        """
        try:
            return self._reload()
        except Exception:
            if self._metrics is not None:
                self._metrics.reload_result("failed")
            raise

    def _reload(self) -> ModelSet:
        with self._reload_lock:
            started = self._clock()
            generation = self.source_generation()
            previous = self._set
            slots: dict[tuple[Family, Alias], Slot] = {}
            broken = 0
            for family in Family:
                for alias in Alias:
                    fresh = self._load_one(family, alias)
                    broken += isinstance(fresh, Fallback) and fresh.reason != "no_model"
                    old = previous.get(family, alias)
                    if (
                        isinstance(fresh, Fallback)
                        and isinstance(old, LoadedModel)
                        and (fresh.reason != "no_model")
                    ):
                        log.warning(
                            "%s@%s: %s; keeping version %s",
                            family.value, alias.value, fresh.detail, old.version,
                        )  # fmt: skip
                        slots[(family, alias)] = _stale(old, fresh.detail)
                    else:
                        slots[(family, alias)] = fresh
            new_set = ModelSet(slots, generation, datetime.now(UTC), _family_sessions(slots))
            self._set = new_set
            self.loaded_once = True
            self._report(previous, new_set, self._clock() - started, broken == len(slots))
            return new_set

    def _report(
        self, previous: ModelSet, new_set: ModelSet, seconds: float, all_broken: bool
    ) -> None:
        degraded = [s for s in new_set.slots.values() if isinstance(s, Fallback)]
        stale = [s for s in new_set.slots.values() if isinstance(s, LoadedModel) and s.stale_reason]
        result = "success" if not degraded and not stale else "degraded"
        if all_broken:
            result = "failed"
        if degraded:
            reasons = sorted({f.reason for f in degraded})
            log.warning(
                "%d of %d models on fallback (%s): %s",
                len(degraded),
                len(new_set.slots),
                ", ".join(reasons),
                "; ".join(f"{f.family.value}@{f.alias.value}: {f.detail}" for f in degraded[:3])
                + (" ..." if len(degraded) > 3 else ""),
            )
        if self._metrics is None:
            return
        self._metrics.load_seconds(seconds)
        self._metrics.reload_result(result)
        for key, slot in new_set.slots.items():
            old = previous.slots.get(key)
            if isinstance(old, LoadedModel) and (
                not isinstance(slot, LoadedModel) or slot.run_id != old.run_id
            ):
                self._metrics.model_unloaded(*key)
            if isinstance(slot, LoadedModel):
                self._metrics.model_loaded(slot)

    def status(self) -> list[dict[str, Any]]:
        """Every family@alias: version, run id, source, loaded_at, sha256, fallback state."""
        current = self._set
        rows = []
        for (family, alias), slot in current.slots.items():
            row: dict[str, Any] = {
                "model": f"{family.value}@{alias.value}",
                "family": family.value,
                "alias": alias.value,
            }
            if isinstance(slot, LoadedModel):
                row.update(
                    version=slot.version,
                    run_id=slot.run_id,
                    source=slot.source,
                    loaded_at=slot.loaded_at.isoformat().replace("+00:00", "Z"),
                    sha256=slot.sha256,
                    feature_version=slot.feature_version,
                    temperature=slot.temperature,
                    val_log_loss=slot.val_log_loss,
                    fallback=False,
                    fallback_reason=None,
                    stale_reason=slot.stale_reason,
                )
            else:
                row.update(
                    version=None,
                    run_id=None,
                    source="fallback",
                    loaded_at=None,
                    sha256=None,
                    feature_version=None,
                    fallback=True,
                    fallback_reason=slot.reason,
                    detail=slot.detail,
                )
            row["cache_generation"] = current.generation
            rows.append(row)
        return rows

    def degraded(self) -> list[dict[str, str]]:
        """family@alias on fallback (or serving a stale version), and why (for /ready)."""
        out = []
        for (family, alias), slot in self._set.slots.items():
            if isinstance(slot, Fallback):
                out.append({"model": f"{family.value}@{alias.value}", "reason": slot.reason})
            elif slot.stale_reason:
                out.append({"model": f"{family.value}@{alias.value}", "reason": "stale"})
        return out


def _family_sessions(slots: dict[tuple[Family, Alias], Slot]) -> dict[Family, FamilySession]:
    """One merged session per family with at least two loaded aliases (off the request path,
    during a reload); a family whose graphs cannot be merged keeps its separate sessions."""
    sessions: dict[Family, FamilySession] = {}
    for family in Family:
        models = [
            slot
            for alias in Alias
            if isinstance(slot := slots[(family, alias)], LoadedModel) and slot.onnx
        ]
        if len(models) < 2:
            continue
        try:
            sessions[family] = _merged(models)
        except Exception as exc:  # a graph we cannot merge still serves on its own session
            log.warning("%s: serving each alias on its own session (%s)", family.value, exc)
    return sessions


def _merged(models: Sequence[LoadedModel]) -> FamilySession:
    """The models' graphs side by side in one graph on the shared ``features`` input, checked
    to answer exactly as the separate sessions do."""
    import onnx
    from onnx import helper

    nodes = []
    initializers = []
    outputs = []
    opsets: dict[str, int] = {}
    ir_version = 0
    first_input = None
    for model in models:
        proto = onnx.load_from_string(model.onnx)
        graph = proto.graph
        prefix = f"{model.alias.value}/"

        def renamed(name: str, prefix: str = prefix) -> str:
            return name if name in ("", INPUT_NAME) else prefix + name

        if first_input is None:
            first_input = next(x for x in graph.input if x.name == INPUT_NAME)
        for tensor in graph.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(tensor)
            copy.name = renamed(tensor.name)
            initializers.append(copy)
        for number, node in enumerate(graph.node):
            twin = onnx.NodeProto()
            twin.CopyFrom(node)
            del twin.input[:]
            twin.input.extend(renamed(x) for x in node.input)
            del twin.output[:]
            twin.output.extend(renamed(x) for x in node.output)
            twin.name = f"{prefix}{node.name or number}"
            nodes.append(twin)
        output = next(o for o in graph.output if o.name == OUTPUT_NAME)
        out = onnx.ValueInfoProto()
        out.CopyFrom(output)
        out.name = renamed(output.name)
        outputs.append(out)
        for opset in proto.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
        ir_version = max(ir_version, proto.ir_version)
    assert first_input is not None
    graph = helper.make_graph(nodes, "family", [first_input], outputs, initializers)
    merged = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()]
    )
    merged.ir_version = ir_version
    session = _session(merged.SerializeToString())
    names = tuple(o.name for o in outputs)
    # The same answers as the separate sessions, or not used at all.
    probe = np.linspace(0.0, 2.0, FEATURE_COUNT, dtype=np.float32).reshape(1, FEATURE_COUNT)
    together = session.run(list(names), {INPUT_NAME: probe})
    for model, out in zip(models, together, strict=True):
        alone = model.session.run([OUTPUT_NAME], {INPUT_NAME: probe})[0]
        if not np.array_equal(alone, out):
            raise ValueError(f"the merged graph answers differently for {model.alias.value}")
    return FamilySession(session, names, tuple(models))


def _stale(model: LoadedModel, reason: str) -> LoadedModel:
    return replace(model, stale_reason=reason)


def load_model(
    family: Family, alias: Alias, fetched: FetchedModel, source: str = "memory"
) -> LoadedModel:
    """One serving model from its artifact, validated as the manager validates a load
    (ModelUnavailableError when it is not usable)."""
    return _validated(family, alias, fetched, source)


class FixedModels:
    """A predictor holding a fixed set of loaded models (training's strength check plays a
    candidate through it before it is registered); every other family@alias has none."""

    def __init__(self, models: dict[tuple[Family, Alias], LoadedModel]) -> None:
        self._models = dict(models)

    def predict(
        self, family: Family, alias: Alias, features: np.ndarray
    ) -> ModelAnswer | ModelUnavailable:
        model = self._models.get((family, alias))
        if model is None:
            return ModelUnavailable("no_model")
        return ModelAnswer(model.predict(features), model.version, model.run_id, model.val_log_loss)

    def version_of(self, family: Family, alias: Alias) -> str | None:
        model = self._models.get((family, alias))
        return None if model is None else model.version

    def val_log_loss(self, family: Family, alias: Alias) -> float | None:
        model = self._models.get((family, alias))
        return None if model is None else model.val_log_loss
