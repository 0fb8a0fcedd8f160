"""The decision layer (SPEC §4): its measurable properties, determinism and stored form."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from rps.domain.decision import (
    DEFAULT_PARAMS,
    EXPERT_NAMES,
    LN3,
    MODEL_EXPERT,
    UNIFORM,
    Belief,
    DecisionParams,
    GameBelief,
    frequency_probabilities,
    sampling_draw,
    value_greedy_move,
)
from rps.domain.game import Game
from rps.domain.gym import GYM
from rps.domain.move import MOVES, Move, Winner, beater, prey
from rps.domain.openings import draw_opening
from rps.domain.policy import ev_terms
from rps.domain.round_values import RoundValues

R, P, S = Move.ROCK, Move.PAPER, Move.SCISSORS
ALIAS = "Production"


def certain(move: Move, confidence: float = 0.9) -> tuple[float, float, float]:
    rest = (1 - confidence) / 2
    probs = [rest, rest, rest]
    probs[move.position] = confidence
    return (probs[0], probs[1], probs[2])


def play_round(
    game: Game, state: GameBelief, user: Move, model: tuple[float, float, float] | None
) -> Move:
    """One round with the layer deciding (the model, when given, as alias Production)."""
    values = game.next_values()
    state.prepare(values)
    choice = state.choose(ev_terms(values, game.bot_score, game.user_score), ALIAS, model)
    played = game.play(user, choice.move)
    state.push(played, {ALIAS: model} if model is not None else None)
    return choice.move


def test_a_model_that_is_always_wrong_about_the_player_has_weight_below_a_tenth_after_five_rounds():
    # The most trusted a model can start: the prior ceiling (a tiny calibrated log-loss).
    state = GameBelief()
    prior = state.register_alias(ALIAS, DEFAULT_PARAMS.model_prior(0.05)).weight
    assert prior == DEFAULT_PARAMS.model_prior_ceiling
    game = Game("always-wrong")
    for _ in range(3):  # the opening: no model rounds
        play_round(game, state, R, None)
    for _ in range(5):  # the player always plays rock, the model is sure of scissors
        play_round(game, state, R, certain(S))
    assert state.register_alias(ALIAS, prior).weight < 0.1


def test_a_model_that_is_right_keeps_most_of_the_weight_and_earns_the_right_to_deviate():
    state = GameBelief()
    prior = state.register_alias(ALIAS, DEFAULT_PARAMS.model_prior(0.7)).weight
    game = Game("always-right")
    rng = random.Random(4)
    for _ in range(3):
        play_round(game, state, rng.choice(MOVES), None)
    while not game.finished:
        move = rng.choice(MOVES)  # a random-looking player the model somehow reads perfectly
        values = game.next_values()
        state.prepare(values)
        terms = ev_terms(values, game.bot_score, game.user_score)
        choice = state.choose(terms, ALIAS, certain(move))
        played = game.play(move, choice.move)
        state.push(played, {ALIAS: certain(move)})
        assert choice.belief.model_weight is not None
        assert choice.belief.model_weight >= prior * 0.9
    assert state.register_alias(ALIAS, prior).weight > 0.9
    assert state.register_alias(ALIAS, prior).evidence > 3.0


def test_a_weight_can_recover_when_the_model_starts_being_right():
    state = GameBelief()
    prior = state.register_alias(ALIAS, 0.5).weight
    game = Game("recovery")

    def draw(model: tuple[float, float, float] | None) -> None:
        state.prepare(game.next_values())
        state.push(game.play(R, R), {ALIAS: model} if model else None)

    for _ in range(3):
        draw(None)
    for _ in range(4):
        draw(certain(S))
    low = state.register_alias(ALIAS, prior).weight
    for _ in range(4):
        draw(certain(R))
    assert state.register_alias(ALIAS, prior).weight > 3 * low


def _greedy_and_layer_wins(games: int, seed: int) -> tuple[int, int]:
    """Wins of value-greedy and of the layer without a model against a uniformly random
    player, on the same games (same ids, openings and player moves)."""
    strategy = GYM["random"]
    wins = [0, 0]
    for i in range(games):
        rng = random.Random(f"{seed}:{i}")
        game_id = f"random-{seed}-{i}"
        opening = draw_opening(rng).resolve(game_id)
        player_seed = rng.getrandbits(64)
        for which in (0, 1):
            game = Game(game_id)
            player = strategy.player(random.Random(player_seed))
            state = GameBelief()
            while not game.finished:
                user = player(game.view("user"))
                n = game.next_round_no
                values = game.next_values()
                if n <= 3:
                    bot = opening[n - 1]
                elif which == 0:
                    bot = value_greedy_move(values, game.bot_score, game.user_score)
                else:
                    state.prepare(values)
                    terms = ev_terms(values, game.bot_score, game.user_score)
                    bot = state.choose(terms, None, None).move
                state.push(game.play(user, bot))
            wins[which] += game.winner is Winner.BOT
    return wins[0], wins[1]


def test_against_a_uniformly_random_player_the_layer_wins_within_three_points_of_value_greedy():
    greedy, layer = _greedy_and_layer_wins(1200, seed=2026)
    assert greedy / 1200 > 0.7  # unequal values make value-greedy strong against random play
    assert layer / 1200 >= greedy / 1200 - 0.03


def test_against_a_random_player_the_blend_stays_close_to_uniform():
    state = GameBelief()
    game = Game("near-uniform")
    rng = random.Random(9)
    while not game.finished:
        values = game.next_values()
        mixture = state.prepare(values)
        assert max(mixture) - min(mixture) < 0.45
        state.push(game.play(rng.choice(MOVES), rng.choice(MOVES)))
    weights = state.belief(None, None).weights()
    assert weights["uniform"] == max(weights.values())


@pytest.mark.parametrize(
    ("player", "expected"),
    [
        ("rock", lambda game: R),
        ("cycle", lambda game: MOVES[len(game.rounds) % 3]),
        ("beat-last", lambda game: beater(game.rounds[-1].bot_move)),
        ("lose-to-last", lambda game: prey(game.rounds[-1].bot_move)),
        ("highest", lambda game: game.next_values().best()),
        ("lowest", lambda game: game.next_values().lowest()),
    ],
)
def test_the_in_game_experts_learn_a_deterministic_player_within_a_few_rounds(player, expected):
    strategy = GYM[player].player(random.Random(1))
    state = GameBelief()
    game = Game(f"learn-{player}")
    rng = random.Random(3)
    while len(game.rounds) < 8:
        state.push(game.play(strategy(game.view("user")), rng.choice(MOVES)))
    mixture = state.prepare(game.next_values())
    assert mixture[expected(game).position] == max(mixture)
    assert mixture[expected(game).position] > 0.5
    # Enough evidence that the layer acts on it (it stays on value-greedy below the threshold).
    assert state.evidence > DEFAULT_PARAMS.evidence_threshold


def test_the_blend_is_the_model_weight_times_the_model_plus_the_rest_times_the_mixture():
    state = GameBelief()
    state.register_alias(ALIAS, 0.4)
    game = Game("blend")
    for move in (R, P, S, R):
        state.push(game.play(move, P))
    values = game.next_values()
    mixture = state.prepare(values)
    model = (0.6, 0.3, 0.1)
    belief = state.belief(ALIAS, model)
    assert belief.model_weight == 0.4
    for i in range(3):
        assert belief.probabilities[i] == pytest.approx(0.4 * model[i] + 0.6 * mixture[i])
    assert sum(belief.weights().values()) == pytest.approx(1.0, abs=1e-5)  # six decimals each
    assert list(belief.weights()) == [MODEL_EXPERT, *EXPERT_NAMES]
    free = state.belief(None, None)
    assert free.probabilities == mixture
    assert free.model_weight is None
    assert sum(free.expert_weights) == pytest.approx(1.0, abs=1e-5)


def test_the_chosen_move_maximises_ev_under_the_blend_once_the_blend_has_earned_it():
    state = GameBelief()
    state.register_alias(ALIAS, 0.8)
    game = Game("ev")
    for _ in range(6):
        values = game.next_values()
        state.prepare(values)
        state.push(game.play(P, P), {ALIAS: certain(P, 0.95)})
    assert state.register_alias(ALIAS, 0).evidence > DEFAULT_PARAMS.evidence_threshold
    values = game.next_values()
    state.prepare(values)
    terms = ev_terms(values, game.bot_score, game.user_score)
    choice = state.choose(terms, ALIAS, certain(P, 0.95))
    assert choice.move is S  # everything says paper
    assert choice.expected_values[S.position] == max(choice.expected_values)
    assert state.move_for(terms, ALIAS, certain(P, 0.95)) is choice.move


def test_replaying_a_game_gives_the_state_built_round_by_round():
    rng = random.Random(5)
    live = GameBelief()
    live.register_alias(ALIAS, 0.5)
    live.register_alias("B", 0.3)
    game = Game("replay")
    per_round = []
    while not game.finished:
        values = game.next_values()
        model = {ALIAS: certain(rng.choice(MOVES), 0.7), "B": certain(R, 0.5)}
        probs = model if len(game.rounds) >= 3 else None
        live.prepare(values)
        played = game.play(rng.choice(MOVES), rng.choice(MOVES))
        live.push(played, probs)
        per_round.append(probs)
    replayed = GameBelief.replay(
        game.rounds,
        prior_of=lambda alias: {ALIAS: 0.5, "B": 0.3}[alias],
        model_probabilities=per_round,
    )
    assert replayed.rounds_played == live.rounds_played == len(game.rounds)
    assert replayed.register_alias(ALIAS, 0).weight == live.register_alias(ALIAS, 0).weight
    assert replayed.register_alias("B", 0).weight == live.register_alias("B", 0).weight
    assert replayed.belief(None, None) == live.belief(None, None)


def test_a_round_pushed_out_of_order_is_refused():
    state = GameBelief()
    game = Game("order")
    game.play(R, P)
    second = game.play(R, P)
    with pytest.raises(ValueError, match="expected round 1"):
        state.push(second)


def test_a_belief_survives_its_stored_json_form():
    state = GameBelief()
    state.register_alias(ALIAS, 0.35)
    game = Game("json")
    for move in (R, R, P, S):
        state.push(game.play(move, S))
    state.prepare(game.next_values())
    belief = state.belief(ALIAS, (0.2, 0.5, 0.3))
    again = Belief.from_json(belief.to_json())
    assert again.probabilities == belief.probabilities
    assert again.model_weight == pytest.approx(belief.model_weight, rel=1e-5)
    assert again.expert_weights == pytest.approx(belief.expert_weights, rel=1e-5)
    assert again.params_digest == DEFAULT_PARAMS.digest()
    with pytest.raises(ValueError, match="not a stored belief"):
        Belief.from_json('{"p": [1, 0]}')


def test_the_parameters_digest_changes_with_any_parameter():
    assert DEFAULT_PARAMS.digest() == DecisionParams().digest()
    assert replace(DEFAULT_PARAMS, decay=0.9).digest() != DEFAULT_PARAMS.digest()
    assert len(DEFAULT_PARAMS.digest()) == 12


def test_the_model_prior_follows_the_calibrated_log_loss_within_its_bounds():
    p = DEFAULT_PARAMS
    assert p.model_prior(None) == p.model_prior_floor
    assert p.model_prior(float("nan")) == p.model_prior_floor
    assert p.model_prior(LN3) == p.model_prior_floor  # no better than uniform
    assert p.model_prior(LN3 + 1) == p.model_prior_floor
    assert p.model_prior(LN3 - 0.2) == pytest.approx(p.model_prior_slope * 0.2)
    assert p.model_prior(0.01) == p.model_prior_ceiling
    assert p.model_prior(0.9) > p.model_prior(1.0)


def test_sampling_is_off_by_default_and_draws_only_among_near_best_moves_when_on():
    values = RoundValues(20, 10, 15)
    terms = ev_terms(values, 0, 0)
    sampled = GameBelief(replace(DEFAULT_PARAMS, sample_margin=10.0))
    sampled.prepare(values)
    moves = {
        sampled.choose(terms, None, None, tiebreak=sampling_draw("g", n)).move for n in range(60)
    }
    assert moves == set(MOVES)  # a huge margin admits every move
    plain = GameBelief()
    plain.prepare(values)
    assert {plain.choose(terms, None, None, tiebreak=0.99).move for _ in range(3)} == {
        plain.choose(terms, None, None).move
    }
    assert 0 <= sampling_draw("g", 1) < 1
    assert sampling_draw("g", 1) == sampling_draw("g", 1) != sampling_draw("g", 2)


def test_the_baselines_value_greedy_and_frequency():
    values = RoundValues(20, 10, 15)  # rock highest, paper lowest
    assert value_greedy_move(values, 0, 0) is R
    assert frequency_probabilities([]) == UNIFORM
    assert frequency_probabilities([R, R, P]) == (3 / 6, 2 / 6, 1 / 6)
