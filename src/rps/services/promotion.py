"""Promotion from live results (SPEC §7): read each family's windows from the database, decide
with the pure rules of ``rps.domain.promotion``, move the registry's aliases, publish the cache,
ask the app to reload, and write the ledger. Manual alias moves go through the same path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from rps.domain.policy import REGISTERED_NAMES, Alias, Family
from rps.domain.promotion import (
    ArmStats,
    ChallengerStats,
    FamilyDecision,
    ProductionDecision,
    PromotionDecision,
    PromotionRule,
    combine,
    decide_family,
    rank_challengers,
    sample_ratio_mismatch_p,
)
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.promotion_repository import (
    AssignedVersion,
    LedgerEvent,
    PromotionRepository,
    new_event_id,
)
from rps.persistence.tables import utcnow
from rps.registry.ports import AliasTarget

log = logging.getLogger(__name__)


class AliasRegistry(Protocol):
    """What promotion needs of the model registry."""

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None: ...

    def set_alias(self, registered_name: str, alias: Alias, version: str) -> None: ...

    def version_run_id(self, registered_name: str, version: str) -> str | None:
        """The run behind a registered version; None if the version does not exist."""
        ...


@dataclass(frozen=True, slots=True)
class ParityVerdict:
    ok: bool
    detail: str
    replayed: int = 0
    max_probability_diff: float | None = None


# Checks a version's stored predictions against the model a fresh load of it gives (§6.6).
ParityCheck = Callable[[Family, str], ParityVerdict]


@dataclass(frozen=True, slots=True)
class PromotionConfig:
    rule: PromotionRule = PromotionRule.WINRATE
    min_games: int = 3
    min_predictions: int = 50
    alpha: float = 0.05
    # Production's share of new games, per family (SPEC §6.2); None: A/B off.
    production_share: dict[Family, float] | None = None


@dataclass
class FamilyOutcome:
    """One family's promotion: the decision, what was applied, and the ledger row written."""

    family: Family
    decision: str
    reason: str
    applied: bool
    moves: dict[str, tuple[str, str]] = field(default_factory=dict)
    event: LedgerEvent | None = None
    problems: list[str] = field(default_factory=list)


class Publisher(Protocol):
    """After alias moves: mirror the registry into the serving cache, then ask the app to
    reload. Each returns a short status text, or raises."""

    def sync_cache(self) -> str: ...

    def reload_app(self) -> str: ...


