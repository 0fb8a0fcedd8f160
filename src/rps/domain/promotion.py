"""The pure promotion rules of SPEC §7: statistics, the Production/B decision, challenger ranking.

Everything here is arithmetic on figures the promotion service reads from the database: games won
and played by the Production and B versions since each took its alias, and each version's record
as a challenger (its live counterfactual margin, its offline gym strength, its action accuracy).
Nothing here reads, writes or moves an alias; the service applies the :class:`FamilyDecision`
this module returns.

Order of operations for one family (:func:`decide_family`):

1. Production vs B on game win rate (:func:`decide_production`), by the ``winrate`` or the
   ``sequential`` rule. Under ``sequential`` the test *concludes* when B is better (swap), when B
   is worse (futility: retain) or when B has played ``max_games`` games (``test_exhausted``);
   otherwise it is still running and nothing moves (``insufficient_data``).
2. Only when the test has concluded (or B is empty) are the challengers ranked
   (:func:`rank_challengers`): B, the shadows and, after a swap, the old Production, by live
   counterfactual margin per model round, falling back to offline gym strength for versions with
   too few scored rounds. The best takes B — never the B that just lost — and the rest fill the
   shadows in order.
3. The decision names the outcome: a swap wins over a new B (``challenger_to_b``), which wins
   over a reorder of the shadows (``alias_reorder``); otherwise the test's outcome stands.
   ``reorder_applied`` says the challengers moved beyond what a swap alone does.
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
    """The decision written to the promotion ledger for one family (or one manual move)."""

    SWAP_PRODUCTION_B = "swap_production_b"
    RETAIN_PRODUCTION = "retain_production"
    TEST_EXHAUSTED = "test_exhausted"
    INSUFFICIENT_DATA = "insufficient_data"
    CHALLENGER_TO_B = "challenger_to_b"
    ALIAS_REORDER = "alias_reorder"
    ALIAS_SET = "alias_set"
    ROLLBACK = "rollback"


# Outcomes of the Production/B step after which the challengers are re-ranked.
CONCLUDED = frozenset(
    {
        PromotionDecision.SWAP_PRODUCTION_B,
        PromotionDecision.RETAIN_PRODUCTION,
        PromotionDecision.TEST_EXHAUSTED,
    }
)


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

    def b_is_worse(self, alpha: float) -> bool:
        """B is declared worse (futility): Λ ≥ 1/alpha and Production's rate is the higher."""
        _check_alpha(alpha)
        return self.difference < 0.0 and self.log_likelihood_ratio >= -math.log(alpha)


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
    sequential rule. ``b`` is None when the family's B alias is empty (no test)."""

    decision: PromotionDecision
    rule: PromotionRule
    production: ArmStats
    b: ArmStats | None
    z: float | None
    p_value: float | None
    reason: str
    sequential: SequentialTest | None = None

    @property
    def swaps(self) -> bool:
        return self.decision is PromotionDecision.SWAP_PRODUCTION_B

    @property
    def concluded(self) -> bool:
        """The test is over (or there is none): the challengers are ranked."""
        return self.b is None or self.decision in CONCLUDED

    @property
    def b_lost(self) -> bool:
        """B's test ended without B winning: that B does not take B again this run."""
        return self.b is not None and self.concluded and not self.swaps


