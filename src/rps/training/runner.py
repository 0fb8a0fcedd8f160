"""Train planned models, log each to the registry, gate, register and move aliases."""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from rps.domain.policy import Alias
from rps.features.names import FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION
from rps.models.base import ModelFamily
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.registry.ports import LoggedTraining, ModelRegistry
from rps.training.configs import PlannedModel
from rps.training.dataset import Dataset
from rps.training.pipeline import STEPS, TrainedModel, train_three_steps

log = logging.getLogger(__name__)


class TrainingProgress(Protocol):
    """Where the runner reports progress (a rich display in the CLI, nothing in tests)."""

    def model_started(self, planned: PlannedModel, steps: Sequence[str]) -> None: ...

    def step_done(self, planned: PlannedModel, step: str) -> None: ...

    def model_finished(self, outcome: ModelOutcome) -> None: ...


class SilentProgress:
    def model_started(self, planned: PlannedModel, steps: Sequence[str]) -> None:
        pass

    def step_done(self, planned: PlannedModel, step: str) -> None:
        pass

    def model_finished(self, outcome: ModelOutcome) -> None:
        pass


@dataclass
class ModelOutcome:
    """What became of one planned model."""

    planned: PlannedModel
    trained: TrainedModel | None = None
    run_id: str | None = None
    version: str | None = None
    alias: Alias | None = None
    previous_version: str | None = None
    accepted: bool = False
    reason: str = ""
    error: str | None = None
    seconds: float = 0.0

    @property
    def registered(self) -> bool:
        return self.version is not None

    def summary(self) -> dict[str, Any]:
        metrics = self.trained.metrics if self.trained else {}
        return {
            "model": self.planned.key,
            "run_id": self.run_id,
            "version": self.version,
            "alias": self.alias.value if self.alias else None,
            "accepted": self.accepted,
            "reason": self.reason,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "metrics": {k: round(v, 6) for k, v in metrics.items()},
        }


def run_config(planned: PlannedModel, seed: int) -> dict[str, Any]:
    """The resolved config stored with each run; continuation training reads it back."""
    return {
        "family": planned.family.value,
        "registered_name": planned.registered_name,
        "config_id": planned.config_id,
        "description": planned.description,
        "promote_alias": planned.promote_alias.value if planned.promote_alias else None,
        "hyperparameters": planned.hyperparameters.model_dump(mode="json"),
        "acceptance": planned.acceptance.model_dump(mode="json"),
        "mlflow_tags": planned.mlflow_tags,
        "overrides": planned.overrides,
        "seed": seed,
    }


class TrainingRunner:
    def __init__(
        self,
        registry: ModelRegistry,
        lifecycle: LifecycleRepository,
        *,
        assigned_by: str = "rps train",
        git_revision: str | None = None,
        progress: TrainingProgress | None = None,
        seed: int = 0,
    ) -> None:
        self._registry = registry
        self._lifecycle = lifecycle
        self._assigned_by = assigned_by
        self._git_revision = git_revision
        self._progress = progress or SilentProgress()
        self._seed = seed

    def run(
        self,
        dataset: Dataset,
        planned: Sequence[PlannedModel],
        *,
        warm_starts: dict[str, ModelFamily] | None = None,
    ) -> list[ModelOutcome]:
        """Train every planned model in order; one failure does not stop the others."""
        outcomes = []
        for item in planned:
            warm = (warm_starts or {}).get(item.key)
            outcomes.append(self._one(dataset, item, warm))
        return outcomes

    def _one(
        self, dataset: Dataset, planned: PlannedModel, warm: ModelFamily | None
    ) -> ModelOutcome:
        outcome = ModelOutcome(planned)
        started = time.perf_counter()
        self._progress.model_started(planned, STEPS)
        try:
            trained = train_three_steps(
                dataset,
                planned,
                seed=self._seed,
                warm_start=warm,
                on_step=lambda step: self._progress.step_done(planned, step),
            )
            outcome.trained = trained
            outcome.accepted, outcome.reason = trained.acceptance()
            outcome.run_id = self._registry.log_training(
                self._logged(dataset, trained, warm is not None)
            )
            if not outcome.accepted:
                self._registry.mark_rejected(outcome.run_id, outcome.reason)
                log.warning("%s %s; not registered", planned.key, outcome.reason)
            else:
                outcome.version = self._registry.register(outcome.run_id, planned.registered_name)
                if planned.promote_alias is not None:
                    self._move_alias(outcome, planned.promote_alias)
        except Exception as exc:  # report and go on with the next model
            outcome.error = f"{type(exc).__name__}: {exc}"
            log.error("training %s failed:\n%s", planned.key, traceback.format_exc())
        outcome.seconds = time.perf_counter() - started
        self._progress.model_finished(outcome)
        return outcome

    def _move_alias(self, outcome: ModelOutcome, alias: Alias) -> None:
        planned = outcome.planned
        assert outcome.version is not None
        previous = self._registry.alias_target(planned.family, alias)
        self._registry.set_alias(planned.registered_name, alias, outcome.version)
        outcome.alias = alias
        outcome.previous_version = previous.version if previous else None
        self._lifecycle.record_assignment(
            model_type=planned.family.value,
            alias=alias.value,
            version=outcome.version,
            run_id=outcome.run_id,
            previous_version=outcome.previous_version,
            assigned_by=self._assigned_by,
            reason=f"trained with config {planned.config_id}",
        )

    def _logged(self, dataset: Dataset, trained: TrainedModel, warm: bool) -> LoggedTraining:
        planned = trained.planned
        sha256 = hashlib.sha256(trained.onnx).hexdigest()
        params: dict[str, Any] = {
            **planned.hyperparameters.model_dump(mode="json"),
            "config_id": planned.config_id,
            "model_type": planned.family.value,
            "seed": self._seed,
            "warm_start": warm,
            "dataset_rows": len(dataset),
            "dataset_games": len(dataset.game_ids),
            "dataset_fingerprint": dataset.fingerprint,
            "feature_version": FEATURE_VERSION,
        }
        tags = {
            "config_family": planned.family.value,
            "config_id": planned.config_id,
            "target_alias": planned.promote_alias.value if planned.promote_alias else "",
            "feature_version": FEATURE_VERSION,
            "dataset_fingerprint": dataset.fingerprint,
            "git_revision": self._git_revision or "unknown",
            "onnx_sha256": sha256,
            **planned.mlflow_tags,
        }
        artifacts: dict[str, Any] = {
            "confusion_matrix": {
                "labels": ["rock", "paper", "scissors"],
                "rows_true_cols_predicted": trained.confusion,
            },
            "per_class_accuracy": trained.per_class,
            "dataset": dict(dataset.stats),
            "fit_reports": {name: asdict(r) for name, r in trained.fit_reports.items()},
            "family_extras": trained.model.extras(),
        }
        native_name, native = trained.model.save_native()
        metadata = {
            "family": planned.family.value,
            "config_id": planned.config_id,
            "feature_names": list(FEATURE_NAMES),
            "feature_count": FEATURE_COUNT,
            "feature_version": FEATURE_VERSION,
            "onnx_sha256": sha256,
            "input": "features",
            "output": "probabilities",
        }
        return LoggedTraining(
            family=planned.family,
            registered_name=planned.registered_name,
            config_id=planned.config_id,
            params=params,
            metrics=trained.metrics,
            tags=tags,
            artifacts=artifacts,
            onnx=trained.onnx,
            model_metadata=metadata,
            native_name=native_name,
            native=native,
            config=run_config(planned, self._seed),
        )
