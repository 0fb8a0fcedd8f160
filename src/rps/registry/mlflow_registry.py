"""The MLflow adapter: runs, registered models and aliases (SPEC §5).

Default store: ``sqlite:///$DATA_PATH/mlflow.db`` with artifacts in ``$DATA_PATH/mlartifacts``;
any ``MLFLOW_TRACKING_URI`` (e.g. an ``mlflow server``) is honoured, with MLflow's own
``MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN`` variables for authentication.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from rps.domain.policy import Alias, Family
from rps.registry.ports import AliasTarget, LoggedTraining

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
CONFIG_ARTIFACT = "config.json"
NATIVE_DIR = "native"
REJECTED_TAG = "rejected"
MODEL_URI_TAG = "logged_model_uri"


class MlflowRegistry:
    """Talks to one MLflow tracking server / store. MLflow is imported on first use, so
    building this object costs nothing."""

    def __init__(
        self,
        tracking_uri: str,
        experiment_name: str,
        artifact_location: str | None,
        registered_names: dict[Family, str],
    ) -> None:
        self._tracking_uri = tracking_uri
        self._experiment_name = experiment_name
        self._artifact_location = artifact_location
        self._names = registered_names
        self._client: Any = None
        self._experiment_id: str | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import mlflow
            from mlflow import MlflowClient

            mlflow.set_tracking_uri(self._tracking_uri)
            self._client = MlflowClient(tracking_uri=self._tracking_uri)
        return self._client

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            client = self.client
            found = client.get_experiment_by_name(self._experiment_name)
            if found is not None:
                self._experiment_id = str(found.experiment_id)
            else:
                self._experiment_id = str(
                    client.create_experiment(
                        self._experiment_name, artifact_location=self._artifact_location
                    )
                )
        return self._experiment_id

    def log_training(self, logged: LoggedTraining) -> str:
        import mlflow
        import onnx

        client = self.client
        experiment_id = self.experiment_id()
        tags = {
            "family": logged.family.value,
            "registered_name": logged.registered_name,
            "config_id": logged.config_id,
            **logged.tags,
        }
        with mlflow.start_run(experiment_id=experiment_id, run_name=logged.config_id) as run:
            run_id: str = run.info.run_id
            mlflow.log_params({k: _param(v) for k, v in logged.params.items()})
            mlflow.log_metrics(logged.metrics)
            mlflow.set_tags(tags)
            mlflow.log_dict(logged.config, CONFIG_ARTIFACT)
            for name, value in logged.artifacts.items():
                mlflow.log_dict(value, f"{name}.json")
            with tempfile.TemporaryDirectory() as tmp:
                native_path = Path(tmp) / logged.native_name
                native_path.write_bytes(logged.native)
                mlflow.log_artifact(str(native_path), NATIVE_DIR)
            info = mlflow.onnx.log_model(
                onnx.load_from_string(logged.onnx),
                name=MODEL_ARTIFACT,
                pip_requirements=["onnxruntime"],
                metadata=logged.model_metadata,
            )
            # MLflow 3 keeps a logged model as its own entity: remember where, to register it.
            client.set_tag(run_id, MODEL_URI_TAG, info.model_uri)
        return run_id

    def mark_rejected(self, run_id: str, reason: str) -> None:
        self.client.set_tag(run_id, REJECTED_TAG, "true")
        self.client.set_tag(run_id, "rejected_reason", reason)

    def tag_run(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    def register(self, run_id: str, registered_name: str) -> str:
        client = self.client
        source = client.get_run(run_id).data.tags.get(MODEL_URI_TAG)
        if not source:
            raise ValueError(f"run {run_id} has no logged model to register")
        try:
            client.get_registered_model(registered_name)
        except Exception:  # MLflow signals "not found" with an exception
            client.create_registered_model(registered_name)
        # A tracking server wants the logged model's id along with its models:/ URI.
        model_id = source.removeprefix("models:/") if source.startswith("models:/m-") else None
        version = client.create_model_version(
            registered_name, source, run_id=run_id, model_id=model_id
        )
        return str(version.version)

    def set_alias(self, registered_name: str, alias: Alias, version: str) -> None:
        self.client.set_registered_model_alias(registered_name, alias.value, version)

    def delete_alias(self, registered_name: str, alias: Alias) -> None:
        self.client.delete_registered_model_alias(registered_name, alias.value)

    def version_run_id(self, registered_name: str, version: str) -> str | None:
        """The run behind a registered version; None when there is no such version."""
        try:
            found = self.client.get_model_version(registered_name, str(version))
        except Exception:  # MLflow signals "not found" with an exception
            return None
        return str(found.run_id)

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None:
        """Where family@alias points; None when the model or the alias does not exist.

        Any other failure (an unreachable tracking server) is raised, so that callers do not
        mistake a registry they cannot reach for an empty one.
        """
        name = self._names[family]
        try:
            version = self.client.get_model_version_by_alias(name, alias.value)
        except Exception as exc:
            if getattr(exc, "error_code", None) in _NOT_FOUND_CODES:
                return None
            raise
        return AliasTarget(family, alias, name, str(version.version), str(version.run_id))

    def run_config(self, run_id: str) -> dict[str, Any]:
        import mlflow

        loaded: dict[str, Any] = mlflow.artifacts.load_dict(f"runs:/{run_id}/{CONFIG_ARTIFACT}")
        return loaded

    def native_model(self, run_id: str) -> bytes:
        client = self.client
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(client.download_artifacts(run_id, NATIVE_DIR, tmp))
            files = [p for p in path.iterdir() if p.is_file()]
            if len(files) != 1:
                raise FileNotFoundError(f"run {run_id} has no single native model in {NATIVE_DIR}/")
            return files[0].read_bytes()

    def serving_model(self, run_id: str) -> tuple[bytes, dict[str, Any]]:
        """The run's logged ONNX graph as one self-contained file, and the metadata logged with
        it (feature names, feature version, ``onnx_sha256``, ...), for the serving cache.

        ``mlflow.onnx`` stores tensors above 1 KiB in a separate ``<uuid>.data`` file beside
        ``model.onnx``; loading with onnx pulls them back in. The bytes are checked against the
        ``onnx_sha256`` the training run computed before the graph was logged.
        """
        import hashlib

        import mlflow
        import onnx
        from mlflow.models import Model

        source = self.client.get_run(run_id).data.tags.get(MODEL_URI_TAG)
        if not source:
            raise ValueError(f"run {run_id} has no logged model (tag {MODEL_URI_TAG})")
        with tempfile.TemporaryDirectory(prefix="rps-serving-") as tmp:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=source, dst_path=tmp, tracking_uri=self._tracking_uri
                )
            )
            logged = Model.load(str(local / "MLmodel"))
            metadata: dict[str, Any] = dict(logged.metadata or {})
            graph_file = logged.flavors.get("onnx", {}).get("data", "model.onnx")
            model = onnx.load(str(local / graph_file))
        _inline_tensors(model)
        data = bytes(model.SerializeToString())
        expected = metadata.get("onnx_sha256")
        actual = hashlib.sha256(data).hexdigest()
        if expected and actual != expected:
            raise ValueError(
                f"run {run_id}: the logged ONNX graph has sha256 {actual}, "
                f"the run recorded {expected}"
            )
        return data, metadata

    def registered_versions(self, registered_name: str) -> list[dict[str, Any]]:
        """Every version with its aliases (for status tables and tests)."""
        client = self.client
        try:
            model = client.get_registered_model(registered_name)
        except Exception:
            return []
        aliases_by_version: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases_by_version.setdefault(str(version), []).append(alias)
        versions = client.search_model_versions(f"name = '{registered_name}'")
        return [
            {
                "version": str(v.version),
                "run_id": v.run_id,
                "aliases": sorted(aliases_by_version.get(str(v.version), [])),
            }
            for v in versions
        ]


# What MLflow answers when a registered model, or an alias of it, does not exist.
_NOT_FOUND_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:500]


def _inline_tensors(model: Any) -> None:
    """Make a graph loaded from external data serialize as it did before it was saved.

    Loading external data leaves ``data_location`` explicitly set to DEFAULT on the tensors that
    had been moved out; an explicitly set proto2 field is serialized, so the bytes (and their
    sha256) would differ from the original graph's although the model is the same.
    """
    import onnx

    def graphs(graph: Any) -> Any:
        yield graph
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("g"):
                    yield from graphs(attribute.g)
                for sub in attribute.graphs:
                    yield from graphs(sub)

    for graph in graphs(model.graph):
        tensors = list(graph.initializer)
        for sparse in graph.sparse_initializer:
            tensors.extend((sparse.values, sparse.indices))
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    tensors.append(attribute.t)
                tensors.extend(attribute.tensors)
        for tensor in tensors:
            if (
                tensor.HasField("data_location")
                and tensor.data_location == onnx.TensorProto.DEFAULT
            ):
                tensor.ClearField("data_location")
