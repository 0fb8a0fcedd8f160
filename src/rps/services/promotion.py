"""Promotion from live results (SPEC §7): read each family's evidence from the database, decide
with the pure rules of ``rps.domain.promotion``, move the registry's aliases, publish the cache,
ask the app to reload, and write the ledger. Manual alias moves go through the same path, and
every alias move — promotion, manual, training's shadow updates — holds one lock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from rps.domain.policy import REGISTERED_NAMES, Alias, Family, parse_families
from rps.domain.promotion import (
    ArmStats,
    ChallengerStats,
    FamilyDecision,
    PromotionDecision,
    PromotionRule,
    decide_family,
    rank_challengers,
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

GAME_SOURCES = ("human", "simulated", "persona")


class AliasRegistry(Protocol):
    """What promotion needs of the model registry."""

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None: ...

    def set_alias(self, registered_name: str, alias: Alias, version: str) -> None: ...

    def delete_alias(self, registered_name: str, alias: Alias) -> None: ...

    def version_run_id(self, registered_name: str, version: str) -> str | None:
        """The run behind a registered version; None if the version does not exist."""
        ...


class ServedAliases:
    """A read-only ``AliasRegistry`` over the versions a process serves: what the ops page
    previews promotion against, without asking the registry."""

    def __init__(self, served: dict[tuple[Family, Alias], tuple[str, str]]) -> None:
        self._served = served  # (family, alias) -> (version, run id)

    def alias_target(self, family: Family, alias: Alias) -> AliasTarget | None:
        held = self._served.get((family, alias))
        if held is None:
            return None
        return AliasTarget(family, alias, REGISTERED_NAMES[family], held[0], held[1])

    def set_alias(self, registered_name: str, alias: Alias, version: str) -> None:
        raise RuntimeError("the served aliases are read-only")

    def delete_alias(self, registered_name: str, alias: Alias) -> None:
        raise RuntimeError("the served aliases are read-only")

    def version_run_id(self, registered_name: str, version: str) -> str | None:
        for (family, _), (held, run_id) in self._served.items():
            if REGISTERED_NAMES[family] == registered_name and held == version:
                return run_id
        return None


# The newest offline gym figure (holdout part) of each version asked for.
GymFigures = Callable[[Family, Sequence[str]], dict[str, float]]


@dataclass(frozen=True, slots=True)
class ParityVerdict:
    ok: bool
    detail: str
    replayed: int = 0
    max_probability_diff: float | None = None

    def facts(self) -> dict[str, Any]:
        """The verdict as the ledger row's ``details.parity[version]`` stores it."""
        return {
            "ok": self.ok,
            "replayed": self.replayed,
            "max_probability_diff": self.max_probability_diff,
            "detail": self.detail,
        }


# Checks a version's stored predictions against the model a fresh load of it gives (§6.6).
ParityCheck = Callable[[Family, str], ParityVerdict]


class ParityRefused(ValueError):
    """A manual move would put a version into Production or B that fails the parity check."""


@dataclass(frozen=True, slots=True)
class PromotionConfig:
    rule: PromotionRule = PromotionRule.SEQUENTIAL
    min_games: int = 3
    min_predictions: int = 50
    alpha: float = 0.05
    max_games: int | None = 500
    # Production's share of new games, per family (SPEC §6.2); None: A/B off.
    production_share: dict[Family, float] | None = None
    # Game sources whose games count as evidence (PROMOTION_SOURCES).
    sources: tuple[str, ...] = GAME_SOURCES
    # The decision layer the app plays (its parameters' digest): only counterfactual margins
    # it scored rank challengers. None: rank on gym figures and accuracy alone.
    scoring_version: str | None = None


@dataclass
class FamilyOutcome:
    """One family's promotion: the decision, what was applied, and the ledger row written."""

    family: Family
    decision: str
    reason: str
    applied: bool
    moves: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    event: LedgerEvent | None = None
    problems: list[str] = field(default_factory=list)


