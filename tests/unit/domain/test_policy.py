"""The bot's expected-value rule (SPEC §4) and the policy → family / fallback mappings."""

from __future__ import annotations

import pytest

from rps.domain.move import MOVES, Move
from rps.domain.personas import PersonaName
from rps.domain.policy import (
    Alias,
    Family,
    Policy,
    ProbabilitySource,
    choose_ev_move,
    expected_values,
    parse_alias,
    parse_aliases,
    parse_families,
    parse_family,
)
from rps.domain.round_values import RoundValues, round_values

R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS
V1 = round_values("test-game", 1)  # rock 2.0, paper 1.0, scissors 1.5
V2 = round_values("test-game", 2)  # rock 1.9, paper 1.0, scissors 1.4
V4 = round_values("test-game", 4)  # rock 1.3, paper 1.8, scissors 1.0

CERTAIN = {R: (1.0, 0.0, 0.0), P: (0.0, 1.0, 0.0), S: (0.0, 0.0, 1.0)}


def _choice(probs, values, bot, user) -> Move:
    return choose_ev_move(expected_values(probs, values, bot, user))


@pytest.mark.parametrize(("user_move", "answer"), [(R, P), (P, S), (S, R)])
@pytest.mark.parametrize("values", [V1, V4], ids=["V1", "V4"])
def test_a_certain_opponent_is_beaten(user_move, answer, values):
    assert _choice(CERTAIN[user_move], values, 0, 0) is answer


def test_ev_against_a_certain_opponent_is_win_value_draw_lead_or_minus_loss():
    # User surely plays rock; bot 3.0, user 1.0 → the draw term is 0.5·(3.0 − 1.0)/10 = 0.1.
    evs = expected_values(CERTAIN[R], V1, 30, 10)
    assert evs == pytest.approx((0.1, 1.0, -2.0))  # paper wins 1.0; scissors loses rock's 2.0


def test_ev_of_a_mixed_opponent_matches_the_formula():
    # P = (0.5, 0.2, 0.3), V4, scores 0–0:
    # EV(rock) = 0.3·1.3 − 0.2·1.8 = 0.03; EV(paper) = 0.5·1.8 − 0.3·1.0 = 0.6;
    # EV(scissors) = 0.2·1.0 − 0.5·1.3 = −0.45.
    evs = expected_values((0.5, 0.2, 0.3), V4, 0, 0)
    assert evs == pytest.approx((0.03, 0.6, -0.45))
    assert choose_ev_move(evs) is P


@pytest.mark.parametrize(
    ("evs", "expected"),
    [
        ((0.0, 0.0, 0.0), R),
        ((0.2, 0.2, 0.1), R),
        ((0.2, 0.1, 0.2), R),
        ((0.1, 0.3, 0.3), P),
        ((-1.0, -2.0, -1.0), R),
        ((0.1, 0.2, 0.3), S),
    ],
)
def test_ties_go_to_the_first_move_in_rock_paper_scissors_order(evs, expected):
    assert choose_ev_move(evs) is expected


def test_equal_expected_values_pick_rock_before_paper_and_scissors():
    # Equal values and a uniform opponent: every move has EV 0 → rock.
    evs = expected_values((1 / 3, 1 / 3, 1 / 3), RoundValues(10, 10, 10), 0, 0)
    assert evs == pytest.approx((0.0, 0.0, 0.0))
    assert choose_ev_move(evs) is R


@pytest.mark.parametrize(
    ("probs", "values", "expected_evs"),
    [
        # "test-game" round 2 values (1.9, 1.0, 1.4), P = (0.75, 0, 0.25):
        # EV(rock)  = 0.25·1.9 + 0.75·(−0.1) = 0.4; EV(paper) = 0.75·1.0 − 0.25·1.4 = 0.4;
        # EV(scissors) = −0.75·1.9 + 0.25·(−0.1) = −1.45. Rock and paper tie → rock.
        pytest.param((0.75, 0.0, 0.25), V2, (0.4, 0.4, -1.45), id="rock-paper-tie"),
        # Values (1.0, 1.3, 1.8), P = (0.25, 0.25, 0.5):
        # EV(rock) = 0.5·1.0 − 0.25·1.3 + 0.25·(−0.1) = 0.15;
        # EV(paper) = 0.25·1.3 − 0.5·1.8 + 0.25·(−0.1) = −0.6;
        # EV(scissors) = 0.25·1.8 − 0.25·1.0 + 0.5·(−0.1) = 0.15. Rock and scissors tie → rock.
        pytest.param(
            (0.25, 0.25, 0.5), RoundValues(10, 13, 18), (0.15, -0.6, 0.15), id="rock-scissors-tie"
        ),
    ],
)
def test_mathematically_tied_expected_values_go_to_the_first_move(probs, values, expected_evs):
    # Bot 0.8, user 2.8 → the draw term is 0.5·(0.8 − 2.8)/10 = −0.1. The probabilities are exact
    # binary fractions, so the tie is exact in the SPEC's arithmetic: float rounding of the value
    # tenths must not decide it (SPEC §4: ties → first in rock, paper, scissors order).
    evs = expected_values(probs, values, 8, 28)
    assert evs == pytest.approx(expected_evs)
    assert choose_ev_move(evs) is Move.ROCK


