"""How the bot picks its move each round (SPEC §4): the opening, then the decision layer over
the game's alias's model, else the layer without a model (or, with ``FALLBACK=persona``, the
seed's fallback persona).

Every model round all four aliases of the family answer on the same features; each alias's
move is chosen through the layer with its own probabilities (shadows never affect play, but
their counterfactual outcome is what they would have achieved as the served bot). The layer's
state (:class:`GameBelief`) belongs to the caller, which pushes every played round into it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from rps.domain.decision import (
    DEFAULT_PARAMS,
    Belief,
    DecisionParams,
    GameBelief,
    sampling_draw,
)
from rps.domain.game import Game
from rps.domain.move import Move
from rps.domain.openings import OPENING_ROUNDS
from rps.domain.personas import PersonaName, persona_move
from rps.domain.policy import (
    Alias,
    EvTerms,
    Policy,
    Probabilities,
    ProbabilitySource,
    ev_terms,
)
from rps.features.online import OnlineFeatureState
from rps.serving.predictor import ModelAnswer, ModelUnavailable, Predictor


class FallbackMode(StrEnum):
    """What plays when no model answers: the layer without a model, or the seed's persona."""

    LAYER = "layer"
    PERSONA = "persona"


@dataclass(frozen=True, slots=True)
class DecisionConfig:
    """The layer's parameters and the fallback mode (settings ``DECISION_*``, ``FALLBACK``)."""

    params: DecisionParams = DEFAULT_PARAMS
    fallback: FallbackMode = FallbackMode.LAYER


DEFAULT_DECISION = DecisionConfig()
# The aliases' names, looked up once: an enum's .value is a property call on every round.
_ALIAS_NAMES = {alias: alias.value for alias in Alias}


@dataclass(frozen=True, slots=True)
class AliasAnswer:
    """One alias's model answer this round and the move the layer would play with it."""

    alias: Alias
    answer: ModelAnswer
    move: Move


@dataclass(frozen=True, slots=True)
class Decision:
    move: Move
    source: ProbabilitySource
    probabilities: Probabilities | None = None  # the served model's raw (calibrated) P
    expected_values: tuple[float, float, float] | None = None
    features: np.ndarray | None = None
    model_alias: str | None = None
    model_version: str | None = None
    model_run_id: str | None = None
    fallback_reason: str | None = None
    # The round's EV coefficients, when the decision computed them (shadow scoring reuses them).
    ev_terms: EvTerms | None = None
    # Every alias of the family on the same features, with its own layer move.
    alias_answers: tuple[AliasAnswer, ...] = ()
    # What the layer believed (blended P, weights, parameters); None for openings and personas.
    belief: Belief | None = None

    def model_probabilities(self) -> dict[str, Probabilities]:
        """Each answering alias's P this round, for :meth:`GameBelief.push`."""
        return {_ALIAS_NAMES[a.alias]: a.answer.probabilities for a in self.alias_answers}


def decide(
    game: Game,
    policy: Policy | PersonaName,
    opening: tuple[Move, ...],
    alias: Alias | None,
    predictor: Predictor,
    rng: random.Random,
    belief: GameBelief | None = None,
    feature_state: OnlineFeatureState | None = None,
    config: DecisionConfig = DEFAULT_DECISION,
) -> Decision:
    """The bot's move for the game's next round.

    ``belief`` is the game's layer state holding its rounds so far; the caller pushes the played
    round into it afterwards with :meth:`Decision.model_probabilities`. Without one (or with one
    out of step) a state is rebuilt from the rounds, past model probabilities unknown.
    ``feature_state``, when it holds exactly the game's rounds so far, saves rebuilding the
    features from the whole history (callers keep one per game being played).
    """
    round_no = game.next_round_no
    if round_no <= OPENING_ROUNDS and len(opening) >= round_no:
        return Decision(opening[round_no - 1], ProbabilitySource.OPENING)
    if isinstance(policy, PersonaName):
        return Decision(persona_move(policy, game.view("bot"), rng), ProbabilitySource.PERSONA)
    values = game.next_values()
    if feature_state is None or feature_state.rounds_played != len(game.rounds):
        feature_state = OnlineFeatureState.from_rounds(game.rounds)
    features = feature_state.row(values)
    served_alias = alias or Alias.PRODUCTION
    family = policy.family
    served: ModelAnswer | ModelUnavailable = ModelUnavailable("no_model")
    answers: list[tuple[Alias, ModelAnswer]] = []
    # Every alias at once when the predictor can (the model manager merges a family's graphs).
    ask_family = getattr(predictor, "predict_family", None)
    by_alias = (
        ask_family(family, features)
        if ask_family is not None
        else {a: predictor.predict(family, a, features) for a in Alias}
    )
    for a in Alias:
        answer = by_alias[a]
        if a is served_alias:
            served = answer
        if isinstance(answer, ModelAnswer):
            answers.append((a, answer))
    terms = ev_terms(values, game.bot_score, game.user_score)
    if belief is None or belief.rounds_played != len(game.rounds):
        belief = GameBelief.replay(game.rounds, config.params)
    params = belief.params
    belief.prepare(values)
    draw = sampling_draw(game.game_id, round_no) if params.sample_margin > 0 else None
    alias_answers = []
    served_choice = None
    for a, answer in answers:
        name = _ALIAS_NAMES[a]
        if not belief.knows(name):
            belief.register_alias(name, params.model_prior(answer.val_log_loss))
        if a is served_alias:
            served_choice = belief.choose(terms, name, answer.probabilities, tiebreak=draw)
            move = served_choice.move
        else:
            move = belief.move_for(terms, name, answer.probabilities, tiebreak=draw)
        alias_answers.append(AliasAnswer(a, answer, move))
    if isinstance(served, ModelUnavailable) or served_choice is None:
        reason = served.reason if isinstance(served, ModelUnavailable) else "no_model"
        if config.fallback is FallbackMode.PERSONA:
            move = persona_move(policy.fallback_persona, game.view("bot"), rng)
            return Decision(
                move,
                ProbabilitySource.FALLBACK,
                features=features,
                model_alias=served_alias.value,
                fallback_reason=reason,
                ev_terms=terms,
                alias_answers=tuple(alias_answers),
            )
        free = belief.choose(terms, None, None, tiebreak=draw)
        return Decision(
            free.move,
            ProbabilitySource.FALLBACK,
            expected_values=free.expected_values,
            features=features,
            model_alias=served_alias.value,
            fallback_reason=reason,
            ev_terms=terms,
            alias_answers=tuple(alias_answers),
            belief=free.belief,
        )
    return Decision(
        served_choice.move,
        ProbabilitySource.MODEL,
        probabilities=served.probabilities,
        expected_values=served_choice.expected_values,
        features=features,
        model_alias=served_alias.value,
        model_version=served.version,
        model_run_id=served.run_id,
        ev_terms=terms,
        alias_answers=tuple(alias_answers),
        belief=served_choice.belief,
    )