class Publisher(Protocol):
    """After alias moves: mirror the registry into the serving cache, then ask the app to
    reload. Each returns a short status text, or raises."""

    def sync_cache(self) -> str: ...

    def reload_app(self) -> str: ...


def _no_lock() -> AbstractContextManager[None]:
    return contextlib.nullcontext()


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
        gym: GymFigures | None = None,
        lock: Callable[[], AbstractContextManager[None]] = _no_lock,
        close_abandoned: Callable[[], int] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._repo = repository
        self._lifecycle = lifecycle
        self._registry = registry
        self._publisher = publisher
        self._config = config
        self._parity = parity
        self._gym = gym
        self._lock = lock
        self._close_abandoned = close_abandoned
        self._clock = clock

    # -- deciding ------------------------------------------------------------------------------

    def _targets(self, family: Family) -> dict[Alias, AliasTarget | None]:
        return {alias: self._registry.alias_target(family, alias) for alias in Alias}

    def _records(self, family: Family, held: dict[Alias, str]) -> dict[Alias, ChallengerStats]:
        versions = list(dict.fromkeys(held.values()))
        accuracy = self._repo.version_accuracy(family.value, versions)
        margins = (
            self._repo.version_margins(family.value, versions, self._config.scoring_version)
            if self._config.scoring_version
            else {}
        )
        gym = self._gym(family, versions) if self._gym is not None else {}
        records = {}
        for alias, version in held.items():
            scored, margin = margins.get(version, (0, None))
            records[alias] = ChallengerStats(
                alias=alias,
                version=version,
                predictions=accuracy[version].predictions,
                accuracy=accuracy[version].accuracy or 0.0,
                scored=scored,
                margin=margin,
                gym=gym.get(version),
            )
        return records

    def decide(
        self, family: Family, blocked: frozenset[str] = frozenset()
    ) -> tuple[FamilyDecision | None, dict[str, Any]]:
        """The family's decision from the database's evidence (None when Production points
        nowhere), and the figures behind it for the ledger. ``blocked`` versions failed the
        parity check and may not become Production or B."""
        decision, facts, _ = self._decide(family, blocked)
        return decision, facts

    def _decide(
        self, family: Family, blocked: frozenset[str]
    ) -> tuple[FamilyDecision | None, dict[str, Any], dict[Alias, ChallengerStats]]:
        """``decide``, plus each held alias's challenger record."""
        targets = self._targets(family)
        facts: dict[str, Any] = {"targets": {a.value: t.version for a, t in targets.items() if t}}
        missing = [a.value for a, t in targets.items() if t is None]
        if missing:
            facts["missing_aliases"] = missing
        production_target = targets[Alias.PRODUCTION]
        if production_target is None:
            return None, facts, {}
        held = {a: t.version for a, t in targets.items() if t is not None}
        assigned = self._repo.current_assignments(family.value)
        windows = {a: _window_start(assigned.get(a.value), held[a]) for a in held}
        sources = list(self._config.sources)
        arms: dict[Alias, ArmStats] = {}
        by_source: dict[str, Any] = {}
        for alias in (Alias.PRODUCTION, Alias.B):
            if alias not in held:
                continue
            games = self._repo.version_games(
                family.value, alias.value, held[alias], windows[alias], sources=sources
            )
            arms[alias] = ArmStats(held[alias], games.games, games.bot_wins)
            by_source[alias.value] = {
                source: {"games": n, "bot_wins": w}
                for source, (n, w) in sorted(getattr(games, "by_source", {}).items())
            }
        records = self._records(family, held)
        decision = decide_family(
            arms[Alias.PRODUCTION],
            arms.get(Alias.B),
            records[Alias.PRODUCTION],
            [records[a] for a in (Alias.B, Alias.SHADOW1, Alias.SHADOW2) if a in records],
            rule=self._config.rule,
            min_games=self._config.min_games,
            min_predictions=self._config.min_predictions,
            alpha=self._config.alpha,
            max_games=self._config.max_games,
            blocked=blocked,
        )
        facts["windows"] = {a.value: w.isoformat() if w else None for a, w in windows.items()}
        facts["sources"] = {"counted": sources, "by_arm": by_source}
        facts["test_outcome"] = decision.production.decision.value
        facts["accuracies"] = {
            r.version: {"predictions": r.predictions, "accuracy": r.accuracy}
            for r in records.values()
        }
        facts["strength"] = {
            r.version: {
                "scored_rounds": r.scored,
                "margin": r.margin,
                "gym_holdout_win_rate": r.gym,
                "ranked_on": r.evidence(self._config.min_predictions),
            }
            for r in records.values()
        }
        facts["scoring_version"] = self._config.scoring_version
        facts["srm"] = self._sample_ratio(family, windows)
        return decision, facts, records

    def preview(self, family: Family) -> dict[str, Any] | None:
        """What the next run would decide for ``family``, without moving anything (the ops
        page): the running test's figures and the challengers in the order they would be
        ranked. None when Production points nowhere."""
        decision, facts, records = self._decide(family, frozenset())
        if decision is None:
            return None
        test = decision.production
        min_predictions = self._config.min_predictions
        pool = [records[a] for a in (Alias.B, Alias.SHADOW1, Alias.SHADOW2) if a in records]
        ranked = rank_challengers(pool, min_predictions=min_predictions)

        def arm(stats: ArmStats | None) -> dict[str, Any] | None:
            if stats is None:
                return None
            return {"version": stats.version, "games": stats.games, "bot_wins": stats.wins}

        sequential = test.sequential
        return {
            "rule": test.rule.value,
            "next_decision": decision.decision.value,
            "test_outcome": test.decision.value,
            "reason": decision.reason,
            "alpha": self._config.alpha,
            "max_games": self._config.max_games,
            "min_games": self._config.min_games,
            "production": arm(test.production),
            "b": arm(test.b),
            "z": test.z,
            "p_value": test.p_value,
            "always_valid_p": sequential.always_valid_p if sequential else None,
            "log_likelihood_ratio": sequential.log_likelihood_ratio if sequential else None,
            "windows": facts.get("windows", {}),
            "challengers": [
                {
                    "rank": position + 1,
                    "alias": record.alias.value if record.alias else None,
                    "version": record.version,
                    "ranked_on": record.evidence(min_predictions),
                    "margin": record.margin,
                    "scored_rounds": record.scored,
                    "gym_holdout_win_rate": record.gym,
                    "accuracy": record.accuracy if record.predictions else None,
                    "predictions": record.predictions,
                }
                for position, record in enumerate(ranked)
            ],
            "assignments_after": {a.value: v for a, v in decision.assignments_after.items()},
        }

    def _decide_with_parity(self, family: Family) -> tuple[FamilyDecision | None, dict[str, Any]]:
        """Decide; every version the decision would put into Production or B passes the parity
        check first, and one that fails is barred and the family decided again."""
        blocked: set[str] = set()
        verdicts: dict[str, dict[str, Any]] = {}
        while True:
            decision, facts = self.decide(family, frozenset(blocked))
            if verdicts:
                facts["parity"] = verdicts
            if decision is None or self._parity is None:
                return decision, facts
            # The old Production stepping down to B serves already and is not checked again.
            entering = [
                decision.assignments_after[alias]
                for alias in (Alias.PRODUCTION, Alias.B)
                if decision.assignments_after[alias] is not None
                and decision.assignments_after[alias] != decision.assignments_before[alias]
                and decision.assignments_after[alias]
                != decision.assignments_before[Alias.PRODUCTION]
            ]
            unchecked = [v for v in dict.fromkeys(entering) if v is not None and v not in verdicts]
            if not unchecked:
                return decision, facts
            refused = False
            for version in unchecked:
                verdict = self._parity(family, version)
                verdicts[version] = verdict.facts()
                if not verdict.ok:
                    log.warning(
                        "%s v%s fails the parity check: %s", family.value, version, verdict.detail
                    )
                    blocked.add(version)
                    refused = True
            if not refused:
                facts["parity"] = verdicts
                return decision, facts

    def _sample_ratio(
        self, family: Family, windows: dict[Alias, datetime | None]
    ) -> dict[str, Any]:
        from rps.services.ab_evidence import sample_ratio

        shares = self._config.production_share
        since_both = [w for a, w in windows.items() if a in (Alias.PRODUCTION, Alias.B) and w]
        since = max(since_both) if since_both else None
        return sample_ratio(
            self._repo,
            family,
            since,
            shares.get(family, 0.5) if shares is not None else None,
            list(self._config.sources),
        )

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        families: Iterable[Family] | None = None,
        *,
        dry_run: bool = False,
        source: str = "auto",
    ) -> list[FamilyOutcome]:
        """Decide every family (or those given); unless ``dry_run``, apply and write the ledger.

        Games quiet for longer than the abandonment limit are closed first, so they count.
        A family whose Production points nowhere gets an ``insufficient_data`` row naming the
        empty aliases. The cache is published and the app reloaded once, after all moves.
        """
        if self._close_abandoned is not None and not dry_run:
            closed = self._close_abandoned()
            if closed:
                log.info("closed %d abandoned games before deciding", closed)
        outcomes = []
        moved_any = False
        with self._lock():
            for family in families or list(Family):
                decision, facts = self._decide_with_parity(family)
                if decision is None:
                    reason = "aliases without a model: " + ", ".join(facts["missing_aliases"])
                    outcome = FamilyOutcome(
                        family, PromotionDecision.INSUFFICIENT_DATA.value, reason, applied=False
                    )
                    if not dry_run:
                        outcome.event = self._write(
                            _bare_event(
                                family, outcome.decision, reason, source, facts, self._clock()
                            )
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
                    outcome.event = self._write(
                        _event(family, decision, facts, source, bool(moves), self._clock())
                    )
                outcomes.append(outcome)
            if moved_any:
                problems = self._publish()
                for outcome in outcomes:
                    if outcome.applied:
                        outcome.problems.extend(problems)
        return outcomes

    def _move(
        self,
        family: Family,
        moves: dict[Alias, tuple[str | None, str | None]],
        by: str,
        reason: str,
    ) -> None:
        name = REGISTERED_NAMES[family]
        for alias, (old, new) in moves.items():
            if new is None:
                self._registry.delete_alias(name, alias)
                log.info("%s@%s: v%s → empty (%s)", family.value, alias.value, old, by)
                continue
            self._registry.set_alias(name, alias, new)
            self._lifecycle.record_assignment(
                model_type=family.value,
                alias=alias.value,
                version=new,
                run_id=self._registry.version_run_id(name, new),
                previous_version=old or None,
                assigned_by=by,
                reason=reason,
                assigned_at=self._clock(),
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
        self,
        family: Family,
        alias: Alias,
        version: str,
        *,
        by: str = "manual",
        reason: str = "",
        skip_parity: bool = False,
        decision: PromotionDecision = PromotionDecision.ALIAS_SET,
    ) -> FamilyOutcome:
        """Point family@alias at ``version`` (recorded, synced and reloaded like a promotion).

        If another alias of the family holds ``version``, it takes this alias's old version in
        exchange, so the four aliases keep four different versions. A version that would reach
        Production or B this way (directly or through the exchange) must pass the parity check
        unless ``skip_parity`` (which the ledger row records). ValueError if the version is not
        registered; :class:`ParityRefused` if the check fails.
        """
        name = REGISTERED_NAMES[family]
        if self._registry.version_run_id(name, version) is None:
            raise ValueError(f"{name} has no version {version!r}")
        with self._lock():
            before = {a: (t.version if t else None) for a, t in self._targets(family).items()}
            old = before[alias]
            if old == version:
                return FamilyOutcome(
                    family, decision.value, f"already at v{version}", applied=False
                )
            why = reason or f"{by}: {family.value}@{alias.value} → v{version}"
            moves: dict[Alias, tuple[str | None, str | None]] = {alias: (old, version)}
            holder = next((a for a, v in before.items() if a is not alias and v == version), None)
            if holder is not None and old is not None:
                moves[holder] = (version, old)
                why += f" ({holder.value} takes v{old} in exchange)"
            elif holder is not None:
                moves[holder] = (version, None)
                why += f" ({holder.value} is left empty)"
            details: dict[str, Any] = {}
            live = [
                new
                for moved, (_, new) in moves.items()
                if moved in (Alias.PRODUCTION, Alias.B) and new is not None
            ]
            if live and self._parity is not None and not skip_parity:
                checks = {}
                for candidate in dict.fromkeys(live):
                    verdict = self._parity(family, candidate)
                    checks[candidate] = verdict.facts()
                    if not verdict.ok:
                        raise ParityRefused(
                            f"v{candidate} cannot serve {family.value} Production or B: the "
                            f"parity check failed ({verdict.detail}); put it in a shadow "
                            "alias first so it records predictions, or pass --skip-parity"
                        )
                details["parity"] = checks
            elif live:
                details["parity"] = "skipped" if skip_parity else "not configured"
                if skip_parity:
                    why += " (parity check skipped)"
            self._move(family, moves, by, why)
            after = dict(before)
            for moved, (_, new) in moves.items():
                after[moved] = new
            event = self._write(
                LedgerEvent(
                    event_id=new_event_id(),
                    created_at=self._clock(),
                    model_type=family.value,
                    decision=decision.value,
                    source=by,
                    reason=why,
                    production_version=after[Alias.PRODUCTION],
                    b_version=after[Alias.B],
                    assignments_before={a.value: v for a, v in before.items()},
                    assignments_after={a.value: v for a, v in after.items()},
                    details=details or None,
                )
            )
            outcome = FamilyOutcome(
                family,
                decision.value,
                why,
                applied=True,
                moves={a.value: m for a, m in moves.items()},
            )
            outcome.event = event
            outcome.problems.extend(self._publish())
        return outcome

    def rollback(
        self, family: Family, alias: Alias, *, by: str = "manual", skip_parity: bool = False
    ) -> FamilyOutcome:
        """Point family@alias back at the version it had before its newest assignment (a
        version that served before passes the parity check on its stored predictions)."""
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
            skip_parity=skip_parity,
            decision=PromotionDecision.ROLLBACK,
        )


