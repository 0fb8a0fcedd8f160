"""The pure promotion rules of SPEC §7: statistics, the Production/B decision, challenger ranking.

Everything here is arithmetic on counts the promotion service reads from the database: games won
and played by the Production and B versions since each took its alias, and each version's
prediction accuracy. Nothing here reads, writes or moves an alias; the service applies the
:class:`FamilyDecision` this module returns.

Order of operations for one family (:func:`decide_family`):

1. Production vs B on game win rate (:func:`decide_production`), by the ``winrate`` or the
   ``sequential`` rule.
2. If B wins, the two swap: Production takes B's version, B takes the old Production version.
3. The three challenger slots (B, shadow1, shadow2) *as they are after step 2* are re-ranked by
   action accuracy (:func:`rank_challengers`), so a demoted ex-Production competes on its own
   accuracy and may be passed by a better shadow.
4. :func:`combine` names the outcome: a swap wins over a reorder (``reorder_applied`` then says
   whether the challengers moved too); a reorder alone is ``alias_reorder``; otherwise the
   Production decision stands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from rps.domain.policy import Alias

# Challenger slots in their rank order: B is the best challenger and the one that plays A/B games.
CHALLENGER_ALIASES: tuple[Alias, Alias, Alias] = (Alias.B, Alias.SHADOW1, Alias.SHADOW2)

# Variance τ² of the normal mixing distribution over the true win-rate difference (B − Production)
# in the sequential test: a prior standard deviation of about 0.22. The power of the test barely
# depends on it between 0.02 and 0.1 (checked by simulation for true differences of 0.1 to 0.4);
# this value finds differences of 0.2 and more within about a hundred games per arm.
DEFAULT_MIXTURE_VARIANCE = 0.05

# A log-likelihood ratio above this would overflow math.exp; the ratio is then reported as inf.
_MAX_LOG_RATIO = 700.0


class PromotionRule(StrEnum):
    """How Production and B are compared (``PROMOTION_RULE``)."""

    WINRATE = "winrate"
    SEQUENTIAL = "sequential"


class PromotionDecision(StrEnum):
    """The decision written to the promotion ledger for one family."""

    SWAP_PRODUCTION_B = "swap_production_b"
    RETAIN_PRODUCTION = "retain_production"
    INSUFFICIENT_DATA = "insufficient_data"
    ALIAS_REORDER = "alias_reorder"


def _check_counts(wins: int, games: int, what: str) -> None:
    if games < 0:
        raise ValueError(f"{what}: games must be non-negative, got {games}")
    if wins < 0:
        raise ValueError(f"{what}: wins must be non-negative, got {wins}")
    if wins > games:
        raise ValueError(f"{what}: wins ({wins}) cannot exceed games ({games})")


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f}%"


@dataclass(frozen=True, slots=True)
class ArmStats:
    """Games won and played by one version in its alias (one arm of the A/B test)."""

    version: str
    games: int
    wins: int

    def __post_init__(self) -> None:
        _check_counts(self.wins, self.games, f"arm of version {self.version!r}")

    @property
    def win_rate(self) -> float:
        """Share of games won; 0.0 before any game was played."""
        return self.wins / self.games if self.games else 0.0

    def describe(self) -> str:
        return f"v{self.version} won {self.wins}/{self.games} ({_percent(self.win_rate)})"


def one_sided_p(z: float) -> float:
    """P(Z ≥ z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_z(a_wins: int, a_games: int, b_wins: int, b_games: int) -> tuple[float, float]:
    """Pooled two-proportion z of B's rate minus A's, and the one-sided p-value that B is better.

    ``z = (p_B − p_A) / sqrt(p (1 − p) (1/n_A + 1/n_B))`` with ``p`` the pooled rate of both arms;
    positive when B's rate is higher. The p-value is ``P(Z ≥ z)`` under the null hypothesis of
    equal rates, so small values favour B.

    Degenerate pools carry no evidence either way and give ``z = 0`` and ``p = 0.5``: an arm with
    no games, or a pooled rate of exactly 0 or 1 (then both arms have the same rate). Keeping
    ``p = P(Z ≥ z)`` in every case means swapping the arms always turns ``(z, p)`` into
    ``(−z, 1 − p)``.

    A fixed-sample test: valid for one look at a sample size chosen in advance, not for a check
    after every game (see :func:`sequential_test`).
    """
    _check_counts(a_wins, a_games, "arm A")
    _check_counts(b_wins, b_games, "arm B")
    if a_games == 0 or b_games == 0:
        return 0.0, 0.5
    pooled = (a_wins + b_wins) / (a_games + b_games)
    variance = pooled * (1.0 - pooled) * (1.0 / a_games + 1.0 / b_games)
    if variance <= 0.0:
        return 0.0, 0.5
    z = (b_wins / b_games - a_wins / a_games) / math.sqrt(variance)
    return z, one_sided_p(z)


@dataclass(frozen=True, slots=True)
class SequentialTest:
    """The mixture-SPRT evidence that B's win rate differs from Production's, at this look."""

    log_likelihood_ratio: float
    difference: float  # B's win rate minus Production's

    @property
    def likelihood_ratio(self) -> float:
        """Λ; ``inf`` when it is too large for a float."""
        if self.log_likelihood_ratio > _MAX_LOG_RATIO:
            return math.inf
        return math.exp(self.log_likelihood_ratio)

    @property
    def always_valid_p(self) -> float:
        """``min(1, 1/Λ)``: a p-value that stays valid however many times it is looked at."""
        return min(1.0, math.exp(-self.log_likelihood_ratio))

    def b_is_better(self, alpha: float) -> bool:
        """B is declared better: Λ ≥ 1/alpha and B's observed rate is the higher one."""
        _check_alpha(alpha)
        return self.difference > 0.0 and self.log_likelihood_ratio >= -math.log(alpha)


def sequential_test(
    a_wins: int,
    a_games: int,
    b_wins: int,
    b_games: int,
    *,
    mixture_variance: float = DEFAULT_MIXTURE_VARIANCE,
) -> SequentialTest:
    """An always-valid test of "B's win rate differs from A's": a mixture SPRT (mSPRT).

    With the normal approximation, the observed difference ``d = p_B − p_A`` has variance
    ``V = p (1 − p) (1/n_A + 1/n_B)`` under the null hypothesis of equal rates (``p`` pooled).
    The likelihood ratio of "the true difference θ is drawn from N(0, τ²)" against "θ = 0" is

        Λ = sqrt(V / (V + τ²)) · exp(τ² d² / (2 V (V + τ²)))

    Under the null hypothesis Λ, followed game by game, is a nonnegative martingale with
    expectation 1, so by Ville's inequality ``P(Λ ever reaches 1/α) ≤ α``. That is why the rule
    "declare B better as soon as Λ ≥ 1/α" may be checked after every game, every promotion run or
    any other number of looks without inflating false promotions, unlike a fixed-sample z-test
    repeated at every look. The martingale property holds for the normal approximation with a
    stable A/B split, which is how games are assigned (SPEC §6.2).

    The mixture is symmetric, so Λ measures a difference in either direction;
    :meth:`SequentialTest.b_is_better` adds the one-sided condition that B's rate is higher.
    Degenerate pools (an arm without games, a pooled rate of 0 or 1) give Λ = 1: no evidence.
    ``mixture_variance`` is τ², on the scale of the win-rate difference.
    """
    _check_counts(a_wins, a_games, "arm A")
    _check_counts(b_wins, b_games, "arm B")
    if not mixture_variance > 0.0:
        raise ValueError(f"mixture_variance must be positive, got {mixture_variance}")
    if a_games == 0 or b_games == 0:
        return SequentialTest(0.0, 0.0)
    difference = b_wins / b_games - a_wins / a_games
    pooled = (a_wins + b_wins) / (a_games + b_games)
    variance = pooled * (1.0 - pooled) * (1.0 / a_games + 1.0 / b_games)
    if variance <= 0.0:
        return SequentialTest(0.0, difference)
    tau2 = mixture_variance
    log_ratio = 0.5 * math.log(variance / (variance + tau2)) + (
        tau2 * difference * difference / (2.0 * variance * (variance + tau2))
    )
    return SequentialTest(log_ratio, difference)


def sample_ratio_mismatch_p(
    observed_b: int, observed_total: int, expected_b_ratio: float
) -> float | None:
    """p-value of a chi-square goodness-of-fit test (1 df) of the observed A/B split.

    ``observed_b`` of ``observed_total`` games went to B while a share ``expected_b_ratio`` was
    expected (``1 − AB_SPLIT_RATIO``, since that ratio is Production's share). A tiny p-value
    means the assignment or the attribution of games is broken and the A/B comparison should not
    be trusted. None when nothing can be tested: no games, or an expected ratio of 0 or 1.
    """
    _check_counts(observed_b, observed_total, "A/B split")
    if not 0.0 <= expected_b_ratio <= 1.0:
        raise ValueError(f"expected_b_ratio must be between 0 and 1, got {expected_b_ratio}")
    if observed_total == 0 or expected_b_ratio in (0.0, 1.0):
        return None
    expected_b = observed_total * expected_b_ratio
    expected_a = observed_total - expected_b
    observed_a = observed_total - observed_b
    chi_square = (observed_b - expected_b) ** 2 / expected_b + (
        observed_a - expected_a
    ) ** 2 / expected_a
    # For one degree of freedom, P(χ² ≥ x) = P(|Z| ≥ √x) = erfc(√(x/2)).
    return math.erfc(math.sqrt(chi_square / 2.0))


@dataclass(frozen=True, slots=True)
class ProductionDecision:
    """Production vs B for one family. ``z`` and ``p_value`` (pooled two-proportion, one-sided,
    B better) are reported under every rule for telemetry; ``sequential`` only under the
    sequential rule."""

    decision: PromotionDecision
    rule: PromotionRule
    production: ArmStats
    b: ArmStats
    z: float
    p_value: float
    reason: str
    sequential: SequentialTest | None = None

    @property
    def swaps(self) -> bool:
        return self.decision is PromotionDecision.SWAP_PRODUCTION_B


def decide_production(
    production: ArmStats,
    b: ArmStats,
    *,
    rule: PromotionRule | str,
    min_games: int,
    alpha: float,
    mixture_variance: float = DEFAULT_MIXTURE_VARIANCE,
) -> ProductionDecision:
    """Whether B replaces Production (SPEC §7).

    - Same version in both aliases → ``retain_production``: there is nothing to swap.
    - Either arm below ``min_games`` games → ``insufficient_data`` (both rules).
    - ``winrate``: the higher win rate is Production; a tie keeps the incumbent. B leads → swap.
    - ``sequential``: swap only when :func:`sequential_test` says B is better at ``alpha``;
      otherwise retain, however the raw win rates compare.

    Raises ValueError for an unknown rule, a negative ``min_games`` or an ``alpha`` outside (0, 1).
    """
    try:
        chosen = PromotionRule(rule)
    except ValueError:
        known = ", ".join(r.value for r in PromotionRule)
        raise ValueError(f"unknown promotion rule {rule!r}; expected one of: {known}") from None
    if min_games < 0:
        raise ValueError(f"min_games must be non-negative, got {min_games}")
    _check_alpha(alpha)

    z, p_value = two_proportion_z(production.wins, production.games, b.wins, b.games)
    sequential = (
        sequential_test(
            production.wins,
            production.games,
            b.wins,
            b.games,
            mixture_variance=mixture_variance,
        )
        if chosen is PromotionRule.SEQUENTIAL
        else None
    )
    arms = f"B {b.describe()}, Production {production.describe()}"
    figures = f"z={z:.2f}, one-sided p={p_value:.3g}"
    if sequential is not None:
        figures += (
            f", likelihood ratio={sequential.likelihood_ratio:.3g}"
            f" (needs ≥ {1 / alpha:.3g}), always-valid p={sequential.always_valid_p:.3g}"
        )

    def decided(decision: PromotionDecision, why: str) -> ProductionDecision:
        return ProductionDecision(
            decision=decision,
            rule=chosen,
            production=production,
            b=b,
            z=z,
            p_value=p_value,
            reason=f"{why}: {arms}; {figures}",
            sequential=sequential,
        )

    if production.version == b.version:
        return decided(
            PromotionDecision.RETAIN_PRODUCTION,
            f"B and Production are the same version v{b.version}, nothing to swap",
        )
    if production.games < min_games or b.games < min_games:
        return decided(
            PromotionDecision.INSUFFICIENT_DATA,
            f"{chosen} rule needs at least {min_games} games per arm",
        )
    if chosen is PromotionRule.WINRATE:
        # Cross-multiplied so equal rates compare equal whatever the game counts.
        if b.wins * production.games > production.wins * b.games:
            return decided(
                PromotionDecision.SWAP_PRODUCTION_B, "winrate rule: B has the higher win rate"
            )
        if b.wins * production.games == production.wins * b.games:
            return decided(
                PromotionDecision.RETAIN_PRODUCTION,
                "winrate rule: equal win rates keep the incumbent",
            )
        return decided(
            PromotionDecision.RETAIN_PRODUCTION, "winrate rule: Production has the higher win rate"
        )
    assert sequential is not None
    if sequential.b_is_better(alpha):
        return decided(
            PromotionDecision.SWAP_PRODUCTION_B,
            f"sequential rule: B is better at alpha={alpha:g}",
        )
    return decided(
        PromotionDecision.RETAIN_PRODUCTION,
        f"sequential rule: no evidence at alpha={alpha:g} that B is better",
    )


@dataclass(frozen=True, slots=True)
class ChallengerStats:
    """One alias's version and its action accuracy over all its recorded predictions."""

    alias: Alias
    version: str
    predictions: int
    accuracy: float

    def __post_init__(self) -> None:
        if self.predictions < 0:
            raise ValueError(
                f"{self.alias} v{self.version}: predictions must be non-negative,"
                f" got {self.predictions}"
            )
        if not 0.0 <= self.accuracy <= 1.0:  # also rejects NaN
            raise ValueError(
                f"{self.alias} v{self.version}: accuracy must be between 0 and 1,"
                f" got {self.accuracy}"
            )

    def describe(self) -> str:
        return f"v{self.version} ({_percent(self.accuracy)} of {self.predictions} predictions)"


@dataclass(frozen=True, slots=True)
class Ranking:
    """The challenger slots (B, shadow1, shadow2) before and after re-ranking by accuracy."""

    current: tuple[ChallengerStats, ...]
    ranked: tuple[ChallengerStats, ...]
    min_predictions: int

    @property
    def before(self) -> tuple[str, ...]:
        """Versions in B, shadow1, shadow2 order before re-ranking."""
        return tuple(c.version for c in self.current)

    @property
    def after(self) -> tuple[str, ...]:
        """Versions in B, shadow1, shadow2 order after re-ranking."""
        return tuple(c.version for c in self.ranked)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def moves(self) -> dict[Alias, tuple[str, str]]:
        """Each challenger alias whose version changes → (old version, new version)."""
        return {
            alias: (old, new)
            for alias, old, new in zip(CHALLENGER_ALIASES, self.before, self.after, strict=True)
            if old != new
        }

    def describe(self) -> str:
        if not self.changed:
            return "challenger order unchanged"
        moved = ", ".join(
            f"{alias} ← {stats.describe()}"
            for alias, stats, old in zip(CHALLENGER_ALIASES, self.ranked, self.before, strict=True)
            if stats.version != old
        )
        return f"challengers re-ranked by accuracy: {moved}"


def _rank_key(stats: ChallengerStats, position: int) -> tuple[float, int, int]:
    return (-stats.accuracy, -stats.predictions, position)


def rank_challengers(current: Sequence[ChallengerStats], *, min_predictions: int) -> Ranking:
    """Re-rank the challenger slots so B holds the best challenger (SPEC §7).

    ``current`` is the three slots in the order B, shadow1, shadow2. Versions are ordered by
    accuracy (higher first), then by more predictions, then by current order. A version with
    fewer than ``min_predictions`` predictions is *ineligible*: its accuracy is not yet trusted
    enough to move it up. Precisely, the slots are filled from the top; each position goes to the
    better (by the order above) of

    - the best eligible version not yet placed, and
    - the first ineligible version not yet placed, in current order, if this position is at or
      below its current one.

    So ineligible versions keep their relative order and never end above their current position,
    but an eligible version with better accuracy passes them (they move down). With every version
    eligible this is a plain sort; re-ranking a ranked order changes nothing.
    """
    if min_predictions < 0:
        raise ValueError(f"min_predictions must be non-negative, got {min_predictions}")
    slots = tuple(current)
    aliases = tuple(c.alias for c in slots)
    if aliases != CHALLENGER_ALIASES:
        expected = ", ".join(CHALLENGER_ALIASES)
        got = ", ".join(aliases) or "nothing"
        raise ValueError(f"challengers must be given in the order {expected}; got {got}")

    eligible = sorted(
        (i for i, c in enumerate(slots) if c.predictions >= min_predictions),
        key=lambda i: _rank_key(slots[i], i),
    )
    ineligible = [i for i, c in enumerate(slots) if c.predictions < min_predictions]
    order: list[int] = []
    for position in range(len(slots)):
        candidates = []
        if eligible:
            candidates.append(eligible[0])
        if ineligible and ineligible[0] <= position:
            candidates.append(ineligible[0])
        # Never empty: some slot whose current position is ≤ this one is still unplaced.
        best = min(candidates, key=lambda i: _rank_key(slots[i], i))
        (eligible if best in eligible else ineligible).remove(best)
        order.append(best)
    ranked = tuple(
        replace(slots[i], alias=alias) for alias, i in zip(CHALLENGER_ALIASES, order, strict=True)
    )
    return Ranking(current=slots, ranked=ranked, min_predictions=min_predictions)


@dataclass(frozen=True, slots=True)
class FamilyDecision:
    """Everything the promotion service applies and writes to the ledger for one family."""

    decision: PromotionDecision
    production: ProductionDecision
    ranking: Ranking
    reorder_applied: bool  # the challenger slots were re-ordered (alone or after a swap)
    assignments_before: dict[Alias, str]
    assignments_after: dict[Alias, str]
    reason: str

    @property
    def moves(self) -> dict[Alias, tuple[str, str]]:
        """Each alias whose version changes → (old version, new version), in alias order."""
        return {
            alias: (self.assignments_before[alias], self.assignments_after[alias])
            for alias in Alias
            if self.assignments_before[alias] != self.assignments_after[alias]
        }


def combine(production_decision: ProductionDecision, ranking: Ranking) -> FamilyDecision:
    """The family's final decision from the Production/B decision and the challenger ranking.

    ``ranking`` must rank the challenger slots as they are *after* the Production step: after a
    swap, B holds the old Production version (ValueError otherwise). A swap wins over a reorder;
    a reorder alone is ``alias_reorder``; otherwise the Production decision stands.
    ``reorder_applied`` is True whenever the ranking changed the challenger slots.
    """
    swapped = production_decision.swaps
    old_production = production_decision.production.version
    old_b = production_decision.b.version
    expected_b = old_production if swapped else old_b
    if ranking.before[0] != expected_b:
        step = "after the swap" if swapped else "without a swap"
        raise ValueError(
            f"the ranking must start from the challenger slots {step}: B should hold"
            f" v{expected_b}, got v{ranking.before[0]}"
        )
    before = {
        Alias.PRODUCTION: old_production,
        Alias.B: old_b,
        Alias.SHADOW1: ranking.before[1],
        Alias.SHADOW2: ranking.before[2],
    }
    after = {Alias.PRODUCTION: old_b if swapped else old_production}
    after.update(zip(CHALLENGER_ALIASES, ranking.after, strict=True))
    if swapped:
        decision = PromotionDecision.SWAP_PRODUCTION_B
    elif ranking.changed:
        decision = PromotionDecision.ALIAS_REORDER
    else:
        decision = production_decision.decision
    return FamilyDecision(
        decision=decision,
        production=production_decision,
        ranking=ranking,
        reorder_applied=ranking.changed,
        assignments_before=before,
        assignments_after=after,
        reason=f"{production_decision.reason}. {ranking.describe()}",
    )


def decide_family(
    production: ArmStats,
    b: ArmStats,
    production_accuracy: ChallengerStats,
    challengers: Sequence[ChallengerStats],
    *,
    rule: PromotionRule | str,
    min_games: int,
    min_predictions: int,
    alpha: float,
    mixture_variance: float = DEFAULT_MIXTURE_VARIANCE,
) -> FamilyDecision:
    """The whole §7 decision for one family: Production vs B, swap, re-rank, combine.

    ``production_accuracy`` is the Production version's prediction record (alias Production);
    ``challengers`` the records of B, shadow1 and shadow2, in that order. After a swap the old
    Production version takes B's slot with its own record and is ranked among the challengers.
    """
    if production_accuracy.alias is not Alias.PRODUCTION:
        raise ValueError(
            "production_accuracy must be the Production alias's record,"
            f" got {production_accuracy.alias}"
        )
    if production_accuracy.version != production.version:
        raise ValueError(
            f"Production's games are for v{production.version} but its accuracy is for"
            f" v{production_accuracy.version}"
        )
    if not challengers or challengers[0].version != b.version:
        got = f"v{challengers[0].version}" if challengers else "nothing"
        raise ValueError(f"B's games are for v{b.version} but B's accuracy is for {got}")
    production_decision = decide_production(
        production,
        b,
        rule=rule,
        min_games=min_games,
        alpha=alpha,
        mixture_variance=mixture_variance,
    )
    slots = list(challengers)
    if production_decision.swaps:
        slots[0] = replace(production_accuracy, alias=Alias.B)
    ranking = rank_challengers(slots, min_predictions=min_predictions)
    return combine(production_decision, ranking)
