"""The bot's decision per round: opening, the decision layer over the model, persona, fallback
(SPEC §4)."""

from __future__ import annotations

import random

import numpy as np

from rps.domain.decision import DEFAULT_PARAMS, GameBelief
from rps.domain.game import Game
from rps.domain.move import Move, beater
from rps.domain.openings import OPENINGS
from rps.domain.personas import PersonaName, persona_move
from rps.domain.policy import (
    Alias,
    Family,
    Policy,
    ProbabilitySource,
    choose_ev_move,
    expected_values,
)
from rps.features.names import FEATURE_COUNT
from rps.features.online import online_features
from rps.serving.policy import DecisionConfig, FallbackMode, decide
from rps.serving.predictor import ModelAnswer, ModelUnavailable, NoModels


class FixedModel:
    """A predictor that is certain the user plays ``move`` and records what it was asked."""

    def __init__(self, move: Move, val_log_loss: float | None = None) -> None:
        self.move = move
        self.log_loss = val_log_loss
        self.calls: list[tuple[Family, Alias, np.ndarray]] = []

    def predict(self, family: Family, alias: Alias, features: np.ndarray) -> ModelAnswer:
        self.calls.append((family, alias, features))
        probs = [0.0, 0.0, 0.0]
        probs[self.move.position] = 1.0
        return ModelAnswer(
            (probs[0], probs[1], probs[2]),
            version="7",
            run_id="abcdef123456",
            val_log_loss=self.log_loss,
        )

    def version_of(self, family: Family, alias: Alias) -> str | None:
        return "7"

    def val_log_loss(self, family: Family, alias: Alias) -> float | None:
        return self.log_loss


def game_after(rounds: int, game_id: str = "decision-game", user: Move = Move.ROCK) -> Game:
    game = Game(game_id)
    for _ in range(rounds):
        game.play(user, Move.SCISSORS)
    return game


def test_rounds_one_to_three_play_the_stored_opening():
    opening = OPENINGS[0].resolve("decision-game")
    for round_index in range(3):
        decision = decide(
            game_after(round_index),
            Policy.BRIAN,
            opening,
            Alias.PRODUCTION,
            FixedModel(Move.ROCK),
            random.Random(1),
        )
        assert decision.source is ProbabilitySource.OPENING
        assert decision.move is opening[round_index]
        assert decision.belief is None


def test_from_round_four_every_alias_predicts_and_the_layer_decides():
    model = FixedModel(Move.ROCK, val_log_loss=0.6)
    game = game_after(3)
    decision = decide(game, Policy.FORREST, (), Alias.B, model, random.Random(1))
    assert decision.source is ProbabilitySource.MODEL
    assert {(c[0], c[1]) for c in model.calls} == {(Family.XGBOOST, a) for a in Alias}
    features = next(c[2] for c in model.calls if c[1] is Alias.B)
    assert features.shape == (FEATURE_COUNT,)
    np.testing.assert_array_equal(features, online_features(game.rounds, game.next_values()))
    assert decision.model_version == "7"
    assert decision.model_run_id == "abcdef123456"
    # The raw model P is kept apart from the blend.
    assert decision.probabilities == (1.0, 0.0, 0.0)
    belief = decision.belief
    assert belief is not None
    assert belief.model_weight == DEFAULT_PARAMS.model_prior(0.6)
    assert abs(sum(belief.probabilities) - 1) < 1e-9
    assert belief.probabilities[0] > 0.5  # the history of three rocks agrees with the model
    # A model has to earn its say in this game: at its first round the in-game experts act.
    assert belief.acted == "in-game"
    values = game.next_values()
    state = GameBelief.replay(game.rounds)
    mixture = state.prepare(values)
    in_game = expected_values(mixture, values, game.bot_score, game.user_score)
    assert decision.expected_values == in_game
    assert decision.move is choose_ev_move(in_game)
    # Every alias answered on the same features, each with its own layer move: the shadows.
    assert [a.alias for a in decision.alias_answers] == list(Alias)
    assert {a.move for a in decision.alias_answers} == {decision.move}