class PromotionService:
    def __init__(
        self,
        repository: PromotionRepository,
        lifecycle: LifecycleRepository,
        registry: AliasRegistry,
        publisher: Publisher | None,
        config: PromotionConfig,
        *,
        parity: ParityCheck | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._repo = repository
        self._lifecycle = lifecycle
        self._registry = registry
        self._publisher = publisher
        self._config = config
        self._parity = parity
        self._clock = clock

    # -- deciding ------------------------------------------------------------------------------

    def _targets(self, family: Family) -> dict[Alias, AliasTarget | None]:
        return {alias: self._registry.alias_target(family, alias) for alias in Alias}

    def decide(self, family: Family) -> tuple[FamilyDecision | None, dict[str, Any]]:
        """The family's decision from the database's windows (None when an alias points
        nowhere), and the figures behind it for the ledger."""
        targets = self._targets(family)
        missing = [a.value for a, t in targets.items() if t is None]
        facts: dict[str, Any] = {"targets": {a.value: t.version for a, t in targets.items() if t}}
        if missing:
            facts["missing_aliases"] = missing
            return None, facts
        versions = {a: t.version for a, t in targets.items() if t is not None}
        assigned = self._repo.current_assignments(family.value)
        windows = {a: _window_start(assigned.get(a.value), versions[a]) for a in Alias}
        prod_games = self._repo.version_games(
            family.value,
            Alias.PRODUCTION.value,
            versions[Alias.PRODUCTION],
            windows[Alias.PRODUCTION],
        )
        b_games = self._repo.version_games(
            family.value, Alias.B.value, versions[Alias.B], windows[Alias.B]
        )
        accuracy = self._repo.version_accuracy(family.value, versions.values())
        stats = {
            a: ChallengerStats(
                alias=a,
                version=versions[a],
                predictions=accuracy[versions[a]].predictions,
                accuracy=accuracy[versions[a]].accuracy or 0.0,
            )
            for a in Alias
        }
        production = ArmStats(versions[Alias.PRODUCTION], prod_games.games, prod_games.bot_wins)
        b = ArmStats(versions[Alias.B], b_games.games, b_games.bot_wins)
        decision = decide_family(
            production,
            b,
            stats[Alias.PRODUCTION],
            [stats[Alias.B], stats[Alias.SHADOW1], stats[Alias.SHADOW2]],
            rule=self._config.rule,
            min_games=self._config.min_games,
            min_predictions=self._config.min_predictions,
            alpha=self._config.alpha,
        )
        facts["windows"] = {a.value: w.isoformat() if w else None for a, w in windows.items()}
        facts["accuracies"] = {
            v: {"predictions": acc.predictions, "accuracy": acc.accuracy}
            for v, acc in accuracy.items()
        }
        facts["srm"] = self._sample_ratio(family, windows)
        if decision.production.swaps and self._parity is not None:
            verdict = self._parity(family, b.version)
            facts["parity"] = {
                "version": b.version,
                "ok": verdict.ok,
                "replayed": verdict.replayed,
                "max_probability_diff": verdict.max_probability_diff,
                "detail": verdict.detail,
            }
            if not verdict.ok:
                why = f"parity check refused v{b.version}: {verdict.detail}"
                decision = _veto_swap(decision, why, stats[Alias.B])
        return decision, facts

    def _sample_ratio(
        self, family: Family, windows: dict[Alias, datetime | None]
    ) -> dict[str, Any]:
        shares = self._config.production_share
        if shares is None:
            return {"enabled": False, "p_value": None}
        since_both = [w for w in (windows[Alias.PRODUCTION], windows[Alias.B]) if w is not None]
        since = max(since_both) if since_both else None
        counts = self._repo.assignment_counts(family.value, since)
        observed_b = counts.get(Alias.B.value, 0)
        total = observed_b + counts.get(Alias.PRODUCTION.value, 0)
        expected_b = 1.0 - shares.get(family, 0.5)
        return {
            "enabled": True,
            "since": since.isoformat() if since else None,
            "production_games": counts.get(Alias.PRODUCTION.value, 0),
            "b_games": observed_b,
            "expected_b_share": expected_b,
            "observed_b_share": observed_b / total if total else None,
            "p_value": sample_ratio_mismatch_p(observed_b, total, expected_b),
        }

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        families: Iterable[Family] | None = None,
        *,
        dry_run: bool = False,
        source: str = "auto",
    ) -> list[FamilyOutcome]:
        """Decide every family (or those given); unless ``dry_run``, apply and write the ledger.

        A family whose aliases do not all point at a version gets an ``insufficient_data``
        row naming them. The cache is published and the app reloaded once, after all moves.
        """
        outcomes = []
        moved_any = False
        for family in families or list(Family):
            decision, facts = self.decide(family)
            if decision is None:
                reason = "aliases without a model: " + ", ".join(facts["missing_aliases"])
                outcome = FamilyOutcome(
                    family, PromotionDecision.INSUFFICIENT_DATA.value, reason, applied=False
                )
                if not dry_run:
                    outcome.event = self._write(
                        _bare_event(family, outcome.decision, reason, source, facts)
                    )
                outcomes.append(outcome)
                continue
            moves = {a.value: pair for a, pair in decision.moves.items()}
            outcome = FamilyOutcome(
                family, decision.decision.value, decision.reason, applied=False, moves=moves
            )
            if not dry_run:
                if moves:
                    self._move(family, decision.moves, f"promotion ({source})", decision.reason)
                    moved_any = True
                outcome.applied = bool(moves)
                outcome.event = self._write(_event(family, decision, facts, source, bool(moves)))
            outcomes.append(outcome)
        if moved_any:
            problems = self._publish()
            for outcome in outcomes:
                if outcome.applied:
                    outcome.problems.extend(problems)
        return outcomes

    def _move(
        self, family: Family, moves: dict[Alias, tuple[str, str]], by: str, reason: str
    ) -> None:
        name = REGISTERED_NAMES[family]
        for alias, (old, new) in moves.items():
            self._registry.set_alias(name, alias, new)
            self._lifecycle.record_assignment(
                model_type=family.value,
                alias=alias.value,
                version=new,
                run_id=self._registry.version_run_id(name, new),
                previous_version=old or None,
                assigned_by=by,
                reason=reason,
            )
            log.info("%s@%s: v%s → v%s (%s)", family.value, alias.value, old, new, by)

    def _publish(self) -> list[str]:
        """Sync the cache and reload the app; failures are reported, never raised (the alias
        moves are done, and the app's poll picks the new manifest up once the cache syncs)."""
        problems: list[str] = []
        if self._publisher is None:
            return problems
        for step, action in (
            ("cache sync", self._publisher.sync_cache),
            ("app reload", self._publisher.reload_app),
        ):
            try:
                log.info("%s: %s", step, action())
            except Exception as exc:
                log.warning("%s failed: %s", step, exc)
                problems.append(f"{step} failed: {exc}")
                if step == "cache sync":
                    break  # reloading would only load the old set again
        return problems

    def _write(self, event: LedgerEvent) -> LedgerEvent:
        row_id = self._repo.add_event(event)
        return replace(event, id=row_id)

    # -- manual control ------------------------------------------------------------------------

    def set_alias(
        self, family: Family, alias: Alias, version: str, *, by: str = "manual", reason: str = ""
    ) -> FamilyOutcome:
        """Point family@alias at ``version`` (recorded, synced and reloaded like a promotion).

        If another alias of the family holds ``version``, it takes this alias's old version in
        exchange, so the four aliases keep four different versions. ValueError if the version
        is not registered.
        """
        name = REGISTERED_NAMES[family]
        if self._registry.version_run_id(name, version) is None:
            raise ValueError(f"{name} has no version {version!r}")
        before = {a: (t.version if t else None) for a, t in self._targets(family).items()}
        old = before[alias]
        if old == version:
            return FamilyOutcome(family, "alias_set", f"already at v{version}", applied=False)
        why = reason or f"{by}: {family.value}@{alias.value} → v{version}"
        moves: dict[Alias, tuple[str, str]] = {alias: (old or "", version)}
        holder = next((a for a, v in before.items() if a is not alias and v == version), None)
        if holder is not None and old is not None:
            moves[holder] = (version, old)
            why += f" ({holder.value} takes v{old} in exchange)"
        self._move(family, moves, by, why)
        after = dict(before)
        for moved, (_, new) in moves.items():
            after[moved] = new
        event = self._write(
            LedgerEvent(
                event_id=new_event_id(),
                created_at=self._clock(),
                model_type=family.value,
                decision="alias_set",
                source=by,
                reason=why,
                production_version=after[Alias.PRODUCTION],
                b_version=after[Alias.B],
                assignments_before={a.value: v for a, v in before.items()},
                assignments_after={a.value: v for a, v in after.items()},
            )
        )
        outcome = FamilyOutcome(
            family, "alias_set", why, applied=True, moves={a.value: m for a, m in moves.items()}
        )
        outcome.event = event
        outcome.problems.extend(self._publish())
        return outcome

    def rollback(self, family: Family, alias: Alias, *, by: str = "manual") -> FamilyOutcome:
        """Point family@alias back at the version it had before its newest assignment."""
        history = self._lifecycle.assignments(model_type=family.value, alias=alias.value, limit=1)
        if not history or not history[0].previous_version:
            raise ValueError(f"{family.value}@{alias.value} has no previous version to go back to")
        previous = history[0].previous_version
        return self.set_alias(
            family,
            alias,
            previous,
            by=by,
            reason=f"{by}: roll {family.value}@{alias.value} back to v{previous}",
        )


