"""How the bot picks its move each round (SPEC §4): opening, then model EV, else fallback."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from rps.domain.game import Game
from rps.domain.history import PlayedRound
from rps.domain.move import MOVES, Move, outcome
from rps.domain.openings import OPENING_ROUNDS
from rps.domain.personas import PersonaName, persona_move
from rps.domain.policy import (
    Alias,
    EvTerms,
    Policy,
    Probabilities,
    ProbabilitySource,
    apply_ev_terms,
    choose_ev_move,
    ev_terms,
)
from rps.features.online import OnlineFeatureState
from rps.persistence.records import AliasPrediction, RoundRecord
from rps.serving.predictor import ModelAnswer, ModelUnavailable, Predictor


@dataclass(frozen=True, slots=True)
class Decision:
    move: Move
    source: ProbabilitySource
    probabilities: Probabilities | None = None
    expected_values: tuple[float, float, float] | None = None
    features: np.ndarray | None = None
    model_alias: str | None = None
    model_version: str | None = None
    model_run_id: str | None = None
    fallback_reason: str | None = None
    # The round's EV coefficients, when the decision computed them (shadow scoring reuses them).
    ev_terms: EvTerms | None = None
    # Every alias of the family on the same features (shadows never affect play).
    alias_answers: tuple[tuple[Alias, ModelAnswer], ...] = ()


def score_aliases(
    decision: Decision, played: PlayedRound, family: str, bot_before: int, user_before: int
) -> tuple[AliasPrediction, ...]:
    """How each alias's prediction and EV move would have fared against the user's real move."""
    if not decision.alias_answers:
        return ()
    terms = decision.ev_terms or ev_terms(played.values, bot_before, user_before)
    scored = []
    for alias, answer in decision.alias_answers:
        probs = answer.probabilities
        # The most likely move; ties go to the first in rock, paper, scissors order.
        p_rock, p_paper, p_scissors = probs
        if p_rock >= p_paper and p_rock >= p_scissors:
            predicted = MOVES[0]
        elif p_paper >= p_scissors:
            predicted = MOVES[1]
        else:
            predicted = MOVES[2]
        would_play = choose_ev_move(apply_ev_terms(terms, probs))
        scored.append(
            AliasPrediction(
                model_type=family,
                alias=alias.value,
                model_version=answer.version,
                predicted_move=predicted,
                probabilities=probs,
                correct=predicted is played.user_move,
                counterfactual_result=outcome(would_play, played.user_move).value,
            )
        )
    return tuple(scored)


def round_record(
    played: PlayedRound,
    decision: Decision,
    created_at: datetime,
    alias_predictions: tuple[AliasPrediction, ...] = (),
) -> RoundRecord:
    """The stored form of a round the bot decided with ``decision``."""
    return RoundRecord(
        played=played,
        decision_source=decision.source.value,
        created_at=created_at,
        model_alias=decision.model_alias,
        model_version=decision.model_version,
        model_run_id=decision.model_run_id,
        fallback_reason=decision.fallback_reason,
        probabilities=decision.probabilities,
        alias_predictions=alias_predictions,
    )


def bot_policy(policy: str) -> Policy | PersonaName:
    """The policy a game stores, parsed (the service validated it at game start)."""
    try:
        return Policy(policy)
    except ValueError:
        return PersonaName(policy)


def decide(
    game: Game,
    policy: Policy | PersonaName,
    opening: tuple[Move, ...],
    alias: Alias | None,
    predictor: Predictor,
    rng: random.Random,
    feature_state: OnlineFeatureState | None = None,
) -> Decision:
    """The bot's move for the game's next round.

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
    answers = {a: predictor.predict(policy.family, a, features) for a in Alias}
    alias_answers = tuple((a, x) for a, x in answers.items() if isinstance(x, ModelAnswer))
    answer = answers[served_alias]
    if isinstance(answer, ModelUnavailable):
        move = persona_move(policy.fallback_persona, game.view("bot"), rng)
        return Decision(
            move,
            ProbabilitySource.FALLBACK,
            features=features,
            model_alias=served_alias.value,
            fallback_reason=answer.reason,
            alias_answers=alias_answers,
        )
    terms = ev_terms(values, game.bot_score, game.user_score)
    evs = apply_ev_terms(terms, answer.probabilities)
    return Decision(
        choose_ev_move(evs),
        ProbabilitySource.MODEL,
        probabilities=answer.probabilities,
        expected_values=evs,
        features=features,
        model_alias=served_alias.value,
        model_version=answer.version,
        model_run_id=answer.run_id,
        ev_terms=terms,
        alias_answers=alias_answers,
    )
