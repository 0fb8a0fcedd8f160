"""What training needs from a model registry (implemented by the MLflow adapter; tests may use
a fake). Free of MLflow imports so training code can depend on it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rps.domain.policy import Alias, Family


@dataclass(frozen=True, slots=True)
class AliasTarget:
    """Where family@alias points: a registered version and the run that produced it."""

    family: Family
    alias: Alias
    registered_name: str
    version: str
    run_id: str


@dataclass(frozen=True, slots=True)
class LoggedTraining:
    """Everything one trained model leaves in the registry's run."""

    family: Family
    registered_name: str
    config_id: str
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: dict[str, Any]  # name → JSON-able value, stored as name.json
    onnx: bytes
    model_metadata: dict[str, Any]  # stored with the serving model (feature names, version, ...)
    native_name: str
    native: bytes
    config: dict[str, Any]  # the resolved config, read back by continuation training


class ModelRegistry(Protocol):
    def log_training(self, logged: LoggedTraining) -> str:
        """Log a run with params, metrics, tags, artifacts and the model; returns the run id."""
        ...

    def mark_rejected(self, run_id: str, reason: str) -> None: ...

    def tag_run(self, run_id: str, key: str, value: str) -> None: ...

    def register(self, run_id: str, registered_name: str) -> str:
        """Register the run's model as a new version; returns the version."""
        ...

    def set_alias(self, registered_name: str, alias: Alias, version: str) -> None: ...

    def delete_alias(self, registered_name: str, alias: Alias) -> None: ...

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None: ...

    def run_config(self, run_id: str) -> dict[str, Any]: ...

    def native_model(self, run_id: str) -> bytes: ...