def _window_start(assigned: AssignedVersion | None, version: str) -> datetime | None:
    """Since when ``version`` has held the alias (None: no record, so all of its games)."""
    if assigned is None or assigned.version != version:
        return None
    return assigned.assigned_at


def _veto_swap(decision: FamilyDecision, why: str, b_record: ChallengerStats) -> FamilyDecision:
    """The same decision without the swap (the challengers are still re-ranked).

    ``b_record`` is B's own prediction record: the swapped ranking holds the old Production
    version in B's slot and nowhere B's version, so it cannot be recovered from there."""
    kept = decision.production
    retained = ProductionDecision(
        decision=PromotionDecision.RETAIN_PRODUCTION,
        rule=kept.rule,
        production=kept.production,
        b=kept.b,
        z=kept.z,
        p_value=kept.p_value,
        reason=f"{kept.reason}; {why}",
        sequential=kept.sequential,
    )
    current = list(decision.ranking.current)
    # The ranking was computed after the swap: put B's own record back in B's slot.
    current[0] = b_record
    ranking = rank_challengers(current, min_predictions=decision.ranking.min_predictions)
    return combine(retained, ranking)


def _event(
    family: Family, decision: FamilyDecision, facts: dict[str, Any], source: str, applied: bool
) -> LedgerEvent:
    production = decision.production
    sequential = production.sequential
    return LedgerEvent(
        event_id=new_event_id(),
        created_at=utcnow(),
        model_type=family.value,
        decision=decision.decision.value,
        rule=production.rule.value,
        source=source,
        reason=decision.reason,
        z=production.z,
        p_value=production.p_value,
        sequential_p_value=sequential.always_valid_p if sequential else None,
        srm_p_value=facts.get("srm", {}).get("p_value"),
        production_version=production.production.version,
        production_wins=production.production.wins,
        production_games=production.production.games,
        b_version=production.b.version,
        b_wins=production.b.wins,
        b_games=production.b.games,
        reorder_applied=decision.reorder_applied,
        applied=applied,
        rankings={"before": list(decision.ranking.before), "after": list(decision.ranking.after)},
        accuracies=facts.get("accuracies"),
        assignments_before={a.value: v for a, v in decision.assignments_before.items()},
        assignments_after={a.value: v for a, v in decision.assignments_after.items()},
        details={k: v for k, v in facts.items() if k not in ("accuracies",)},
    )


def _bare_event(
    family: Family, decision: str, reason: str, source: str, facts: dict[str, Any]
) -> LedgerEvent:
    return LedgerEvent(
        event_id=new_event_id(),
        created_at=utcnow(),
        model_type=family.value,
        decision=decision,
        source=source,
        reason=reason,
        applied=False,
        details=facts,
    )


def families_from(names: Sequence[str] | None) -> list[Family]:
    """Families named on a command line (family or policy names); ValueError naming a bad one."""
    if not names:
        return list(Family)
    from rps.domain.policy import Policy

    chosen = []
    for name in names:
        for part in name.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                chosen.append(Family(part))
            except ValueError:
                try:
                    chosen.append(Policy(part).family)
                except ValueError:
                    known = ", ".join(f.value for f in Family)
                    raise ValueError(f"unknown model type {part!r} (known: {known})") from None
    return list(dict.fromkeys(chosen))
