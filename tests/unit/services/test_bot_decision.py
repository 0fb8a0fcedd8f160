"""The bot's decision per round: opening, model EV, persona, fallback (SPEC §4)."""

from __future__ import annotations

import random

import numpy as np

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
from rps.services.bot import decide
from rps.serving.predictor import ModelAnswer, ModelUnavailable, NoModels


class FixedModel:
    """A predictor that is certain the user plays ``move`` and records what it was asked."""

    def __init__(self, move: Move) -> None:
        self.move = move
        self.calls: list[tuple[Family, Alias, np.ndarray]] = []

    def predict(self, family: Family, alias: Alias, features: np.ndarray) -> ModelAnswer:
        self.calls.append((family, alias, features))
        probs = [0.0, 0.0, 0.0]
        probs[self.move.position] = 1.0
        return ModelAnswer((probs[0], probs[1], probs[2]), version="7", run_id="abcdef123456")

    def version_of(self, family: Family, alias: Alias) -> str | None:
        return "7"


def game_after(rounds: int, game_id: str = "decision-game") -> Game:
    game = Game(game_id)
    for _ in range(rounds):
        game.play(Move.ROCK, Move.SCISSORS)
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


def test_from_round_four_the_assigned_alias_predicts_and_the_ev_move_is_played():
    model = FixedModel(Move.ROCK)
    game = game_after(3)
    decision = decide(game, Policy.FORREST, (), Alias.B, model, random.Random(1))
    assert decision.source is ProbabilitySource.MODEL
    assert decision.move is Move.PAPER  # beats the certain rock
    assert {(c[0], c[1]) for c in model.calls} == {(Family.XGBOOST, a) for a in Alias}
    features = next(c[2] for c in model.calls if c[1] is Alias.B)
    assert features.shape == (FEATURE_COUNT,)
    np.testing.assert_array_equal(features, online_features(game.rounds, game.next_values()))
    assert decision.model_version == "7"
    assert decision.model_run_id == "abcdef123456"
    assert decision.probabilities == (1.0, 0.0, 0.0)
    assert decision.expected_values == expected_values(
        (1.0, 0.0, 0.0), game.next_values(), game.bot_score, game.user_score
    )
    assert decision.move is choose_ev_move(decision.expected_values)
    # Every alias answered on the same features: the shadows of this round.
    assert [a for a, _ in decision.alias_answers] == list(Alias)


def test_no_model_falls_back_to_the_policys_persona_and_says_why():
    game = game_after(4)
    for policy in Policy:
        decision = decide(game, policy, (), Alias.PRODUCTION, NoModels(), random.Random(5))
        expected = persona_move(policy.fallback_persona, game.view("bot"), random.Random(5))
        assert decision.source is ProbabilitySource.FALLBACK
        assert decision.fallback_reason == "no_model"
        assert decision.move is expected
        assert decision.probabilities is None
        assert decision.features is not None


def test_a_failing_model_reports_its_own_reason():
    class Broken(NoModels):
        def predict(self, family: Family, alias: Alias, features: np.ndarray) -> ModelUnavailable:
            return ModelUnavailable("predict_failed")

    decision = decide(game_after(5), Policy.LOGAN, (), Alias.B, Broken(), random.Random(1))
    assert decision.fallback_reason == "predict_failed"
    assert decision.model_alias == "B"


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