@pytest.mark.parametrize(("bot", "bonus"), [(86, 0.0), (87, 10.0), (95, 10.0)])
def test_a_win_that_reaches_ten_is_worth_ten_more(bot, bonus):
    # User surely plays scissors; rock (1.3 in V4) beats it. 8.7 + 1.3 = 10.0 reaches the target.
    evs = expected_values(CERTAIN[S], V4, bot, 0)
    assert evs[R.position] == pytest.approx(1.3 + bonus)


@pytest.mark.parametrize(("user", "penalty"), [(81, 0.0), (82, 10.0), (99, 10.0)])
def test_a_loss_that_lets_the_user_reach_ten_costs_ten_more(user, penalty):
    # User surely plays paper (1.8 in V4), which beats the bot's rock. 8.2 + 1.8 = 10.0.
    evs = expected_values(CERTAIN[P], V4, 0, user)
    assert evs[R.position] == pytest.approx(-(1.8 + penalty))


def test_the_win_bonus_changes_the_bots_choice():
    # P = (0.5, 0, 0.5), V4. At 0–0: EV(rock) = 0.5·1.3 = 0.65 beats EV(paper) = 0.5·1.8 − 0.5·1.0
    # = 0.4. At 8.2–8.2 paper's win reaches 10 (8.2 + 1.8): EV(paper) = 0.5·11.8 − 0.5 = 5.4.
    probs = (0.5, 0.0, 0.5)
    assert _choice(probs, V4, 0, 0) is R
    evs = expected_values(probs, V4, 82, 82)
    assert evs == pytest.approx((0.65, 5.4, -0.65))
    assert choose_ev_move(evs) is P


def test_the_loss_penalty_changes_the_bots_choice():
    # P = (0.2, 0.2, 0.6), V4, bot 0, user 8.3 (draw term 0.5·(−8.3)/10 = −0.415).
    # Rock's loss (to paper 1.8) lets the user reach 10: EV(rock) = 0.6·1.3 − 0.2·11.8 − 0.083.
    # Paper: 0.2·1.8 − 0.6·1.0 − 0.083; scissors: 0.2·1.0 − 0.2·1.3 + 0.6·(−0.415).
    probs = (0.2, 0.2, 0.6)
    evs = expected_values(probs, V4, 0, 83)
    assert evs == pytest.approx((-1.663, -0.323, -0.309))
    assert choose_ev_move(evs) is S
    assert _choice(probs, V4, 0, 20) is R  # far from 10, rock is the best bet


def test_a_game_ending_draw_the_bot_wins_is_preferred():
    # Bot 9.6, user 9.0: a draw makes it 10.1–9.5, the bot wins → D = +1. Every win and loss also
    # ends the game (±10). P = (0, 0.2, 0.8), V1 (2.0, 1.0, 1.5), draw term 0.03 + 10:
    # EV(rock) = 0.8·12.0 − 0.2·11.0 = 7.4; EV(paper) = −0.8·11.5 + 0.2·10.03 = −7.194;
    # EV(scissors) = 0.2·11.5 + 0.8·10.03 = 10.324 → scissors (without D, rock: 7.4 > 2.324).
    evs = expected_values((0.0, 0.2, 0.8), V1, 96, 90)
    assert evs == pytest.approx((7.4, -7.194, 10.324))
    assert choose_ev_move(evs) is S


