"""The promotion, training and strength series of SPEC §8, derived from the database (the
ledger, the training sessions, alias moves, gym figures and alias predictions) so that every
worker and replica reports the same figures after restarts."""

from __future__ import annotations

from dataclasses import dataclass, field

from rps.domain.policy import Alias, Family
from rps.observability.metrics import GYM_BASELINE_GREEDY, GYM_BASELINE_LAYER, LifecycleSnapshot
from rps.persistence.lifecycle_repository import LifecycleRepository, TrainingStatus
from rps.persistence.ops_queries import OpsQueries
from rps.persistence.promotion_repository import AssignedVersion, PromotionRepository
from rps.persistence.strength_repository import StrengthRepository

_TRAINING_RUNS_READ = 500  # newest sessions behind the training series


def _family_of(model_key: str) -> str | None:
    """The family in a trained model's key (``xgboost/xgb-d5`` or ``xgboost:…``)."""
    for family in Family:
        if model_key.startswith(family.value):
            return family.value
    return None


@dataclass(frozen=True)
class StrengthFigures:
    """The strength series' values, per (family, alias) of the version the alias holds."""

    gym_win_rate: dict[tuple[str, str], float] = field(default_factory=dict)
    gym_baseline_win_rate: dict[tuple[str, str, str], float] = field(default_factory=dict)
    counterfactual_margin: dict[tuple[str, str], float] = field(default_factory=dict)


def strength_figures(
    held: dict[tuple[str, str], AssignedVersion],
    strength: StrengthRepository,
    ops: OpsQueries,
    scoring_version: str,
) -> StrengthFigures:
    """Gym and counterfactual figures of the version each family@alias holds (``held``: the
    newest alias moves). Counterfactual rows count only when scored by ``scoring_version``, the
    decision layer this app plays: margins of another layer's moves are not this bot's."""
    versions = {key: assigned.version for key, assigned in held.items()}
    if not versions:
        return StrengthFigures()
    records = strength.latest((family, version) for (family, _), version in versions.items())
    counterfactual = ops.counterfactual_figures(
        ((family, alias, version) for (family, alias), version in versions.items()),
        scoring_version,
    )
    gym: dict[tuple[str, str], float] = {}
    baselines: dict[tuple[str, str, str], float] = {}
    margins: dict[tuple[str, str], float] = {}
    for (family, alias), version in versions.items():
        record = records.get((family, version))
        if record is not None:
            if record.holdout_win_rate is not None:
                gym[(family, alias)] = record.holdout_win_rate
            for baseline, rate in (
                (GYM_BASELINE_GREEDY, record.greedy_holdout_win_rate),
                (GYM_BASELINE_LAYER, record.layer_holdout_win_rate),
            ):
                if rate is not None:
                    baselines[(family, alias, baseline)] = rate
        played = counterfactual.get((family, alias, version))
        if played is not None and played.mean_margin is not None:
            margins[(family, alias)] = played.mean_margin
    return StrengthFigures(gym, baselines, margins)


def lifecycle_snapshot(
    promotions: PromotionRepository,
    lifecycle: LifecycleRepository,
    strength: StrengthRepository,
    ops: OpsQueries,
    scoring_version: str,
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
    strength_now = strength_figures(
        promotions.every_current_assignment(), strength, ops, scoring_version
    )
    return LifecycleSnapshot(
        promotion_z=z,
        promotion_p=p,
        promotion_events=promotions.decision_counts(),
        alias_reorders=promotions.reorder_counts(),
        alias_rank=rank,
        games_since_swap=since_swap,
        training_completed=completed,
        training_durations=tuple(durations),
        gym_win_rate=strength_now.gym_win_rate,
        gym_baseline_win_rate=strength_now.gym_baseline_win_rate,
        counterfactual_margin=strength_now.counterfactual_margin,
    )