def decide_production(
    production: ArmStats,
    b: ArmStats,
    *,
    rule: PromotionRule | str,
    min_games: int,
    alpha: float,
    max_games: int | None = None,
    mixture_variance: float = DEFAULT_MIXTURE_VARIANCE,
) -> ProductionDecision:
    """Whether B replaces Production (SPEC §7).

    - Same version in both aliases → ``retain_production``: there is nothing to swap.
    - Either arm below ``min_games`` games → ``insufficient_data`` (both rules).
    - ``winrate``: the higher win rate is Production; a tie keeps the incumbent. B leads → swap.
    - ``sequential``: swap when :func:`sequential_test` says B is better at ``alpha``; retain
      when it says B is worse (futility); ``test_exhausted`` once B has played ``max_games``
      games without either; otherwise the test goes on (``insufficient_data``).

    Raises ValueError for an unknown rule, a negative ``min_games``, a ``max_games`` below 1 or
    an ``alpha`` outside (0, 1).
    """
    try:
        chosen = PromotionRule(rule)
    except ValueError:
        known = ", ".join(r.value for r in PromotionRule)
        raise ValueError(f"unknown promotion rule {rule!r}; expected one of: {known}") from None
    if min_games < 0:
        raise ValueError(f"min_games must be non-negative, got {min_games}")
    if max_games is not None and max_games < 1:
        raise ValueError(f"max_games must be at least 1, got {max_games}")
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
    if sequential.b_is_worse(alpha):
        return decided(
            PromotionDecision.RETAIN_PRODUCTION,
            f"sequential rule: B is worse at alpha={alpha:g} (futility)",
        )
    if max_games is not None and b.games >= max_games:
        return decided(
            PromotionDecision.TEST_EXHAUSTED,
            f"sequential rule: B played {b.games} games (the most a test runs is {max_games})"
            f" without a difference at alpha={alpha:g}; Production stays",
        )
    return decided(
        PromotionDecision.INSUFFICIENT_DATA,
        f"sequential rule: the test goes on, no difference yet at alpha={alpha:g}",
    )


@dataclass(frozen=True, slots=True)
class ChallengerStats:
    """One version's record as a challenger.

    ``predictions``/``accuracy``: all its recorded predictions in the family, whichever alias
    it held. ``scored``/``margin``: its rows scored by the current decision layer and their
    mean counterfactual point margin per model round. ``gym``: its offline gym win rate on the
    holdout part (None when it was never measured).
    """

    alias: Alias | None
    version: str
    predictions: int = 0
    accuracy: float = 0.0
    scored: int = 0
    margin: float | None = None
    gym: float | None = None

    def __post_init__(self) -> None:
        if self.predictions < 0 or self.scored < 0:
            raise ValueError(
                f"v{self.version}: prediction counts must be non-negative,"
                f" got {self.predictions} and {self.scored}"
            )
        if not 0.0 <= self.accuracy <= 1.0:  # also rejects NaN
            raise ValueError(
                f"v{self.version}: accuracy must be between 0 and 1, got {self.accuracy}"
            )
        if self.gym is not None and not 0.0 <= self.gym <= 1.0:
            raise ValueError(f"v{self.version}: gym win rate must be in [0, 1], got {self.gym}")
        if self.margin is not None and not math.isfinite(self.margin):
            raise ValueError(f"v{self.version}: margin must be finite, got {self.margin}")

    def evidence(self, min_predictions: int) -> str:
        """What this version is ranked on: ``live``, ``gym`` or ``none``."""
        if self.margin is not None and self.scored >= min_predictions:
            return "live"
        if self.gym is not None:
            return "gym"
        return "none"

    def describe(self, min_predictions: int) -> str:
        kind = self.evidence(min_predictions)
        if kind == "live":
            assert self.margin is not None
            return f"v{self.version} (margin {self.margin:+.3f} over {self.scored} rounds)"
        if kind == "gym":
            assert self.gym is not None
            return f"v{self.version} (gym {_percent(self.gym)}, {self.scored} scored rounds)"
        return f"v{self.version} (no strength figures yet)"


def _rank_key(
    stats: ChallengerStats, position: int, min_predictions: int
) -> tuple[int, float, float, int]:
    """Live margin first (it is this bot's own record against real players), then offline gym
    strength, then none; ties: accuracy, then current order."""
    kind = stats.evidence(min_predictions)
    if kind == "live":
        assert stats.margin is not None
        tier, value = 2, stats.margin
    elif kind == "gym":
        assert stats.gym is not None
        tier, value = 1, stats.gym
    else:
        tier, value = 0, 0.0
    return (-tier, -value, -stats.accuracy, position)