def test_a_model_that_keeps_being_right_takes_over_the_decision():
    model = FixedModel(Move.ROCK, val_log_loss=0.6)
    game = game_after(3)
    state = GameBelief.replay(game.rounds)
    for _ in range(3):
        decision = decide(game, Policy.FORREST, (), Alias.B, model, random.Random(1), state)
        state.push(game.play(Move.ROCK, Move.SCISSORS), decision.model_probabilities())
    decision = decide(game, Policy.FORREST, (), Alias.B, model, random.Random(1), state)
    assert decision.belief is not None
    assert decision.belief.acted == "blend"
    assert decision.move is Move.PAPER  # the model and the history both say rock
    evs = expected_values(
        decision.belief.probabilities, game.next_values(), game.bot_score, game.user_score
    )
    assert decision.expected_values == evs


def test_the_model_weight_comes_from_the_calibrated_log_loss_and_an_unknown_one_gets_the_floor():
    game = game_after(3)
    confident = decide(game, Policy.BRIAN, (), None, FixedModel(Move.ROCK, 0.5), random.Random(1))
    unknown = decide(game, Policy.BRIAN, (), None, FixedModel(Move.ROCK), random.Random(1))
    assert confident.belief is not None
    assert unknown.belief is not None
    assert confident.belief.model_weight == DEFAULT_PARAMS.model_prior(0.5)
    assert unknown.belief.model_weight == DEFAULT_PARAMS.model_prior_floor
    assert confident.belief.model_weight > unknown.belief.model_weight


def test_no_model_plays_the_layer_without_a_model_and_says_why():
    game = game_after(4)
    for policy in Policy:
        decision = decide(game, policy, (), Alias.PRODUCTION, NoModels(), random.Random(5))
        assert decision.source is ProbabilitySource.FALLBACK
        assert decision.fallback_reason == "no_model"
        assert decision.probabilities is None
        assert decision.features is not None
        belief = decision.belief
        assert belief is not None
        assert belief.model_weight is None
        # Four rocks so far: the in-game experts expect rock, so the bot plays paper.
        assert belief.probabilities[0] == max(belief.probabilities)
        values = game.next_values()
        evs = expected_values(belief.probabilities, values, game.bot_score, game.user_score)
        assert decision.move is choose_ev_move(evs)
        assert decision.move is Move.PAPER


def test_fallback_persona_keeps_the_seeds_persona_fallback():
    game = game_after(4)
    config = DecisionConfig(fallback=FallbackMode.PERSONA)
    for policy in Policy:
        decision = decide(
            game, policy, (), Alias.PRODUCTION, NoModels(), random.Random(5), config=config
        )
        expected = persona_move(policy.fallback_persona, game.view("bot"), random.Random(5))
        assert decision.source is ProbabilitySource.FALLBACK
        assert decision.fallback_reason == "no_model"
        assert decision.move is expected
        assert decision.belief is None


def test_a_failing_model_reports_its_own_reason():
    class Broken(NoModels):
        def predict(self, family: Family, alias: Alias, features: np.ndarray) -> ModelUnavailable:
            return ModelUnavailable("predict_failed")

    decision = decide(game_after(5), Policy.LOGAN, (), Alias.B, Broken(), random.Random(1))
    assert decision.fallback_reason == "predict_failed"
    assert decision.model_alias == "B"


def test_a_state_that_holds_the_games_rounds_is_used_and_one_out_of_step_is_rebuilt():
    game = game_after(5)
    model = FixedModel(Move.ROCK, 0.6)
    synced = GameBelief.replay(game.rounds)
    first = decide(game, Policy.BRIAN, (), None, model, random.Random(1), synced)
    stale = GameBelief.replay(game.rounds[:2])
    second = decide(game, Policy.BRIAN, (), None, model, random.Random(1), stale)
    assert first.belief == second.belief
    assert stale.rounds_played == 2  # the caller's stale state is not modified


def test_a_persona_opponent_plays_its_own_rule_from_the_bot_side():
    game = game_after(6)
    decision = decide(game, PersonaName.CAL, (), None, NoModels(), random.Random(1))
    assert decision.source is ProbabilitySource.PERSONA
    # The bot side lost every round (rock beats scissors): cal then plays the best move.
    assert decision.move is game.next_values().best()
    fresh = Game("decision-game-2")
    fresh.play(Move.SCISSORS, Move.ROCK)
    fresh.play(Move.SCISSORS, Move.ROCK)
    fresh.play(Move.SCISSORS, Move.ROCK)
    winning = decide(fresh, PersonaName.CAL, (), None, NoModels(), random.Random(1))
    assert winning.move is beater(fresh.next_values().best())