def _window_start(assigned: AssignedVersion | None, version: str) -> datetime | None:
    """Since when ``version`` has held the alias (None: no record, so all of its games)."""
    if assigned is None or assigned.version != version:
        return None
    return assigned.assigned_at


def _event(
    family: Family,
    decision: FamilyDecision,
    facts: dict[str, Any],
    source: str,
    applied: bool,
    created_at: datetime,
) -> LedgerEvent:
    production = decision.production
    sequential = production.sequential
    ranking = decision.ranking
    return LedgerEvent(
        event_id=new_event_id(),
        created_at=created_at,
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
        b_version=production.b.version if production.b else None,
        b_wins=production.b.wins if production.b else None,
        b_games=production.b.games if production.b else None,
        reorder_applied=decision.reorder_applied,
        applied=applied,
        rankings=(
            {
                "before": list(ranking.before),
                "after": list(ranking.after),
                "order": [c.version for c in ranking.ranked],
            }
            if ranking is not None
            else None
        ),
        accuracies=facts.get("accuracies"),
        assignments_before={a.value: v for a, v in decision.assignments_before.items()},
        assignments_after={a.value: v for a, v in decision.assignments_after.items()},
        details={k: v for k, v in facts.items() if k not in ("accuracies",)},
    )


def _bare_event(
    family: Family,
    decision: str,
    reason: str,
    source: str,
    facts: dict[str, Any],
    created_at: datetime,
) -> LedgerEvent:
    return LedgerEvent(
        event_id=new_event_id(),
        created_at=created_at,
        model_type=family.value,
        decision=decision,
        source=source,
        reason=reason,
        applied=False,
        details=facts,
    )


def families_from(names: Sequence[str] | None) -> list[Family]:
    """Families named on a command line (any name ``parse_family`` takes; none: all of them);
    ValueError naming a bad one."""
    if not names:
        return list(Family)
    return parse_families(names)
