"""Train planned models, log each to the registry, gate, register and place them on aliases.

Placement (SPEC §5, champion/challenger): training never moves a non-empty Production or B —
promotion alone does, so an A/B test in progress is never reset by retraining. An empty
Production or B takes the session's best gated candidate; the shadows then hold the best two by
gym strength (holdout part) among the current shadows and the session's other candidates.
``Placement.DIRECT`` (``--replace-live``) points each config's alias at its new version instead.
"""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from rps.domain.gym import GymPart
from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.features.names import FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION
from rps.models.base import ModelFamily
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.strength_repository import StrengthRecord
from rps.persistence.tables import utcnow
from rps.registry.ports import AliasTarget, LoggedTraining, ModelRegistry
from rps.serving.strength import BASELINES, StrengthReport, strength_metrics, strength_record
from rps.training.configs import PlannedModel
from rps.training.dataset import Dataset
from rps.training.pipeline import STEPS, TrainedModel, train_three_steps
from rps.training.strength_check import CANDIDATE, StrengthCheck

log = logging.getLogger(__name__)

BELOW_GATE_TAG = "below_gate"


SHADOWS = (Alias.SHADOW1, Alias.SHADOW2)
LIVE = (Alias.PRODUCTION, Alias.B)


class Placement(StrEnum):
    """Where a session's registered candidates go."""

    CHALLENGER = "challenger"
    """A config aimed at a shadow points it at its new version; one aimed at a non-empty
    Production or B makes a challenger, which competes for the shadows (`rps train`,
    `rps train-aliases`)."""
    RANKED = "ranked"
    """Every candidate is a challenger (scheduled training)."""
    DIRECT = "direct"
    """Every config's alias points at its new version, Production and B included
    (``--replace-live``)."""


