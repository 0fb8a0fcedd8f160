"""Scheduled training (``rps train-scheduled``, the CronJob entry point), SPEC §5.

Trains only when there are at least ``min_total_rows`` usable labelled rows and at least
``min_new_rows`` more than the last successful training used (counted after filters and
downsampling), unless forced. With an empty registry it trains every config of the file;
otherwise it continues every alias, one after another. Every session — trained, skipped or
failed — is a ``training_runs`` row; the last successful one is the watermark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from rps.domain.policy import Alias, Family
from rps.persistence.lifecycle_repository import LifecycleRepository, TrainingStatus
from rps.registry.ports import ModelRegistry
from rps.training.configs import ConfigFile, PlannedModel, plan
from rps.training.continuation import plan_continuation
from rps.training.dataset import Dataset
from rps.training.runner import ModelOutcome, TrainingRunner


class Trigger(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    BOOTSTRAP = "bootstrap"
    CONTINUATION = "continuation"


@dataclass
class SessionResult:
    """One training session: what it decided and what each model became."""

    status: TrainingStatus
    reason: str
    training_run_id: int
    usable_rows: int = 0
    new_rows: int = 0
    outcomes: list[ModelOutcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status is TrainingStatus.FAILED


def _finish(
    lifecycle: LifecycleRepository,
    run_id: int,
    dataset: Dataset | None,
    outcomes: list[ModelOutcome],
    reason: str,
) -> TrainingStatus:
    failures = [o for o in outcomes if o.error]
    status = TrainingStatus.FAILED if failures else TrainingStatus.SUCCEEDED
    lifecycle.finish_training_run(
        run_id,
        status,
        rows_used=len(dataset) if dataset is not None else None,
        models_trained=sum(o.trained is not None for o in outcomes),
        models_registered=sum(o.registered for o in outcomes),
        dataset_fingerprint=dataset.fingerprint if dataset is not None else None,
        details={"reason": reason, "models": [o.summary() for o in outcomes]},
        error="; ".join(f"{o.planned.key}: {o.error}" for o in failures) or None,
    )
    return status


def train_session(
    *,
    trigger: Trigger,
    load_dataset: Callable[[], Dataset],
    runner: TrainingRunner,
    lifecycle: LifecycleRepository,
    planned: list[PlannedModel],
) -> SessionResult:
    """``rps train``: the planned configs, recorded as one training session."""
    run_id = lifecycle.start_training_run(trigger.value)
    dataset: Dataset | None = None
    try:
        dataset = load_dataset()
        outcomes = runner.run(dataset, planned)
    except Exception as exc:
        lifecycle.finish_training_run(run_id, TrainingStatus.FAILED, error=str(exc))
        raise
    status = _finish(lifecycle, run_id, dataset, outcomes, f"{trigger.value} training")
    return SessionResult(status, f"{trigger.value} training", run_id, len(dataset), 0, outcomes)


def continue_aliases(
    *,
    registry: ModelRegistry,
    runner: TrainingRunner,
    dataset: Dataset,
    config: ConfigFile,
    families: list[Family] | None = None,
    aliases: list[Alias] | None = None,
) -> list[ModelOutcome]:
    """Retrain each selected alias from its own run, one after another. An alias that points
    nowhere yet is trained from the config entry that targets it, if there is one."""
    continuations, empty = plan_continuation(registry, families=families, aliases=aliases)
    outcomes: list[ModelOutcome] = []
    for item in continuations:
        warm = {item.planned.key: item.warm_start} if item.warm_start is not None else None
        outcomes.extend(runner.run(dataset, [item.planned], warm_starts=warm))
    for family, alias in empty:
        fresh = [p for p in plan(config, model_types=[family]) if p.promote_alias is alias]
        outcomes.extend(runner.run(dataset, fresh))
    return outcomes


def registry_is_empty(registry: ModelRegistry) -> bool:
    return all(registry.alias_target(f, a) is None for f in Family for a in Alias)


def scheduled_training(
    *,
    load_dataset: Callable[[], Dataset],
    registry: ModelRegistry,
    runner: TrainingRunner,
    lifecycle: LifecycleRepository,
    config: ConfigFile,
    min_total_rows: int,
    min_new_rows: int,
    force: bool = False,
) -> SessionResult:
    """Train if the data warrants it (or ``force``); the caller promotes afterwards unless
    the session failed or auto-promotion is disabled."""
    run_id = lifecycle.start_training_run(Trigger.SCHEDULED.value)
    try:
        dataset = load_dataset()
        usable = len(dataset)
        last = lifecycle.last_successful_training()
        new = usable - (last.rows_used or 0) if last else usable
        if not force and (usable < min_total_rows or new < min_new_rows):
            reason = (
                f"skipped: {usable} usable labelled rows (need {min_total_rows}), "
                f"{new} new since the last successful training (need {min_new_rows})"
            )
            lifecycle.finish_training_run(
                run_id,
                TrainingStatus.SKIPPED,
                rows_used=usable,
                dataset_fingerprint=dataset.fingerprint,
                details={"reason": reason},
            )
            return SessionResult(TrainingStatus.SKIPPED, reason, run_id, usable, new)
        if registry_is_empty(registry):
            reason = "empty registry: trained every config of the file"
            outcomes = runner.run(dataset, plan(config))
        else:
            reason = "continued every alias"
            outcomes = continue_aliases(
                registry=registry, runner=runner, dataset=dataset, config=config
            )
        if force:
            reason += " (forced)"
    except Exception as exc:
        lifecycle.finish_training_run(run_id, TrainingStatus.FAILED, error=str(exc))
        raise
    status = _finish(lifecycle, run_id, dataset, outcomes, reason)
    return SessionResult(status, reason, run_id, usable, new, outcomes)