def rank_challengers(
    candidates: Sequence[ChallengerStats], *, min_predictions: int
) -> tuple[ChallengerStats, ...]:
    """``candidates`` (in their current order) best first (SPEC §7)."""
    if min_predictions < 0:
        raise ValueError(f"min_predictions must be non-negative, got {min_predictions}")
    versions = [c.version for c in candidates]
    if len(set(versions)) != len(versions):
        raise ValueError(f"a version may compete once; got {', '.join(versions)}")
    order = sorted(
        range(len(candidates)), key=lambda i: _rank_key(candidates[i], i, min_predictions)
    )
    return tuple(candidates[i] for i in order)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The challengers as ranked (best first) and the slots B, shadow1, shadow2 before/after."""

    ranked: tuple[ChallengerStats, ...]
    before: tuple[str | None, str | None, str | None]
    after: tuple[str | None, str | None, str | None]
    min_predictions: int
    barred: frozenset[str] = frozenset()

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if not self.ranked:
            return "no challenger to rank"
        order = " > ".join(c.describe(self.min_predictions) for c in self.ranked)
        text = f"challengers ranked: {order}"
        if self.barred:
            text += (
                f"; not eligible for B this run: {', '.join('v' + v for v in sorted(self.barred))}"
            )
        return text


@dataclass(frozen=True, slots=True)
class FamilyDecision:
    """Everything the promotion service applies and writes to the ledger for one family."""

    decision: PromotionDecision
    production: ProductionDecision
    ranking: Ranking | None  # None while the test goes on (nothing is ranked)
    reorder_applied: bool  # the challengers moved beyond what a swap alone does
    assignments_before: dict[Alias, str | None]
    assignments_after: dict[Alias, str | None]
    reason: str

    @property
    def moves(self) -> dict[Alias, tuple[str | None, str | None]]:
        """Each alias whose version changes → (old version, new version), in alias order; a new
        version None empties the alias."""
        return {
            alias: (self.assignments_before.get(alias), self.assignments_after.get(alias))
            for alias in Alias
            if self.assignments_before.get(alias) != self.assignments_after.get(alias)
        }

    @property
    def concluded(self) -> bool:
        return self.production.concluded


def _no_test(production: ArmStats, rule: PromotionRule) -> ProductionDecision:
    return ProductionDecision(
        decision=PromotionDecision.INSUFFICIENT_DATA,
        rule=rule,
        production=production,
        b=None,
        z=None,
        p_value=None,
        reason="B is empty: no test to run",
    )


def decide_family(
    production: ArmStats,
    b: ArmStats | None,
    production_record: ChallengerStats,
    challengers: Sequence[ChallengerStats],
    *,
    rule: PromotionRule | str,
    min_games: int,
    min_predictions: int,
    alpha: float,
    max_games: int | None = None,
    blocked: frozenset[str] = frozenset(),
    mixture_variance: float = DEFAULT_MIXTURE_VARIANCE,
) -> FamilyDecision:
    """The whole §7 decision for one family.

    ``production_record`` is the Production version's challenger record; ``challengers`` the
    records of the versions B, shadow1 and shadow2 hold (each with its alias; empty aliases
    absent; B's first when B is set). ``blocked`` versions may not become Production or B this
    run (they failed the parity check): a swap to a blocked B is vetoed (Production stays, B
    lost), and a blocked challenger does not take B.
    """
    chosen = PromotionRule(rule)
    if production_record.version != production.version:
        raise ValueError(
            f"Production's games are for v{production.version} but its record is for"
            f" v{production_record.version}"
        )
    by_alias = {c.alias: c for c in challengers}
    if len(by_alias) != len(challengers) or not set(by_alias) <= set(CHALLENGER_ALIASES):
        raise ValueError("challengers must be the records of distinct B/shadow1/shadow2 aliases")
    if (b is None) != (Alias.B not in by_alias):
        raise ValueError("B's games and B's record must be given together")
    if b is not None and by_alias[Alias.B].version != b.version:
        raise ValueError(
            f"B's games are for v{b.version} but B's record is for v{by_alias[Alias.B].version}"
        )

    if b is None:
        decision = _no_test(production, chosen)
    else:
        decision = decide_production(
            production,
            b,
            rule=chosen,
            min_games=min_games,
            alpha=alpha,
            max_games=max_games,
            mixture_variance=mixture_variance,
        )
        if decision.swaps and b.version in blocked:
            decision = replace(
                decision,
                decision=PromotionDecision.RETAIN_PRODUCTION,
                reason=f"{decision.reason}; the swap is vetoed: v{b.version} failed the parity"
                " check",
            )

    def version_at(alias: Alias) -> str | None:
        held = by_alias.get(alias)
        return held.version if held is not None else None

    before: dict[Alias, str | None] = {Alias.PRODUCTION: production.version}
    before.update({alias: version_at(alias) for alias in CHALLENGER_ALIASES})
    slots_before = (before[Alias.B], before[Alias.SHADOW1], before[Alias.SHADOW2])
    if not decision.concluded:
        return FamilyDecision(
            decision=decision.decision,
            production=decision,
            ranking=None,
            reorder_applied=False,
            assignments_before=before,
            assignments_after=dict(before),
            reason=f"{decision.reason}. Challengers stay as they are until the test concludes",
        )

    pool: list[ChallengerStats] = []
    if decision.swaps:
        pool.append(replace(production_record, alias=Alias.B))
    elif Alias.B in by_alias:
        pool.append(by_alias[Alias.B])
    pool.extend(by_alias[a] for a in (Alias.SHADOW1, Alias.SHADOW2) if a in by_alias)
    barred = set(blocked)
    if decision.b_lost and b is not None:
        barred.add(b.version)
    ranked = rank_challengers(pool, min_predictions=min_predictions)
    eligible = [c for c in ranked if c.version not in barred]
    if eligible:
        new_b: str | None = eligible[0].version
    elif decision.swaps:
        new_b = production.version  # nothing else may take B: the old Production does
    else:
        new_b = before[Alias.B]  # B keeps its version rather than standing empty
    rest = [c.version for c in ranked if c.version != new_b]
    after: dict[Alias, str | None] = {
        Alias.PRODUCTION: b.version if decision.swaps and b is not None else production.version,
        Alias.B: new_b,
        Alias.SHADOW1: rest[0] if len(rest) > 0 else None,
        Alias.SHADOW2: rest[1] if len(rest) > 1 else None,
    }
    slots_after = (after[Alias.B], after[Alias.SHADOW1], after[Alias.SHADOW2])
    ranking = Ranking(
        ranked=ranked,
        before=slots_before,
        after=slots_after,
        min_predictions=min_predictions,
        barred=frozenset(barred & {c.version for c in pool}),
    )
    if decision.swaps:
        plain_swap = (production.version, before[Alias.SHADOW1], before[Alias.SHADOW2])
        reorder_applied = slots_after != plain_swap
        outcome = PromotionDecision.SWAP_PRODUCTION_B
    else:
        reorder_applied = slots_after != slots_before
        if after[Alias.B] != before[Alias.B]:
            outcome = PromotionDecision.CHALLENGER_TO_B
        elif reorder_applied:
            outcome = PromotionDecision.ALIAS_REORDER
        else:
            outcome = decision.decision
    reason = f"{decision.reason}. {ranking.describe()}"
    if outcome is PromotionDecision.CHALLENGER_TO_B:
        reason += f". v{new_b} takes B"
    return FamilyDecision(
        decision=outcome,
        production=decision,
        ranking=ranking,
        reorder_applied=reorder_applied,
        assignments_before=before,
        assignments_after=after,
        reason=reason,
    )
