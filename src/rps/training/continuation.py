"""Continuation training (``rps train-aliases``): retrain what each alias points at, with the
hyperparameters of its own run, warm-started where the family allows, onto the same alias."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from rps.domain.policy import Alias, Family
from rps.models.base import ModelFamily
from rps.models.catalog import FAMILY_CLASSES
from rps.registry.ports import AliasTarget, ModelRegistry
from rps.training.configs import REGISTERED_NAMES, AcceptanceCriteria, PlannedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Continuation:
    target: AliasTarget
    planned: PlannedModel
    warm_start: ModelFamily | None


def plan_continuation(
    registry: ModelRegistry,
    *,
    families: Iterable[Family] | None = None,
    aliases: Iterable[Alias] | None = None,
) -> tuple[list[Continuation], list[tuple[Family, Alias]]]:
    """What to retrain: every selected family@alias that points at a version, and the ones
    that point nowhere (returned separately so the caller can train them from the config)."""
    chosen_families = list(families) if families else list(Family)
    chosen_aliases = list(aliases) if aliases else list(Alias)
    planned: list[Continuation] = []
    empty: list[tuple[Family, Alias]] = []
    for family in chosen_families:
        for alias in chosen_aliases:
            target = registry.alias_target(family, alias)
            if target is None:
                empty.append((family, alias))
                continue
            planned.append(_continuation(registry, target))
    return planned, empty


def _continuation(registry: ModelRegistry, target: AliasTarget) -> Continuation:
    config = registry.run_config(target.run_id)
    family_class = FAMILY_CLASSES[target.family]
    # Hyperparameters come back as values from the run, never through the environment.
    hyperparameters = family_class.parse_hyperparameters(config["hyperparameters"])
    planned = PlannedModel(
        family=target.family,
        registered_name=REGISTERED_NAMES[target.family],
        config_id=str(config.get("config_id", f"{target.alias.value}-continued")),
        description=f"continuation of version {target.version} ({target.alias.value})",
        promote_alias=target.alias,
        hyperparameters=hyperparameters,
        mlflow_tags={
            **{str(k): str(v) for k, v in dict(config.get("mlflow_tags", {})).items()},
            "continued_from_version": target.version,
            "continued_from_run": target.run_id,
        },
        acceptance=AcceptanceCriteria.model_validate(config.get("acceptance", {})),
    )
    warm: ModelFamily | None = None
    if family_class.supports_warm_start:
        try:
            warm = family_class.load_native(hyperparameters, registry.native_model(target.run_id))
        except Exception as exc:  # an unreadable old model means a cold start, not a failure
            log.warning(
                "%s@%s: cannot warm-start from version %s (%s); training from scratch",
                target.family.value,
                target.alias.value,
                target.version,
                exc,
            )
    return Continuation(target, planned, warm)