def test_a_game_ending_draw_the_user_wins_is_avoided():
    # User 9.6, bot 9.0: a draw makes it 9.5–10.1, the user wins → D = −1. P = (0, 0.4, 0.6), V1:
    # EV(rock) = 0.6·12.0 − 0.4·11.0 = 2.8; EV(paper) = −0.6·11.5 + 0.4·(−10.03) = −10.912;
    # EV(scissors) = 0.4·11.5 + 0.6·(−10.03) = −1.418 → rock (without D, scissors: 4.582 > 2.8).
    evs = expected_values((0.0, 0.4, 0.6), V1, 90, 96)
    assert evs == pytest.approx((2.8, -10.912, -1.418))
    assert choose_ev_move(evs) is R


@pytest.mark.parametrize(
    ("bot", "user", "draw_term"),
    [
        (96, 96, 0.0),  # both reach 10.1 on a draw → tie → D = 0
        (95, 96, -0.005),  # 10.0–10.1: user higher → D = −1
        (96, 95, 0.005),  # 10.1–10.0: bot higher → D = +1
        (94, 90, 0.02),  # 9.9–9.5: the draw does not end the game → D = 0
    ],
)
def test_draw_term_is_the_half_lead_plus_ten_times_d(bot, user, draw_term):
    d = {(96, 96): 0, (95, 96): -1, (96, 95): 1, (94, 90): 0}[(bot, user)]
    evs = expected_values(CERTAIN[R], V1, bot, user)
    assert evs[R.position] == pytest.approx(draw_term + 10 * d)


@pytest.mark.parametrize(
    ("policy", "family", "fallback"),
    [
        ("brian", Family.FEEDFORWARD_NN, PersonaName.BOB),
        ("forrest", Family.XGBOOST, PersonaName.CAL),
        ("logan", Family.MULTINOMIAL_LOGISTIC, PersonaName.DAN),
    ],
)
def test_policy_maps_to_its_family_and_fallback_persona(policy, family, fallback):
    assert Policy(policy).family is family
    assert Policy(policy).fallback_persona is fallback


def test_there_are_three_policies_families_and_four_aliases():
    assert [p.value for p in Policy] == ["brian", "forrest", "logan"]
    assert {f.value for f in Family} == {"feedforward_nn", "xgboost", "multinomial_logistic"}
    assert [a.value for a in Alias] == ["Production", "B", "shadow1", "shadow2"]
    assert {s.value for s in ProbabilitySource} == {"opening", "model", "fallback", "persona"}


def test_ev_is_returned_in_rock_paper_scissors_order():
    evs = expected_values(CERTAIN[S], V1, 0, 0)
    assert len(evs) == len(MOVES) == 3
    assert evs == pytest.approx((2.0, -1.5, 0.0))


# -- names: the one parser of families and aliases ------------------------------------------------


def test_a_family_answers_to_its_name_a_short_name_and_its_policy_in_any_case() -> None:
    assert parse_family("xgboost") is Family.XGBOOST
    assert parse_family(" Forrest ") is Family.XGBOOST
    assert parse_family("FEEDFORWARD") is Family.FEEDFORWARD_NN
    assert parse_family("brian") is Family.FEEDFORWARD_NN
    assert parse_family("mnlogit") is Family.MULTINOMIAL_LOGISTIC
    assert parse_family("logistic") is Family.MULTINOMIAL_LOGISTIC
    assert parse_family("Multinomial_Logistic") is Family.MULTINOMIAL_LOGISTIC
    with pytest.raises(
        ValueError, match="unknown model type 'svm': expected one of feedforward_nn"
    ):
        parse_family("svm")


def test_aliases_are_accepted_in_their_exact_case_only() -> None:
    assert [parse_alias(a) for a in ("Production", "B", "shadow1", " shadow2 ")] == list(Alias)
    for wrong in ("production", "b", "Shadow1", "champion", ""):
        with pytest.raises(
            ValueError, match=f"unknown alias '{wrong}': expected one of Production"
        ):
            parse_alias(wrong)


def test_lists_of_names_split_on_commas_and_keep_the_first_of_each() -> None:
    assert parse_families(["forrest,xgboost", " brian ", "mnlogit", ""]) == [
        Family.XGBOOST,
        Family.FEEDFORWARD_NN,
        Family.MULTINOMIAL_LOGISTIC,
    ]
    assert parse_aliases(["B,Production", "B"]) == [Alias.B, Alias.PRODUCTION]
    assert parse_families([]) == []
    with pytest.raises(ValueError, match="unknown alias 'production'"):
        parse_aliases(["Production,production"])


def test_each_family_is_played_by_the_policy_it_backs() -> None:
    assert [Policy.playing(policy.family) for policy in Policy] == list(Policy)
    assert Policy.playing(parse_family("mnlogit")) is Policy.LOGAN
