"""Request and response bodies of the stateless prediction endpoints (SPEC §9, "Predictions").

The schema says every rule a single field can carry (move names, outcome names, at most 19 rounds
of history, scores below the target), so fuzzers and clients see them. Rules that tie fields
together — equal history lengths, results that match the moves, values exact to one decimal —
cannot be written in JSON Schema; the feature contract's stateless entry point enforces them and
its message becomes the 422's detail.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict

from rps.api.schemas import MoveName
from rps.domain.scoring import MAX_ROUNDS

PredictPolicyName = Literal["brian", "forrest", "logan"]
AliasName = Literal["Production", "B", "shadow1", "shadow2"]
ResultName = Literal["win", "lose", "draw"]

MAX_HISTORY = MAX_ROUNDS - 1  # a game lasts at most 20 rounds, so 19 can precede the predicted one
MAX_BATCH_ITEMS = 256
TARGET_POINTS = 10.0

# Strict: "1.5" or true is not a number (bad input is rejected, not guessed); ints are fine.
Points = Annotated[float, Strict(), AllowInfNan(False)]
MoveValue = Annotated[Points, Field(ge=0.1, le=TARGET_POINTS)]  # tenths: 0.1 is the least
Score = Annotated[Points, Field(ge=0, lt=TARGET_POINTS)]


class MoveValues(BaseModel):
    """The point value of each move in one round (exact to one decimal, e.g. 1.5)."""

    model_config = ConfigDict(extra="forbid")

    rock: MoveValue
    paper: MoveValue
    scissors: MoveValue


class PredictRequest(BaseModel):
    """A game's history so far and the values of the round to predict; no game is stored."""

    model_config = ConfigDict(extra="forbid")

    policy: PredictPolicyName = Field(
        description="The bot whose model predicts: brian (feedforward_nn), forrest (xgboost), "
        "logan (multinomial_logistic)"
    )
    player_history: list[MoveName] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="The user's moves in the earlier rounds, oldest first",
    )
    bot_history: list[MoveName] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="The bot's moves in the earlier rounds; same length as player_history",
    )
    result_history: list[ResultName] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Each earlier round's outcome from the user's view; must match the moves",
    )
    round_values: MoveValues = Field(description="The values of the round being predicted")
    history_round_values: list[MoveValues | None] | None = Field(
        None,
        max_length=MAX_HISTORY,
        description="One entry per earlier round; omitted (or a null entry) means that round had "
        "this round's values",
    )
    user_score: Score | None = Field(
        None,
        description="The user's points before this round; omitted means replayed from the history",
    )
    bot_score: Score | None = Field(
        None,
        description="The bot's points before this round; omitted means replayed from the history",
    )
    alias: AliasName = Field("Production", description="Which of the family's models answers")


class PredictBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PredictRequest] = Field(max_length=MAX_BATCH_ITEMS)


class MoveProbabilities(BaseModel):
    """P(the user plays rock, paper, scissors)."""

    rock: float
    paper: float
    scissors: float


class ExpectedValues(BaseModel):
    """The bot's expected value of playing each move (SPEC §4)."""

    rock: float
    paper: float
    scissors: float


class PredictionModelInfo(BaseModel):
    model_type: str
    model_alias: AliasName
    model_version: str | None
    model_run_id: str | None = Field(description="The first 8 characters of the MLflow run id")
    probability_source: Literal["model", "fallback"]
    fallback_reason: str | None


class PredictResponse(BaseModel):
    prediction: MoveName | None = Field(
        description="The user's most likely move; null when no model could answer (fallback)"
    )
    probabilities: MoveProbabilities | None
    policy: PredictPolicyName
    model_info: PredictionModelInfo
    features_used: int


class PredictWithPolicyResponse(PredictResponse):
    bot_move: MoveName | None = Field(
        description="The move with the highest expected value; null on fallback"
    )
    expected_values: ExpectedValues | None


class PredictBatchResponse(BaseModel):
    results: list[PredictResponse] = Field(description="One result per item, in order")
