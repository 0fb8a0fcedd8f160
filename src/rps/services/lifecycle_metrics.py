"""The promotion and training series of SPEC §8, derived from the database (the ledger and the
training sessions) so that every worker and replica reports the same figures after restarts."""

from __future__ import annotations

from rps.domain.policy import Alias, Family
from rps.observability.metrics import LifecycleSnapshot
from rps.persistence.lifecycle_repository import LifecycleRepository, TrainingStatus
from rps.persistence.promotion_repository import PromotionRepository

_TRAINING_RUNS_READ = 500  # newest sessions behind the training series


def _family_of(model_key: str) -> str | None:
    """The family in a trained model's key (``xgboost/xgb-d5`` or ``xgboost:…``)."""
    for family in Family:
        if model_key.startswith(family.value):
            return family.value
    return None


def lifecycle_snapshot(
    promotions: PromotionRepository, lifecycle: LifecycleRepository
) -> LifecycleSnapshot:
    latest = promotions.latest_by_family()
    z: dict[str, float] = {}
    p: dict[str, float] = {}
    rank: dict[tuple[str, str], int] = {}
    for family, event in latest.items():
        if event.z is not None:
            z[family] = event.z
        if event.p_value is not None:
            p[family] = event.p_value
        after = event.assignments_after or {}
        accuracies = event.accuracies or {}
        # Rank the versions the aliases hold by accuracy (1 = best; ties share the better rank).
        scored = {
            alias: (accuracies.get(version) or {}).get("accuracy")
            for alias, version in after.items()
        }
        known = sorted({a for a in scored.values() if a is not None}, reverse=True)
        for alias, accuracy in scored.items():
            if accuracy is not None:
                rank[(family, alias)] = 1 + known.index(accuracy)
    swaps = promotions.last_swap_times()
    since_swap: dict[tuple[str, str], int] = {}
    for family in Family:
        counts = promotions.games_since(family.value, swaps.get(family.value))
        for alias in Alias:
            since_swap[(family.value, alias.value)] = counts.get(alias.value, 0)
    completed: dict[tuple[str, str], int] = {}
    durations: list[float] = []
    for run in lifecycle.training_runs(limit=_TRAINING_RUNS_READ):
        if run.status is TrainingStatus.RUNNING:
            continue
        key = ("all", run.status.value)
        completed[key] = completed.get(key, 0) + 1
        if run.finished_at is not None and run.status is not TrainingStatus.SKIPPED:
            durations.append((run.finished_at - run.started_at).total_seconds())
        for model in run.details.get("models", []) if isinstance(run.details, dict) else []:
            model_family = _family_of(str(model.get("model", "")))
            if model_family is None:
                continue
            ok = model.get("error") is None and bool(model.get("accepted"))
            status = (TrainingStatus.SUCCEEDED if ok else TrainingStatus.FAILED).value
            completed[(model_family, status)] = completed.get((model_family, status), 0) + 1
    return LifecycleSnapshot(
        promotion_z=z,
        promotion_p=p,
        promotion_events=promotions.decision_counts(),
        alias_reorders=promotions.reorder_counts(),
        alias_rank=rank,
        games_since_swap=since_swap,
        training_completed=completed,
        training_durations=tuple(durations),
    )
