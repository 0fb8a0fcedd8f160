"""The pure promotion rules of SPEC §7: z-test, sequential test, SRM, decisions and re-ranking."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rps.domain.policy import Alias
from rps.domain.promotion import (
    DEFAULT_MIXTURE_VARIANCE,
    ArmStats,
    ChallengerStats,
    FamilyDecision,
    ProductionDecision,
    PromotionDecision,
    PromotionRule,
    combine,
    decide_family,
    decide_production,
    rank_challengers,
    sample_ratio_mismatch_p,
    sequential_test,
    two_proportion_z,
)

SWAP = PromotionDecision.SWAP_PRODUCTION_B
RETAIN = PromotionDecision.RETAIN_PRODUCTION
INSUFFICIENT = PromotionDecision.INSUFFICIENT_DATA
REORDER = PromotionDecision.ALIAS_REORDER
P, B, S1, S2 = Alias.PRODUCTION, Alias.B, Alias.SHADOW1, Alias.SHADOW2
ALPHA = 0.05
MIN_GAMES = 3
MIN_PREDICTIONS = 50
FAST = settings(max_examples=200, deadline=None)

counts = st.integers(min_value=0, max_value=400).flatmap(
    lambda games: st.tuples(st.integers(min_value=0, max_value=games), st.just(games))
)
rules = st.sampled_from(list(PromotionRule))


def _arm(version: str, wins: int, games: int) -> ArmStats:
    return ArmStats(version=version, games=games, wins=wins)


def _decide(production: ArmStats, b: ArmStats, rule: str, min_games: int = MIN_GAMES):
    return decide_production(production, b, rule=rule, min_games=min_games, alpha=ALPHA)


def _slots(*stats: tuple[str, int, float]) -> list[ChallengerStats]:
    """Challenger slots B, shadow1, shadow2 from (version, predictions, accuracy)."""
    return [
        ChallengerStats(alias=alias, version=version, predictions=n, accuracy=acc)
        for alias, (version, n, acc) in zip((B, S1, S2), stats, strict=True)
    ]


# --- ArmStats -------------------------------------------------------------------------------


def test_win_rate_is_wins_over_games_and_zero_before_any_game():
    assert _arm("7", 3, 4).win_rate == 0.75
    assert _arm("7", 0, 0).win_rate == 0.0


@pytest.mark.parametrize(
    ("wins", "games", "message"),
    [
        (0, -1, "games must be non-negative"),
        (-1, 3, "wins must be non-negative"),
        (5, 4, r"wins \(5\) cannot exceed games \(4\)"),
    ],
)
def test_impossible_arm_counts_are_rejected_with_the_reason(wins, games, message):
    with pytest.raises(ValueError, match=message):
        _arm("7", wins, games)


# --- two-proportion z -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "z", "p"),
    [
        # Pooled 13/24: z = (9/12 − 4/12) / sqrt(13/24 · 11/24 · 2/12).
        ((4, 12), (9, 12), 2.048366, 0.020262),
        ((50, 100), (60, 100), 1.421338, 0.077609),
        ((1, 3), (2, 3), 0.816497, 0.207108),
    ],
)
def test_z_is_positive_when_b_leads_and_p_is_the_upper_normal_tail(a, b, z, p):
    got_z, got_p = two_proportion_z(*a, *b)
    assert got_z == pytest.approx(z, rel=1e-5)
    assert got_p == pytest.approx(p, rel=1e-4)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param((0, 0), (5, 10), id="A-has-no-games"),
        pytest.param((5, 10), (0, 0), id="B-has-no-games"),
        pytest.param((0, 0), (0, 0), id="no-games-at-all"),
        pytest.param((0, 10), (0, 7), id="nobody-wins"),
        pytest.param((10, 10), (7, 7), id="everybody-wins"),
    ],
)
def test_degenerate_pools_give_no_evidence_z_zero_p_one_half(a, b):
    assert two_proportion_z(*a, *b) == (0.0, 0.5)


def test_z_rejects_impossible_counts_naming_the_arm():
    with pytest.raises(ValueError, match="arm B"):
        two_proportion_z(1, 2, 3, 2)
    with pytest.raises(ValueError, match="arm A"):
        two_proportion_z(-1, 2, 1, 2)


@FAST
@given(a=counts, b=counts)
def test_z_is_antisymmetric_and_p_is_a_probability(a, b):
    z_ab, p_ab = two_proportion_z(*a, *b)
    z_ba, p_ba = two_proportion_z(*b, *a)
    assert z_ab == pytest.approx(-z_ba)
    assert p_ab == pytest.approx(1.0 - p_ba)
    assert 0.0 <= p_ab <= 1.0


@FAST
@given(a=counts, b=counts)
def test_z_has_the_sign_of_b_rate_minus_a_rate(a, b):
    (a_wins, a_games), (b_wins, b_games) = a, b
    z, _ = two_proportion_z(a_wins, a_games, b_wins, b_games)
    if a_games and b_games:
        lead = b_wins * a_games - a_wins * b_games
        assert (z > 0) == (lead > 0)
        assert (z < 0) == (lead < 0)


# --- sequential test (mSPRT) ----------------------------------------------------------------


def test_likelihood_ratio_matches_the_normal_mixture_formula():
    # 4/12 vs 9/12: V = 13/24 · 11/24 · 2/12, d = 5/12, τ² = 0.05.
    variance, d, tau2 = 13 / 24 * 11 / 24 * 2 / 12, 5 / 12, 0.05
    expected = math.sqrt(variance / (variance + tau2)) * math.exp(
        tau2 * d * d / (2 * variance * (variance + tau2))
    )
    test = sequential_test(4, 12, 9, 12, mixture_variance=tau2)
    assert test.likelihood_ratio == pytest.approx(expected) == pytest.approx(2.12082, rel=1e-5)
    assert test.always_valid_p == pytest.approx(1 / expected)
    assert test.difference == pytest.approx(5 / 12)
    assert tau2 == DEFAULT_MIXTURE_VARIANCE


def test_an_early_peek_the_z_test_would_accept_is_refused_by_the_sequential_rule():
    production, b = _arm("1", 4, 12), _arm("2", 9, 12)
    _, fixed_sample_p = two_proportion_z(4, 12, 9, 12)
    assert fixed_sample_p < ALPHA  # a one-look z-test would call B better here …
    assert _decide(production, b, "winrate").decision is SWAP
    decision = _decide(production, b, "sequential")
    assert decision.decision is RETAIN  # … but twelve games each is far from 1/alpha evidence
    assert decision.sequential is not None
    assert decision.sequential.likelihood_ratio < 1 / ALPHA
    assert decision.p_value == pytest.approx(fixed_sample_p)


def test_overwhelming_evidence_for_b_swaps_under_the_sequential_rule():
    decision = _decide(_arm("1", 30, 100), _arm("2", 70, 100), "sequential")
    assert decision.decision is SWAP
    assert decision.sequential is not None
    assert decision.sequential.likelihood_ratio > 1e5
    assert decision.sequential.always_valid_p < 1e-5


def test_overwhelming_evidence_against_b_never_swaps_however_large_the_ratio():
    test = sequential_test(70, 100, 30, 100)
    assert test.likelihood_ratio > 1e5
    assert not test.b_is_better(ALPHA)
    assert _decide(_arm("1", 70, 100), _arm("2", 30, 100), "sequential").decision is RETAIN


@pytest.mark.parametrize(
    ("a", "b"),
    [((0, 0), (9, 12)), ((4, 12), (0, 0)), ((0, 12), (0, 12)), ((12, 12), (5, 5))],
)
def test_degenerate_pools_give_a_likelihood_ratio_of_one(a, b):
    test = sequential_test(*a, *b)
    assert test.likelihood_ratio == 1.0
    assert test.always_valid_p == 1.0
    assert not test.b_is_better(ALPHA)


def test_a_ratio_too_large_for_a_float_is_infinite_and_still_decides():
    test = sequential_test(0, 1_000_000, 1_000_000, 1_000_000)
    assert test.likelihood_ratio == math.inf
    assert test.always_valid_p == 0.0
    assert test.b_is_better(ALPHA)


@pytest.mark.parametrize("tau2", [0.0, -0.1, math.nan])
def test_mixture_variance_must_be_positive(tau2):
    with pytest.raises(ValueError, match="mixture_variance must be positive"):
        sequential_test(1, 2, 1, 2, mixture_variance=tau2)


@FAST
@given(a=counts, b=counts)
def test_always_valid_p_is_a_probability_and_the_test_is_symmetric_in_the_arms(a, b):
    forward, backward = sequential_test(*a, *b), sequential_test(*b, *a)
    assert 0.0 <= forward.always_valid_p <= 1.0
    assert forward.likelihood_ratio >= 0.0
    assert forward.log_likelihood_ratio == pytest.approx(backward.log_likelihood_ratio)
    assert not (forward.b_is_better(ALPHA) and backward.b_is_better(ALPHA))


def _false_promotion_rates(true_rate: float, experiments: int, games_per_arm: int, seed: int):
    """Share of A/A experiments (equal true win rates) in which each rule ever promotes B, with a
    look after every pair of games."""
    rng = random.Random(seed)
    sequential_promotions = z_test_promotions = 0
    for _ in range(experiments):
        production_wins = b_wins = 0
        sequential_fired = z_fired = False
        for games in range(1, games_per_arm + 1):
            production_wins += rng.random() < true_rate
            b_wins += rng.random() < true_rate
            production, b = _arm("1", production_wins, games), _arm("2", b_wins, games)
            decision = _decide(production, b, "sequential", min_games=1)
            sequential_fired = sequential_fired or decision.decision is SWAP
            z_fired = z_fired or decision.p_value < ALPHA
            if sequential_fired and z_fired:
                break
        sequential_promotions += sequential_fired
        z_test_promotions += z_fired
    return sequential_promotions / experiments, z_test_promotions / experiments


def test_looking_after_every_game_keeps_sequential_false_promotions_below_alpha():
    sequential_rate, z_test_rate = _false_promotion_rates(
        true_rate=0.5, experiments=300, games_per_arm=200, seed=20240601
    )
    # Binomial noise on 300 experiments is about ±0.013 at alpha = 0.05.
    assert sequential_rate <= ALPHA + 0.02
    # A z-test checked at every look promotes a no-better B far more often than alpha.
    assert z_test_rate >= 3 * ALPHA


def test_the_sequential_rule_still_promotes_a_clearly_better_b_within_two_hundred_games():
    rng = random.Random(7)
    promoted = 0
    experiments = 60
    for _ in range(experiments):
        production_wins = b_wins = 0
        for games in range(1, 201):
            production_wins += rng.random() < 0.35
            b_wins += rng.random() < 0.65
            decision = _decide(
                _arm("1", production_wins, games), _arm("2", b_wins, games), "sequential"
            )
            if decision.decision is SWAP:
                promoted += 1
                break
    assert promoted >= 0.9 * experiments


# --- sample ratio mismatch ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed_b", "total", "ratio", "expected"),
    [
        (50, 100, 0.5, 1.0),
        (30, 100, 0.3, 1.0),
        # χ² = 10²/50 + 10²/50 = 4 → P(χ²₁ ≥ 4) = P(|Z| ≥ 2).
        (60, 100, 0.5, 0.0455003),
        (40, 100, 0.5, 0.0455003),
        # Expected 20 of 100 on B; χ² = 10²/20 + 10²/80 = 6.25 → P(|Z| ≥ 2.5).
        (30, 100, 0.2, 0.0124193),
    ],
)
def test_srm_p_value_is_the_chi_square_tail_of_the_observed_split(
    observed_b, total, ratio, expected
):
    assert sample_ratio_mismatch_p(observed_b, total, ratio) == pytest.approx(expected, rel=1e-5)


def test_a_grossly_broken_split_has_a_tiny_srm_p_value():
    p = sample_ratio_mismatch_p(900, 1000, 0.5)
    assert p is not None
    assert p < 1e-100


@pytest.mark.parametrize(
    ("observed_b", "total", "ratio"), [(0, 0, 0.5), (0, 10, 0.0), (10, 10, 1.0)]
)
def test_srm_is_none_when_nothing_can_be_tested(observed_b, total, ratio):
    assert sample_ratio_mismatch_p(observed_b, total, ratio) is None


@pytest.mark.parametrize(
    ("observed_b", "total", "ratio", "message"),
    [
        (11, 10, 0.5, r"wins \(11\) cannot exceed games \(10\)"),
        (-1, 10, 0.5, "non-negative"),
        (5, 10, 1.5, "expected_b_ratio must be between 0 and 1"),
        (5, 10, -0.1, "expected_b_ratio must be between 0 and 1"),
    ],
)
def test_srm_rejects_impossible_inputs(observed_b, total, ratio, message):
    with pytest.raises(ValueError, match=message):
        sample_ratio_mismatch_p(observed_b, total, ratio)


@FAST
@given(split=counts, ratio=st.floats(min_value=0.01, max_value=0.99))
def test_srm_p_is_a_probability_and_does_not_depend_on_which_arm_is_counted(split, ratio):
    observed_b, total = split
    p = sample_ratio_mismatch_p(observed_b, total, ratio)
    if total == 0:
        assert p is None
        return
    assert p is not None
    assert 0.0 <= p <= 1.0
    assert p == pytest.approx(sample_ratio_mismatch_p(total - observed_b, total, 1 - ratio))


# --- Production vs B ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "production", "b", "expected"),
    [
        # winrate: both arms need MIN_GAMES (3) games.
        pytest.param("winrate", (1, 3), (2, 2), INSUFFICIENT, id="winrate-B-too-few-games"),
        pytest.param("winrate", (0, 0), (5, 9), INSUFFICIENT, id="winrate-no-production-games"),
        pytest.param("winrate", (1, 3), (2, 3), SWAP, id="winrate-B-better"),
        pytest.param("winrate", (2, 4), (1, 2), INSUFFICIENT, id="winrate-tie-but-too-few"),
        pytest.param("winrate", (2, 4), (3, 6), RETAIN, id="winrate-tie-keeps-incumbent"),
        pytest.param("winrate", (0, 3), (0, 5), RETAIN, id="winrate-both-zero-keeps-incumbent"),
        pytest.param("winrate", (3, 4), (2, 4), RETAIN, id="winrate-production-better"),
        pytest.param("winrate", (4, 12), (9, 12), SWAP, id="winrate-early-peek-swaps"),
        # sequential: same minimum, then the mSPRT decides.
        pytest.param("sequential", (1, 2), (2, 2), INSUFFICIENT, id="seq-too-few-games"),
        pytest.param("sequential", (1, 3), (3, 3), RETAIN, id="seq-B-ahead-but-no-evidence"),
        pytest.param("sequential", (4, 12), (9, 12), RETAIN, id="seq-refuses-early-peek"),
        pytest.param("sequential", (30, 100), (70, 100), SWAP, id="seq-B-clearly-better"),
        pytest.param("sequential", (70, 100), (30, 100), RETAIN, id="seq-production-better"),
        pytest.param("sequential", (50, 100), (50, 100), RETAIN, id="seq-tie"),
    ],
)
def test_production_decision(rule, production, b, expected):
    decision = _decide(_arm("1", *production), _arm("2", *b), rule)
    assert decision.decision is expected
    assert decision.rule is PromotionRule(rule)
    assert decision.swaps == (expected is SWAP)


@pytest.mark.parametrize("rule", list(PromotionRule))
def test_z_and_p_are_reported_for_telemetry_whatever_the_decision(rule):
    decision = _decide(_arm("1", 1, 2), _arm("2", 2, 2), rule)
    assert decision.decision is INSUFFICIENT
    assert (decision.z, decision.p_value) == pytest.approx(two_proportion_z(1, 2, 2, 2))
    assert (decision.sequential is not None) == (rule is PromotionRule.SEQUENTIAL)


@pytest.mark.parametrize("rule", list(PromotionRule))
def test_b_holding_the_production_version_is_retained_with_a_reason(rule):
    decision = _decide(_arm("5", 10, 40), _arm("5", 30, 40), rule)
    assert decision.decision is RETAIN
    assert "same version v5" in decision.reason
    assert "nothing to swap" in decision.reason


def test_the_reason_names_the_figures_the_decision_rests_on():
    decision = _decide(_arm("3", 4, 12), _arm("8", 9, 12), "sequential")
    for figure in (
        "v8 won 9/12 (75.0%)",
        "v3 won 4/12 (33.3%)",
        "z=2.05",
        "p=0.0203",
        "needs ≥ 20",
    ):
        assert figure in decision.reason
    assert "no evidence at alpha=0.05" in decision.reason


def test_insufficient_data_names_the_minimum():
    decision = _decide(_arm("3", 1, 2), _arm("8", 1, 5), "winrate")
    assert "at least 3 games per arm" in decision.reason
    assert "1/2" in decision.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"rule": "bayesian"},
            "unknown promotion rule 'bayesian'; expected one of: winrate, sequential",
        ),
        ({"min_games": -1}, "min_games must be non-negative"),
        ({"alpha": 0.0}, "alpha must be strictly between 0 and 1"),
        ({"alpha": 1.0}, "alpha must be strictly between 0 and 1"),
    ],
)
def test_bad_decision_settings_are_rejected_naming_the_setting(kwargs, message):
    arguments = {"rule": "winrate", "min_games": MIN_GAMES, "alpha": ALPHA} | kwargs
    with pytest.raises(ValueError, match=message):
        decide_production(_arm("1", 1, 3), _arm("2", 2, 3), **arguments)


@FAST
@given(production=counts, b=counts, rule=rules, min_games=st.integers(0, 20))
def test_b_is_never_promoted_unless_its_win_rate_is_higher(production, b, rule, min_games):
    decision = _decide(_arm("1", *production), _arm("2", *b), rule, min_games=min_games)
    b_leads = b[0] * production[1] > production[0] * b[1]
    if not b_leads:
        assert decision.decision is not SWAP
    if decision.decision is SWAP:
        assert production[1] >= min_games
        assert b[1] >= min_games
    assert 0.0 <= decision.p_value <= 1.0


@FAST
@given(production=counts, b=counts, min_games=st.integers(0, 20))
def test_the_sequential_rule_only_swaps_when_the_winrate_rule_would(production, b, min_games):
    sequential = _decide(_arm("1", *production), _arm("2", *b), "sequential", min_games)
    winrate = _decide(_arm("1", *production), _arm("2", *b), "winrate", min_games)
    if sequential.decision is SWAP:
        assert winrate.decision is SWAP
    assert (sequential.decision is INSUFFICIENT) == (winrate.decision is INSUFFICIENT)


# --- challenger re-ranking ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slots", "expected"),
    [
        pytest.param(
            [("b", 100, 0.6), ("s1", 100, 0.5), ("s2", 100, 0.4)], ("b", "s1", "s2"), id="sorted"
        ),
        pytest.param(
            [("b", 100, 0.4), ("s1", 100, 0.5), ("s2", 100, 0.6)], ("s2", "s1", "b"), id="reversed"
        ),
        pytest.param(
            [("b", 60, 0.5), ("s1", 90, 0.5), ("s2", 100, 0.4)],
            ("s1", "b", "s2"),
            id="accuracy-tie-more-predictions-first",
        ),
        pytest.param(
            [("b", 80, 0.5), ("s1", 80, 0.7), ("s2", 80, 0.5)],
            ("s1", "b", "s2"),
            id="full-tie-keeps-current-order",
        ),
        pytest.param(
            [("b", 100, 0.5), ("s1", 100, 0.6), ("s2", 10, 0.99)],
            ("s1", "b", "s2"),
            id="ineligible-best-cannot-move-up",
        ),
        pytest.param(
            [("b", 10, 0.4), ("s1", 100, 0.7), ("s2", 100, 0.6)],
            ("s1", "s2", "b"),
            id="ineligible-b-is-passed-by-better-versions",
        ),
        pytest.param(
            [("b", 10, 0.9), ("s1", 100, 0.5), ("s2", 100, 0.6)],
            ("b", "s2", "s1"),
            id="ineligible-b-keeps-its-slot-over-worse-versions",
        ),
        pytest.param(
            [("b", 10, 0.3), ("s1", 10, 0.8), ("s2", 100, 0.5)],
            ("s2", "b", "s1"),
            id="ineligible-versions-keep-their-relative-order",
        ),
        pytest.param(
            [("b", 10, 0.5), ("s1", 20, 0.6), ("s2", 30, 0.9)],
            ("b", "s1", "s2"),
            id="nobody-eligible-nothing-moves",
        ),
        pytest.param(
            # s2 (exactly 50) rises; s1 (49) holds its slot against the less accurate b.
            [("b", 100, 0.5), ("s1", 49, 0.6), ("s2", 50, 0.7)],
            ("s2", "s1", "b"),
            id="exactly-min-predictions-is-eligible",
        ),
    ],
)
def test_challengers_are_ranked_by_accuracy_and_unproven_versions_never_move_up(slots, expected):
    ranking = rank_challengers(_slots(*slots), min_predictions=MIN_PREDICTIONS)
    assert ranking.after == expected
    assert ranking.before == tuple(version for version, _, _ in slots)
    assert [c.alias for c in ranking.ranked] == [B, S1, S2]


def test_min_predictions_zero_makes_every_version_eligible():
    slots = _slots(("b", 0, 0.2), ("s1", 0, 0.1), ("s2", 1, 0.9))
    assert rank_challengers(slots, min_predictions=0).after == ("s2", "b", "s1")


def test_an_unchanged_order_reports_no_change_and_no_moves():
    ranking = rank_challengers(
        _slots(("b", 100, 0.6), ("s1", 100, 0.5), ("s2", 100, 0.4)),
        min_predictions=MIN_PREDICTIONS,
    )
    assert not ranking.changed
    assert ranking.moves == {}
    assert ranking.describe() == "challenger order unchanged"


def test_a_reorder_reports_each_alias_move_and_its_accuracy():
    ranking = rank_challengers(
        _slots(("b", 100, 0.4), ("s1", 100, 0.5), ("s2", 200, 0.6)),
        min_predictions=MIN_PREDICTIONS,
    )
    assert ranking.changed
    assert ranking.moves == {B: ("b", "s2"), S2: ("s2", "b")}
    assert "B ← vs2 (60.0% of 200 predictions)" in ranking.describe()
    assert "shadow1" not in ranking.describe()


@pytest.mark.parametrize(
    "aliases",
    [(S1, B, S2), (B, S1), (B, S1, S2, P), (P, S1, S2)],
    ids=["wrong-order", "too-few", "too-many", "production-among-challengers"],
)
def test_challengers_must_be_b_shadow1_shadow2_in_that_order(aliases):
    slots = [ChallengerStats(alias, f"v{i}", 100, 0.5) for i, alias in enumerate(aliases)]
    with pytest.raises(ValueError, match="order B, shadow1, shadow2"):
        rank_challengers(slots, min_predictions=MIN_PREDICTIONS)


@pytest.mark.parametrize(
    ("predictions", "accuracy", "message"),
    [
        (-1, 0.5, "predictions must be non-negative"),
        (10, 1.5, "accuracy must be between 0 and 1"),
        (10, -0.1, "accuracy must be between 0 and 1"),
        (10, math.nan, "accuracy must be between 0 and 1"),
    ],
)
def test_impossible_challenger_stats_are_rejected(predictions, accuracy, message):
    with pytest.raises(ValueError, match=message):
        ChallengerStats(B, "3", predictions, accuracy)


def test_negative_min_predictions_is_rejected():
    slots = _slots(("b", 1, 0.5), ("s1", 1, 0.5), ("s2", 1, 0.5))
    with pytest.raises(ValueError, match="min_predictions must be non-negative"):
        rank_challengers(slots, min_predictions=-1)


challenger = st.tuples(
    st.integers(min_value=0, max_value=120),
    st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) | st.floats(min_value=0.0, max_value=1.0),
)
challenger_triples = st.tuples(challenger, challenger, challenger)


def _triple_slots(triple) -> list[ChallengerStats]:
    return _slots(*((f"v{i}", n, acc) for i, (n, acc) in enumerate(triple)))


@FAST
@given(triple=challenger_triples, min_predictions=st.integers(0, 120))
def test_ranking_is_a_permutation_and_ranking_again_changes_nothing(triple, min_predictions):
    slots = _triple_slots(triple)
    ranking = rank_challengers(slots, min_predictions=min_predictions)
    stats_of = {c.version: (c.predictions, c.accuracy) for c in slots}
    assert sorted(ranking.after) == sorted(ranking.before)
    assert all((c.predictions, c.accuracy) == stats_of[c.version] for c in ranking.ranked)
    again = rank_challengers(list(ranking.ranked), min_predictions=min_predictions)
    assert not again.changed


@FAST
@given(triple=challenger_triples, min_predictions=st.integers(0, 120))
def test_unproven_versions_never_rise_and_proven_ones_end_in_accuracy_order(
    triple, min_predictions
):
    slots = _triple_slots(triple)
    ranking = rank_challengers(slots, min_predictions=min_predictions)
    old_position = {c.version: i for i, c in enumerate(slots)}
    unproven = [c.version for c in ranking.ranked if c.predictions < min_predictions]
    proven = [c for c in ranking.ranked if c.predictions >= min_predictions]
    for new_position, c in enumerate(ranking.ranked):
        if c.predictions < min_predictions:
            assert new_position >= old_position[c.version]
    assert unproven == sorted(unproven, key=old_position.__getitem__)
    keys = [(-c.accuracy, -c.predictions, old_position[c.version]) for c in proven]
    assert keys == sorted(keys)


# --- the family decision --------------------------------------------------------------------


def _family(
    production: tuple[int, int],
    b: tuple[int, int],
    accuracies: dict[str, tuple[int, float]],
    rule: str = "winrate",
) -> FamilyDecision:
    """Versions: Production "p", B "b", shadow1 "s1", shadow2 "s2"."""
    n, acc = accuracies["p"]
    return decide_family(
        _arm("p", *production),
        _arm("b", *b),
        ChallengerStats(P, "p", n, acc),
        _slots(*((v, *accuracies[v]) for v in ("b", "s1", "s2"))),
        rule=rule,
        min_games=MIN_GAMES,
        min_predictions=MIN_PREDICTIONS,
        alpha=ALPHA,
    )


STEADY = {"p": (500, 0.6), "b": (500, 0.55), "s1": (500, 0.5), "s2": (500, 0.45)}
BEFORE = {P: "p", B: "b", S1: "s1", S2: "s2"}


def test_swap_alone_exchanges_production_and_b():
    family = _family((2, 10), (6, 10), STEADY)
    assert family.decision is SWAP
    assert not family.reorder_applied
    assert family.assignments_before == BEFORE
    assert family.assignments_after == {P: "b", B: "p", S1: "s1", S2: "s2"}
    assert family.moves == {P: ("p", "b"), B: ("b", "p")}


def test_after_a_swap_the_demoted_production_competes_on_its_own_accuracy():
    # B wins the games; the old Production lands in B's slot, but shadow1 predicts better.
    accuracies = {"p": (500, 0.4), "b": (500, 0.55), "s1": (500, 0.5), "s2": (500, 0.45)}
    family = _family((2, 10), (6, 10), accuracies)
    assert family.decision is SWAP
    assert family.reorder_applied
    assert family.assignments_after == {P: "b", B: "s1", S1: "s2", S2: "p"}
    assert family.ranking.before == ("p", "s1", "s2")
    assert family.moves == {P: ("p", "b"), B: ("b", "s1"), S1: ("s1", "s2"), S2: ("s2", "p")}


def test_a_reorder_alone_is_an_alias_reorder():
    accuracies = STEADY | {"s2": (500, 0.7)}
    family = _family((6, 10), (2, 10), accuracies)
    assert family.production.decision is RETAIN
    assert family.decision is REORDER
    assert family.reorder_applied
    assert family.assignments_after == {P: "p", B: "s2", S1: "b", S2: "s1"}


def test_a_reorder_applies_even_when_the_games_are_insufficient():
    accuracies = STEADY | {"s1": (500, 0.7)}
    family = _family((0, 1), (0, 0), accuracies)
    assert family.production.decision is INSUFFICIENT
    assert family.decision is REORDER
    assert family.assignments_after == {P: "p", B: "s1", S1: "b", S2: "s2"}


@pytest.mark.parametrize(
    ("production", "b", "expected"),
    [((6, 10), (2, 10), RETAIN), ((1, 2), (2, 2), INSUFFICIENT), ((5, 10), (5, 10), RETAIN)],
)
def test_without_swap_or_reorder_the_production_decision_stands(production, b, expected):
    family = _family(production, b, STEADY)
    assert family.decision is expected
    assert not family.reorder_applied
    assert family.assignments_after == family.assignments_before == BEFORE
    assert family.moves == {}


def test_the_family_reason_covers_the_games_and_the_ranking():
    family = _family((2, 10), (6, 10), STEADY | {"p": (500, 0.4)})
    assert "winrate rule: B has the higher win rate" in family.reason
    assert "vb won 6/10" in family.reason
    assert "challengers re-ranked by accuracy" in family.reason


def test_combine_refuses_a_ranking_of_the_slots_before_the_swap():
    decision = _decide(_arm("p", 2, 10), _arm("b", 6, 10), "winrate")
    stale = rank_challengers(
        _slots(("b", 500, 0.5), ("s1", 500, 0.4), ("s2", 500, 0.3)),
        min_predictions=MIN_PREDICTIONS,
    )
    with pytest.raises(ValueError, match="after the swap: B should hold vp, got vb"):
        combine(decision, stale)


def test_combine_of_a_retained_production_keeps_production_and_applies_the_ranking():
    decision: ProductionDecision = _decide(_arm("p", 6, 10), _arm("b", 2, 10), "winrate")
    ranking = rank_challengers(
        _slots(("b", 500, 0.3), ("s1", 500, 0.4), ("s2", 500, 0.5)),
        min_predictions=MIN_PREDICTIONS,
    )
    family = combine(decision, ranking)
    assert family.decision is REORDER
    assert family.assignments_after == {P: "p", B: "s2", S1: "s1", S2: "b"}


@pytest.mark.parametrize(
    ("production_accuracy", "message"),
    [
        (ChallengerStats(P, "other", 10, 0.5), "Production's games are for vp"),
        (ChallengerStats(B, "p", 10, 0.5), "must be the Production alias's record"),
    ],
)
def test_decide_family_rejects_records_of_other_versions(production_accuracy, message):
    with pytest.raises(ValueError, match=message):
        decide_family(
            _arm("p", 1, 3),
            _arm("b", 2, 3),
            production_accuracy,
            _slots(("b", 10, 0.5), ("s1", 10, 0.5), ("s2", 10, 0.5)),
            rule="winrate",
            min_games=MIN_GAMES,
            min_predictions=MIN_PREDICTIONS,
            alpha=ALPHA,
        )


def test_decide_family_rejects_b_accuracy_for_another_version():
    with pytest.raises(ValueError, match="B's games are for vb but B's accuracy is for vs1"):
        decide_family(
            _arm("p", 1, 3),
            _arm("b", 2, 3),
            ChallengerStats(P, "p", 10, 0.5),
            _slots(("s1", 10, 0.5), ("b", 10, 0.5), ("s2", 10, 0.5)),
            rule="winrate",
            min_games=MIN_GAMES,
            min_predictions=MIN_PREDICTIONS,
            alpha=ALPHA,
        )


accuracy_record = st.tuples(st.integers(0, 120), st.floats(min_value=0.0, max_value=1.0))


@FAST
@given(
    production=counts,
    b=counts,
    records=st.tuples(accuracy_record, accuracy_record, accuracy_record, accuracy_record),
    rule=rules,
)
def test_a_family_decision_only_permutes_versions_among_aliases(production, b, records, rule):
    family = _family(production, b, dict(zip(("p", "b", "s1", "s2"), records, strict=True)), rule)
    assert sorted(family.assignments_after.values()) == sorted(family.assignments_before.values())
    assert family.reorder_applied == family.ranking.changed
    swapped = family.production.decision is SWAP
    assert (family.decision is SWAP) == swapped
    assert (family.assignments_after[P] == "b") == swapped
    if family.decision is REORDER:
        assert family.assignments_after[P] == "p"
