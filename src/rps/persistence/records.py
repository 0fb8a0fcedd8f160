"""Plain records the repository reads and writes (no SQLAlchemy objects leak past it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rps.domain.history import PlayedRound
from rps.domain.move import Move, Winner


class GameSource(StrEnum):
    """Who played the user side: a person, a persona, or any other scripted client."""

    HUMAN = "human"
    PERSONA = "persona"
    SIMULATED = "simulated"


class FinishedReason(StrEnum):
    """Why a game ended (SPEC §1.2): a side reached the target, or nobody moved for
    ``ABANDONED_AFTER_MINUTES`` and the game was closed on the score it had."""

    COMPLETED = "completed"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class GameRecord:
    id: str
    session_id: str
    player_name: str
    policy: str
    model_type: str | None
    bot_model_alias: str | None
    model_version: str | None
    difficulty_mode: str
    is_test: bool
    opening_name: str | None
    opening_seq: tuple[Move, ...]
    source: GameSource
    created_at: datetime
    user_score: int = 0  # tenths
    bot_score: int = 0
    winner: Winner | None = None
    finished_at: datetime | None = None
    rounds_played: int = 0
    # Set with ``winner``; a record built with a winner and no reason is a completed game.
    finished_reason: FinishedReason | None = None
    last_round_at: datetime | None = None  # the newest round's time; None before round 1


@dataclass(frozen=True, slots=True)
class AliasPrediction:
    """What one alias of the game's family predicted in a round, and how it would have fared."""

    model_type: str
    alias: str
    model_version: str | None
    predicted_move: Move
    probabilities: tuple[float, float, float]
    correct: bool
    # win | lose | draw (bot view) for the move this alias's layer would have played
    counterfactual_result: str
    counterfactual_margin: float | None = None  # its bot − user points in that round
    scoring_version: str | None = None  # the decision layer's parameter digest


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """A played round plus how the bot decided it."""

    played: PlayedRound
    decision_source: str
    created_at: datetime
    model_alias: str | None = None
    model_version: str | None = None
    model_run_id: str | None = None
    fallback_reason: str | None = None
    probabilities: tuple[float, float, float] | None = None
    alias_predictions: tuple[AliasPrediction, ...] = ()
    belief: str | None = None  # JSON: the decision layer's blended P, weights and parameters
