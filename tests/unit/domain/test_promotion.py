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
    PromotionDecision,
    PromotionRule,
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
EXHAUSTED = PromotionDecision.TEST_EXHAUSTED
TO_B = PromotionDecision.CHALLENGER_TO_B
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


def _decide(
    production: ArmStats,
    b: ArmStats,
    rule: str,
    min_games: int = MIN_GAMES,
    max_games: int | None = None,
):
    return decide_production(
        production, b, rule=rule, min_games=min_games, alpha=ALPHA, max_games=max_games
    )


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
    # … but twelve games each is far from 1/alpha evidence: the test goes on.
    assert decision.decision is INSUFFICIENT
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
    decision = _decide(_arm("1", 70, 100), _arm("2", 30, 100), "sequential")
    assert decision.decision is RETAIN
    assert "futility" in decision.reason
    assert test.b_is_worse(ALPHA)


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
        pytest.param("sequential", (1, 3), (3, 3), INSUFFICIENT, id="seq-B-ahead-no-evidence"),
        pytest.param("sequential", (4, 12), (9, 12), INSUFFICIENT, id="seq-refuses-early-peek"),
        pytest.param("sequential", (30, 100), (70, 100), SWAP, id="seq-B-clearly-better"),
        pytest.param("sequential", (70, 100), (30, 100), RETAIN, id="seq-futility"),
        pytest.param("sequential", (50, 100), (50, 100), INSUFFICIENT, id="seq-tie-goes-on"),
        # PROMOTION_MAX_GAMES (here 200) ends a test that found nothing.
        pytest.param("sequential", (100, 200), (101, 200), EXHAUSTED, id="seq-exhausted"),
        pytest.param("sequential", (100, 199), (100, 199), INSUFFICIENT, id="seq-not-yet-max"),
        pytest.param("sequential", (60, 200), (140, 200), SWAP, id="seq-swap-beats-exhausted"),
    ],
)
def test_production_decision(rule, production, b, expected):
    decision = _decide(_arm("1", *production), _arm("2", *b), rule, max_games=200)
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
    assert "the test goes on, no difference yet at alpha=0.05" in decision.reason


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
        ({"max_games": 0}, "max_games must be at least 1"),
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
    # Too few games for one rule is too few for the other; the sequential test may also go on.
    if winrate.decision is INSUFFICIENT:
        assert sequential.decision is INSUFFICIENT


# --- challengers: ranking and the family decision ------------------------------------------


def _c(
    version: str,
    alias: Alias | None = None,
    *,
    scored: int = 0,
    margin: float | None = None,
    gym: float | None = None,
    accuracy: float = 0.4,
) -> ChallengerStats:
    return ChallengerStats(
        alias=alias,
        version=version,
        predictions=scored,
        accuracy=accuracy,
        scored=scored,
        margin=margin,
        gym=gym,
    )


def _family(
    production: tuple[int, int],
    b: tuple[int, int] | None,
    shadows: dict[Alias, ChallengerStats],
    *,
    b_record: ChallengerStats | None = None,
    production_record: ChallengerStats | None = None,
    rule: str = "sequential",
    blocked: frozenset[str] = frozenset(),
    max_games: int | None = 500,
):
    challengers = []
    if b is not None:
        challengers.append(b_record or _c("b", B))
    challengers.extend(shadows.values())
    return decide_family(
        _arm("p", *production),
        _arm("b", *b) if b is not None else None,
        production_record or _c("p", P),
        challengers,
        rule=rule,
        min_games=MIN_GAMES,
        min_predictions=MIN_PREDICTIONS,
        alpha=ALPHA,
        max_games=max_games,
        blocked=blocked,
    )


def test_live_margin_outranks_gym_strength_which_outranks_nothing():
    ranked = rank_challengers(
        [
            _c("none", accuracy=0.9),
            _c("gym", gym=0.95),
            _c("live-low", scored=60, margin=-0.2),
            _c("live-high", scored=60, margin=0.3),
        ],
        min_predictions=MIN_PREDICTIONS,
    )
    assert [c.version for c in ranked] == ["live-high", "live-low", "gym", "none"]


def test_too_few_scored_rounds_fall_back_to_the_gym_figure():
    few = _c("few", scored=49, margin=5.0, gym=0.6)
    enough = _c("enough", scored=50, margin=-1.0)
    assert few.evidence(MIN_PREDICTIONS) == "gym"
    assert enough.evidence(MIN_PREDICTIONS) == "live"
    assert [c.version for c in rank_challengers([few, enough], min_predictions=50)] == [
        "enough",
        "few",
    ]


def test_ties_go_to_accuracy_then_to_current_order():
    ranked = rank_challengers(
        [_c("x", gym=0.8, accuracy=0.4), _c("y", gym=0.8, accuracy=0.5), _c("z", gym=0.8)],
        min_predictions=MIN_PREDICTIONS,
    )
    assert [c.version for c in ranked] == ["y", "x", "z"]


def test_a_version_cannot_compete_twice_and_bad_records_are_refused():
    with pytest.raises(ValueError, match="a version may compete once"):
        rank_challengers([_c("x"), _c("x")], min_predictions=0)
    with pytest.raises(ValueError, match="gym win rate"):
        _c("x", gym=1.5)
    with pytest.raises(ValueError, match="margin must be finite"):
        _c("x", margin=math.nan)


def test_while_the_test_goes_on_nothing_moves_however_strong_a_shadow_is():
    decision = _family(
        (10, 20), (12, 20), {S1: _c("s1", S1, scored=500, margin=1.5), S2: _c("s2", S2)}
    )
    assert decision.decision is INSUFFICIENT
    assert decision.moves == {}
    assert decision.ranking is None
    assert "until the test concludes" in decision.reason


