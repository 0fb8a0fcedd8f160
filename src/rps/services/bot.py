"""A round's stored form: how each alias of the family would have fared, and the round record.

The decision itself (opening, decision layer over the model, fallback) lives in
:mod:`rps.serving.policy`, shared with strength evaluation in training.
"""

from __future__ import annotations

from datetime import datetime

from rps.domain.history import PlayedRound
from rps.domain.move import MOVES, Outcome
from rps.domain.personas import PersonaName
from rps.domain.policy import Policy
from rps.persistence.records import AliasPrediction, RoundRecord
from rps.serving.policy import Decision, decide

__all__ = ["Decision", "bot_policy", "decide", "round_record", "score_aliases"]

_WIN, _LOSE, _DRAW = Outcome.WIN.value, Outcome.LOSE.value, Outcome.DRAW.value


def score_aliases(
    decision: Decision, played: PlayedRound, family: str, scoring_version: str | None
) -> tuple[AliasPrediction, ...]:
    """How each alias's prediction and layer move would have fared against the user's real
    move: the argmax's correctness and the counterfactual result and point margin."""
    if not decision.alias_answers:
        return ()
    user_move = played.user_move
    user_position = user_move.position
    values = played.values.as_tuple()
    user_gain = values[user_position] / 10
    scored = []
    for answer in decision.alias_answers:
        probs = answer.answer.probabilities
        # The most likely move; ties go to the first in rock, paper, scissors order.
        p_rock, p_paper, p_scissors = probs
        if p_rock >= p_paper and p_rock >= p_scissors:
            predicted = MOVES[0]
        elif p_paper >= p_scissors:
            predicted = MOVES[1]
        else:
            predicted = MOVES[2]
        # What the alias's own move would have scored against the user's (SPEC §1.2, bot view).
        would = answer.move.position
        if would == user_position:
            result, margin = _DRAW, 0.0
        elif (would - user_position) % 3 == 1:  # the alias's move beats the user's
            result, margin = _WIN, values[would] / 10
        else:
            result, margin = _LOSE, -user_gain
        scored.append(
            AliasPrediction(
                model_type=family,
                alias=answer.alias.value,
                model_version=answer.answer.version,
                predicted_move=predicted,
                probabilities=probs,
                correct=predicted is user_move,
                counterfactual_result=result,
                counterfactual_margin=margin,
                scoring_version=scoring_version,
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
        belief=decision.belief.to_json() if decision.belief is not None else None,
    )


def bot_policy(policy: str) -> Policy | PersonaName:
    """The policy a game stores, parsed (the service validated it at game start)."""
    try:
        return Policy(policy)
    except ValueError:
        return PersonaName(policy)
