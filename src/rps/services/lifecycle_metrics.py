"""The promotion, training and strength series of SPEC §8, derived from the database (the
ledger, the training sessions, alias moves, gym figures and alias predictions) so that every
worker and replica reports the same figures after restarts."""

from __future__ import annotations

from dataclasses import dataclass, field

from rps.domain.policy import Alias, Family
from rps.observability.metrics import (
    GYM_BASELINE_GREEDY,
    GYM_BASELINE_LAYER,
    TRAINING_BUCKETS,
    LifecycleSnapshot,
)
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.ops_queries import OpsQueries
from rps.persistence.promotion_repository import AssignedVersion, PromotionRepository
from rps.persistence.strength_repository import StrengthRepository


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
    # True counters (SPEC §8): counts over every session and model ever recorded, never a
    # window of recent rows, so they only grow and an alert on their increase keeps firing.
    durations = lifecycle.training_duration_counts(TRAINING_BUCKETS)
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
        training_completed=lifecycle.training_completed_counts(),
        training_duration_buckets=durations.cumulative,
        training_duration_count=durations.count,
        training_duration_sum_s=durations.sum_s,
        gym_win_rate=strength_now.gym_win_rate,
        gym_baseline_win_rate=strength_now.gym_baseline_win_rate,
        counterfactual_margin=strength_now.counterfactual_margin,
    )