def test_a_swap_makes_b_production_and_the_old_production_competes_for_b():
    # The old Production (live margin 0.1) is weaker than shadow1 (0.4): shadow1 takes B.
    decision = _family(
        (30, 100),
        (70, 100),
        {S1: _c("s1", S1, scored=80, margin=0.4), S2: _c("s2", S2, scored=80, margin=-0.1)},
        production_record=_c("p", P, scored=300, margin=0.1),
    )
    assert decision.decision is SWAP
    assert decision.assignments_after == {P: "b", B: "s1", S1: "p", S2: "s2"}
    assert decision.reorder_applied


def test_a_plain_swap_is_not_flagged_as_a_reorder():
    decision = _family(
        (30, 100),
        (70, 100),
        {S1: _c("s1", S1, scored=80, margin=0.0), S2: _c("s2", S2, scored=80, margin=-0.1)},
        production_record=_c("p", P, scored=300, margin=0.3),
    )
    assert decision.decision is SWAP
    assert decision.assignments_after == {P: "b", B: "p", S1: "s1", S2: "s2"}
    assert not decision.reorder_applied


@pytest.mark.parametrize(
    ("production", "b", "test_outcome"),
    [
        pytest.param((70, 100), (30, 100), RETAIN, id="futility"),
        pytest.param((100, 200), (101, 200), EXHAUSTED, id="exhausted"),
    ],
)
def test_a_b_that_lost_gives_way_to_the_best_shadow(production, b, test_outcome):
    decision = _family(
        production,
        b,
        {S1: _c("s1", S1, scored=80, margin=-0.3), S2: _c("s2", S2, gym=0.9)},
        b_record=_c("b", B, scored=400, margin=0.5),
        max_games=200,
    )
    # B ranks first on its margin, but it just lost its test: the next best takes B.
    assert decision.production.decision is test_outcome
    assert decision.decision is TO_B
    assert decision.assignments_after == {P: "p", B: "s1", S1: "b", S2: "s2"}
    assert "v s1".replace(" ", "") + " takes B" in decision.reason


def test_a_b_that_lost_keeps_b_when_there_is_no_other_challenger():
    decision = _family((70, 100), (30, 100), {})
    assert decision.decision is RETAIN
    assert decision.moves == {}


def test_an_empty_b_is_filled_by_the_best_shadow_and_its_slot_emptied():
    decision = _family((5, 10), None, {S1: _c("s1", S1, gym=0.7), S2: _c("s2", S2, gym=0.8)})
    assert decision.decision is TO_B
    assert decision.assignments_after == {P: "p", B: "s2", S1: "s1", S2: None}
    assert decision.moves == {B: (None, "s2"), S2: ("s2", None)}


def test_an_empty_shadow_does_not_stop_production_and_b_being_compared():
    decision = _family((30, 100), (70, 100), {S1: _c("s1", S1)})
    assert decision.decision is SWAP
    assert decision.assignments_after[P] == "b"
    assert decision.assignments_after[S2] is None


def test_a_parity_blocked_b_is_not_swapped_in_and_a_blocked_shadow_does_not_take_b():
    decision = _family(
        (30, 100),
        (70, 100),
        {S1: _c("s1", S1, gym=0.9), S2: _c("s2", S2, gym=0.5)},
        blocked=frozenset({"b", "s1"}),
    )
    assert decision.production.decision is RETAIN
    assert "vetoed" in decision.reason
    assert decision.assignments_after[P] == "p"
    assert decision.assignments_after[B] == "s2"


def test_a_reorder_of_the_shadows_alone_is_an_alias_reorder():
    decision = _family(
        (70, 100),
        (30, 100),
        {S1: _c("s1", S1, gym=0.5), S2: _c("s2", S2, gym=0.9)},
        b_record=_c("b", B, gym=0.1),
    )
    # s2 takes B (B lost), so this is a challenger move; with B kept it would be a reorder.
    assert decision.decision is TO_B
    alone = _family((5, 10), None, {S1: _c("s1", S1, gym=0.5), S2: _c("s2", S2, gym=0.9)})
    assert alone.assignments_after[B] == "s2"


def test_records_must_match_the_arms():
    with pytest.raises(ValueError, match="B's games and B's record"):
        decide_family(
            _arm("p", 1, 3),
            None,
            _c("p", P),
            [_c("b", B)],
            rule="winrate",
            min_games=3,
            min_predictions=50,
            alpha=ALPHA,
        )
    with pytest.raises(ValueError, match="its record is for"):
        decide_family(
            _arm("p", 1, 3),
            _arm("b", 1, 3),
            _c("other", P),
            [_c("b", B)],
            rule="winrate",
            min_games=3,
            min_predictions=50,
            alpha=ALPHA,
        )


@FAST
@given(
    production=counts,
    b=counts,
    rule=rules,
    gyms=st.lists(st.none() | st.floats(0, 1), min_size=3, max_size=3),
    empty_b=st.booleans(),
    shadows=st.integers(0, 2),
)
def test_a_family_decision_only_permutes_the_versions_it_was_given(
    production, b, rule, gyms, empty_b, shadows
):
    records = {S1: _c("s1", S1, gym=gyms[1]), S2: _c("s2", S2, gym=gyms[2])}
    chosen = dict(list(records.items())[:shadows])
    decision = _family(
        production,
        None if empty_b else b,
        chosen,
        b_record=_c("b", B, gym=gyms[0]),
        rule=rule,
    )
    before = [v for v in decision.assignments_before.values() if v is not None]
    after = [v for v in decision.assignments_after.values() if v is not None]
    assert sorted(before) == sorted(after)
    assert decision.assignments_after[P] in ("p", "b")
    if decision.assignments_after[P] == "b":
        assert decision.decision is SWAP
    if not decision.concluded:
        assert decision.moves == {}