class StrengthStore(Protocol):
    """Where each candidate's gym figures go (``model_strength``), and where the current
    shadows' figures come from."""

    def add(self, record: StrengthRecord) -> None: ...

    def latest(
        self, versions: Any = None, *, with_figures: bool = False
    ) -> dict[tuple[str, str], StrengthRecord]: ...


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
    strength: StrengthReport | None = None  # the candidate and the baselines on the gym
    below_gate: bool = False  # registered although refused: its family had no Production
    gate_passed: bool | None = None  # the gym gate's verdict (None: not measured)

    @property
    def registered(self) -> bool:
        return self.version is not None

    def gym_win_rate(self, part: GymPart | None = None) -> float | None:
        """The candidate's gym win rate (a part of the gym, or all of it)."""
        if self.strength is None:
            return None
        report = self.strength
        opponents = report.opponents_of(part) if part is not None else report.opponents
        return report.summary(CANDIDATE, opponents).win_rate if opponents else None

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
            "below_gate": self.below_gate,
            "seconds": round(self.seconds, 3),
            "metrics": {k: round(v, 6) for k, v in metrics.items()},
        }


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _combined(accepted: bool, reason: str, passed: bool, why: str) -> str:
    """One reason for the acceptance bars and the gym gate together."""
    if accepted and passed:
        return f"{reason}; {why}"
    if accepted:
        return f"rejected: {why}"
    return f"{reason}; {why}" if not passed else reason


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
        strength: StrengthCheck | None = None,
        strength_store: StrengthStore | None = None,
        lock: Callable[[], AbstractContextManager[None]] = nullcontext,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._lock = lock
        self._clock = clock
        self._registry = registry
        self._lifecycle = lifecycle
        self._assigned_by = assigned_by
        self._git_revision = git_revision
        self._progress = progress or SilentProgress()
        self._seed = seed
        self._strength = strength
        self._strength_store = strength_store

    def run(
        self,
        dataset: Dataset,
        planned: Sequence[PlannedModel],
        *,
        warm_starts: dict[str, ModelFamily] | None = None,
        placement: Placement = Placement.CHALLENGER,
    ) -> list[ModelOutcome]:
        """Train every planned model in order; one failure does not stop the others; then
        place the registered candidates (see the module's docstring). A family whose
        Production alias is still empty and none of whose candidates passed the gate gets its
        best candidate registered anyway, tagged ``below_gate`` (a fresh platform starts with
        models)."""
        outcomes = []
        for item in planned:
            warm = (warm_starts or {}).get(item.key)
            outcomes.append(self._one(dataset, item, warm, placement))
        for family in dict.fromkeys(o.planned.family for o in outcomes):
            mine = [o for o in outcomes if o.planned.family is family]
            with self._lock():
                self._fill_live_aliases(family, mine)
                self._register_below_gate(family, mine)
                if placement is not Placement.DIRECT:
                    self._place_challengers(family, mine)
        return outcomes

    def _direct_alias(self, planned: PlannedModel, placement: Placement) -> Alias | None:
        """The alias a new version of ``planned`` points at as soon as it is registered."""
        target = planned.promote_alias
        if target is None or placement is Placement.RANKED:
            return None
        if placement is Placement.DIRECT or target in SHADOWS:
            return target
        # Production or B: only while empty; otherwise the version is a challenger.
        return target if self._registry.alias_target(planned.family, target) is None else None

    def _one(
        self,
        dataset: Dataset,
        planned: PlannedModel,
        warm: ModelFamily | None,
        placement: Placement = Placement.CHALLENGER,
    ) -> ModelOutcome:
        outcome = ModelOutcome(planned)
        started = time.perf_counter()
        self._progress.model_started(planned, (*STEPS, "gym") if self._strength else STEPS)
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
            if self._strength is not None:
                self._progress.step_done(planned, "gym")
                report = self._strength.evaluate(
                    planned.family, trained.onnx, self._metadata(trained)
                )
                outcome.strength = report
                trained.metrics.update(strength_metrics(report, CANDIDATE))
                passed, why = self._strength.judge(report)
                outcome.gate_passed = passed
                outcome.reason = _combined(outcome.accepted, outcome.reason, passed, why)
                outcome.accepted = outcome.accepted and passed
            outcome.run_id = self._registry.log_training(
                self._logged(dataset, trained, warm is not None, outcome.strength)
            )
            if not outcome.accepted:
                self._registry.mark_rejected(outcome.run_id, outcome.reason)
                log.warning("%s %s; not registered", planned.key, outcome.reason)
            else:
                outcome.version = self._registry.register(outcome.run_id, planned.registered_name)
                with self._lock():
                    direct = self._direct_alias(planned, placement)
                    if direct is not None:
                        self._move_alias(outcome, direct)
            self._store_strength(outcome)
        except Exception as exc:  # report and go on with the next model
            outcome.error = f"{type(exc).__name__}: {exc}"
            log.error("training %s failed:\n%s", planned.key, traceback.format_exc())
        outcome.seconds = time.perf_counter() - started
        self._progress.model_finished(outcome)
        return outcome

    def _fill_live_aliases(self, family: Family, outcomes: list[ModelOutcome]) -> None:
        """An empty Production (then B) takes this session's best gated candidate that does not
        already serve Production or B (moved from its shadow alias, which is left empty), so a
        refused Production config does not leave the family without its model."""
        accepted = [o for o in outcomes if o.accepted and o.registered and not o.error]
        for alias in (Alias.PRODUCTION, Alias.B):
            if self._registry.alias_target(family, alias) is not None:
                continue
            spare = [o for o in accepted if o.alias not in (Alias.PRODUCTION, Alias.B)]
            if not spare:
                return
            best = max(spare, key=lambda o: o.gym_win_rate(GymPart.HOLDOUT) or 0.0)
            assert best.version is not None
            vacated = best.alias
            if vacated is not None:
                self._registry.delete_alias(best.planned.registered_name, vacated)
            reason = (
                f"filled the empty {alias.value} with the session's best gated candidate "
                f"({best.planned.config_id})"
            )
            self._move_alias(best, alias, reason=reason)
            log.info("%s: v%s moved to the empty %s", best.planned.key, best.version, alias.value)

    def _place_challengers(self, family: Family, outcomes: list[ModelOutcome]) -> None:
        """shadow1 and shadow2 take the best two, by gym strength on the holdout part, of the
        versions they hold now and this session's gated candidates that hold no alias. A
        current shadow keeps its place against an equal newcomer; one without gym figures
        ranks last."""
        newcomers = [
            o for o in outcomes if o.accepted and o.registered and not o.error and o.alias is None
        ]
        if not newcomers:
            return
        current = {a: self._registry.alias_target(family, a) for a in SHADOWS}
        held = [t for t in current.values() if t is not None]
        figures: dict[str, float | None] = {}
        if self._strength_store is not None and held:
            records = self._strength_store.latest((family.value, t.version) for t in held)
            figures = {
                t.version: records[(family.value, t.version)].holdout_win_rate
                for t in held
                if (family.value, t.version) in records
            }
        # (gym holdout rate or -1, -position, version, the session's outcome or the shadow held)
        entrants: list[tuple[float, int, str, ModelOutcome | AliasTarget]] = []
        for position, target in enumerate(held):
            entrants.append(
                (figures.get(target.version) or -1.0, -position, target.version, target)
            )
        for position, outcome in enumerate(newcomers, start=len(held)):
            assert outcome.version is not None
            rate = outcome.gym_win_rate(GymPart.HOLDOUT)
            score = rate if rate is not None else -1.0
            entrants.append((score, -position, outcome.version, outcome))
        ranked = sorted(entrants, key=lambda e: (e[0], e[1]), reverse=True)
        for alias, (score, _, version, who) in zip(SHADOWS, ranked, strict=False):
            before = current[alias]
            if before is not None and before.version == version:
                continue
            measured = f"{100 * score:.1f}%" if score >= 0 else "unmeasured"
            why = f"challenger placement: among the two strongest shadows (gym holdout {measured})"
            if isinstance(who, ModelOutcome):
                self._move_alias(who, alias, reason=why)
            else:
                self._registry.set_alias(REGISTERED_NAMES[family], alias, version)
                self._lifecycle.record_assignment(
                    model_type=family.value,
                    alias=alias.value,
                    version=version,
                    run_id=who.run_id,
                    previous_version=before.version if before else None,
                    assigned_by=self._assigned_by,
                    reason=why,
                    assigned_at=self._clock(),
                )
            log.info("%s@%s → v%s (%s)", family.value, alias.value, version, why)
        for _, _, version, who in ranked[len(SHADOWS) :]:
            if isinstance(who, ModelOutcome):
                who.reason += "; weaker than the current shadows, so it holds no alias"
                log.info("%s: v%s is weaker than the shadows; it holds no alias", family.value,
                         version)  # fmt: skip

    def _register_below_gate(self, family: Family, outcomes: list[ModelOutcome]) -> None:
        if any(o.accepted for o in outcomes):
            return
        candidates = [o for o in outcomes if o.run_id is not None and o.error is None]
        if not candidates or self._registry.alias_target(family, Alias.PRODUCTION) is not None:
            return
        best = max(
            candidates,
            key=lambda o: (
                o.gym_win_rate(GymPart.TRAINING) or 0.0,
                (o.trained.metrics.get("test_acc_holdout", 0.0) if o.trained else 0.0),
            ),
        )
        assert best.run_id is not None
        try:
            best.version = self._registry.register(best.run_id, best.planned.registered_name)
            self._registry.tag_run(best.run_id, BELOW_GATE_TAG, "true")
            best.below_gate = True
            best.reason = (
                f"registered below the gate (no candidate of {family.value} passed and its "
                f"Production alias was empty): {best.reason}"
            )
            self._move_alias(best, Alias.PRODUCTION)
            self._store_strength(best)
            log.warning("%s: %s", best.planned.key, best.reason)
        except Exception as exc:  # report it like any other failure of this model
            best.error = f"{type(exc).__name__}: {exc}"
            log.error("registering %s below the gate failed:\n%s", best.planned.key,
                      traceback.format_exc())  # fmt: skip

    def _store_strength(self, outcome: ModelOutcome) -> None:
        if self._strength_store is None or outcome.strength is None:
            return
        self._strength_store.add(
            strength_record(
                outcome.strength,
                CANDIDATE,
                outcome.planned.family,
                outcome.version,
                source="training",
                run_id=outcome.run_id,
                gate_passed=outcome.gate_passed,
                below_gate=outcome.below_gate,
                gate_reason=outcome.reason,
            )
        )

    def _move_alias(self, outcome: ModelOutcome, alias: Alias, reason: str | None = None) -> None:
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
            reason=reason or f"trained with config {planned.config_id}",
            assigned_at=self._clock(),
        )

    @staticmethod
    def _metadata(trained: TrainedModel) -> dict[str, Any]:
        """What the serving cache keeps with the model (feature contract, calibration)."""
        planned = trained.planned
        return {
            "family": planned.family.value,
            "config_id": planned.config_id,
            "feature_names": list(FEATURE_NAMES),
            "feature_count": FEATURE_COUNT,
            "feature_version": FEATURE_VERSION,
            "onnx_sha256": hashlib.sha256(trained.onnx).hexdigest(),
            "input": "features",
            "output": "probabilities",
            # calibration (SPEC §5): the graph already applies the temperature; the calibrated
            # validation log-loss is None when the model had no validation games
            "temperature": float(trained.temperature),
            "val_log_loss": _optional_float(trained.metrics.get("val_log_loss")),
        }

    def _logged(
        self,
        dataset: Dataset,
        trained: TrainedModel,
        warm: bool,
        strength: StrengthReport | None = None,
    ) -> LoggedTraining:
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
        if strength is not None:
            artifacts["gym_strength"] = {
                "candidate": strength.contender_dict(CANDIDATE),
                "baselines": {b: strength.contender_dict(b) for b in BASELINES},
                "games_per_opponent": strength.games_per_opponent,
                "seed": strength.seed,
                "params": strength.params_digest,
            }
        native_name, native = trained.model.save_native()
        metadata = self._metadata(trained)
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
