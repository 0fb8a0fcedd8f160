"""Scheduled training (``rps train-scheduled``, the CronJob entry point), SPEC §5.

Trains only when there are at least ``min_total_rows`` usable labelled rows and at least
``min_new_rows`` usable labelled rounds stored after the watermark of the last session that
trained (the newest round it saw: a monotone mark, never a difference of dataset sizes, so
downsampling or a row cap cannot stall retraining), unless forced. With an empty registry it
trains every config of the file; otherwise it continues every alias, one after another. Every
session — trained, skipped or failed — is a ``training_runs`` row, and each model it trained a
``training_outcomes`` row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rps.domain.policy import Alias, Family
from rps.persistence.lifecycle_repository import (
    LifecycleRepository,
    TrainingOutcome,
    TrainingStatus,
)
from rps.registry.ports import ModelRegistry
from rps.training.configs import ConfigFile, PlannedModel, plan
from rps.training.continuation import plan_continuation
from rps.training.dataset import Dataset
from rps.training.runner import ModelOutcome, Placement, TrainingRunner


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

    @property
    def rejected(self) -> bool:
        """Models were trained and the gate refused every one (not a failure)."""
        return self.status is TrainingStatus.REJECTED


def model_status(outcome: ModelOutcome) -> TrainingStatus:
    """What became of one model: failed if it raised (even after registering), succeeded if
    registered (``below_gate`` included), otherwise rejected — the gate refused it."""
    if outcome.error:
        return TrainingStatus.FAILED
    if outcome.registered:
        return TrainingStatus.SUCCEEDED
    return TrainingStatus.REJECTED


def session_status(outcomes: Sequence[ModelOutcome]) -> TrainingStatus:
    """A session that trained: failed if any model failed; rejected if it trained models and
    the gate refused every one; succeeded otherwise (no model to train included)."""
    statuses = [model_status(o) for o in outcomes]
    if TrainingStatus.FAILED in statuses:
        return TrainingStatus.FAILED
    if statuses and all(s is TrainingStatus.REJECTED for s in statuses):
        return TrainingStatus.REJECTED
    return TrainingStatus.SUCCEEDED


def _finish(
    lifecycle: LifecycleRepository,
    run_id: int,
    dataset: Dataset | None,
    outcomes: list[ModelOutcome],
    reason: str,
) -> TrainingStatus:
    status = session_status(outcomes)
    statuses = [model_status(o) for o in outcomes]
    failures = [o for o in outcomes if o.error]
    lifecycle.finish_training_run(
        run_id,
        status,
        rows_used=len(dataset) if dataset is not None else None,
        models_trained=sum(o.trained is not None for o in outcomes),
        models_registered=sum(o.registered for o in outcomes),
        models_rejected=statuses.count(TrainingStatus.REJECTED),
        dataset_fingerprint=dataset.fingerprint if dataset is not None else None,
        details={"reason": reason, "models": [o.summary() for o in outcomes]},
        error="; ".join(f"{o.planned.key}: {o.error}" for o in failures) or None,
        outcomes=[
            TrainingOutcome(
                model_type=o.planned.family.value,
                model_key=o.planned.key,
                status=st,
                version=o.version,
                duration_s=o.seconds,
            )
            for o, st in zip(outcomes, statuses, strict=True)
        ],
    )
    return status


def train_session(
    *,
    trigger: Trigger,
    load_dataset: Callable[[], Dataset],
    runner: TrainingRunner,
    lifecycle: LifecycleRepository,
    planned: list[PlannedModel],
    training_since: datetime | None = None,
    placement: Placement = Placement.CHALLENGER,
) -> SessionResult:
    """``rps train``: the planned configs, recorded as one training session (its watermark:
    the newest round usable for training, games created at/after ``training_since``)."""
    run_id = lifecycle.start_training_run(trigger.value, since=training_since)
    dataset: Dataset | None = None
    try:
        dataset = load_dataset()
        outcomes = runner.run(dataset, planned, placement=placement)
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
    placement: Placement = Placement.CHALLENGER,
) -> list[ModelOutcome]:
    """Retrain each selected alias from its own run, one after another, and place the new
    versions by ``placement`` (a retrained shadow points at its new version; a retrained
    Production or B makes a challenger unless DIRECT). An alias that points nowhere yet is
    trained from the config entry that targets it, if there is one."""
    continuations, empty = plan_continuation(registry, families=families, aliases=aliases)
    outcomes: list[ModelOutcome] = []
    for item in continuations:
        warm = {item.planned.key: item.warm_start} if item.warm_start is not None else None
        outcomes.extend(runner.run(dataset, [item.planned], warm_starts=warm, placement=placement))
    for family, alias in empty:
        fresh = [p for p in plan(config, model_types=[family]) if p.promote_alias is alias]
        # An empty alias is filled whatever the placement (nothing is being replaced).
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
    training_since: datetime | None = None,
) -> SessionResult:
    """Train if the data warrants it (or ``force``). Training writes only the shadows (and
    fills an empty Production or B); promotion, on its own clock, moves Production and B.
    New rows are the usable labelled rounds (games created at/after ``training_since``, the
    dataset's filter) stored after the last training's watermark, counted before downsampling
    and the row cap."""
    run_id = lifecycle.start_training_run(Trigger.SCHEDULED.value, since=training_since)
    try:
        dataset = load_dataset()
        usable = len(dataset)
        new = lifecycle.labelled_rounds_after(
            lifecycle.last_watermark(),
            since=training_since,
            min_label_step=dataset.min_label_step,
        )
        if not force and (usable < min_total_rows or new < min_new_rows):
            reason = (
                f"skipped: {usable} usable labelled rows (need {min_total_rows}), "
                f"{new} new since the last training's watermark (need {min_new_rows})"
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
            # Champion/challenger: the continuations compete for the shadows; Production and
            # B move only by promotion, so a running A/B test is never reset.
            reason = "trained challengers (continuations of every alias) for the shadows"
            outcomes = continue_aliases(
                registry=registry,
                runner=runner,
                dataset=dataset,
                config=config,
                placement=Placement.RANKED,
            )
        if force:
            reason += " (forced)"
    except Exception as exc:
        lifecycle.finish_training_run(run_id, TrainingStatus.FAILED, error=str(exc))
        raise
    status = _finish(lifecycle, run_id, dataset, outcomes, reason)
    return SessionResult(status, reason, run_id, usable, new, outcomes)
