"""Request and response bodies of the gameplay and misc endpoints (SPEC §9)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
)

MoveName = Literal["rock", "paper", "scissors"]
PolicyName = Literal[
    "brian", "forrest", "logan", "ace", "bob", "cal", "dan", "edd", "fox", "gus", "hal"
]
DifficultyName = Literal["normal", "standard", "easy"]
SourceName = Literal["human", "persona", "simulated"]


def _whole_number(value: Any) -> Any:
    """JSON integers, also written as 7.0; never strings or booleans."""
    if isinstance(value, (bool, str)):
        raise ValueError("must be a whole number")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


RoundNumber = Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole_number)]


def _encodable(value: str) -> str:
    """Reject lone surrogates: no database can store them, so they are bad input, not a 500."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _no_control_characters(value: str) -> str:
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _no_nul(value: str) -> str:
    # No stored text can hold NUL (PostgreSQL refuses it), so asking for one is bad input.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_encodable)]
# The patterns document the rules in the schema; the validators enforce them with clear messages.
_NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"
NO_NUL = r"^[^\x00]*$"
# Longer names are cut to 32 characters by the service (SPEC §9), not refused: the original's
# clients send whatever was typed.
PlayerName = Annotated[
    str,
    AfterValidator(_encodable),
    AfterValidator(_no_control_characters),
    Field(json_schema_extra={"pattern": _NO_CONTROL_CHARACTERS}),
]
# Up to 64 characters (every id and name column is that wide), no NUL.
ShortText = Annotated[Text, StringConstraints(max_length=64), AfterValidator(_no_nul)]
# An id or a name to look up (a game, a session, a player): 1-64 characters, no NUL.
Lookup = Annotated[
    ShortText, StringConstraints(min_length=1), Field(json_schema_extra={"pattern": NO_NUL})
]


class RoundPoints(BaseModel):
    rock: float
    paper: float
    scissors: float


class StartGameRequest(BaseModel):
    player_name: PlayerName | None = Field(
        None,
        description="Trimmed and cut to 32 characters; empty or 'player' gets a Player-NNN "
        "name; no control characters",
    )
    policy: PolicyName = "brian"
    difficulty_mode: DifficultyName = "normal"
    session_id: Text | None = Field(None, max_length=64)
    # Strict: 0 or "yes" is not a boolean (bad input is rejected, not guessed).
    mark_test_game: StrictBool = Field(
        False, description="Keep this game out of training and analytics"
    )
    is_test_game: StrictBool | None = Field(None, description="Alias of mark_test_game")
    is_test_data: StrictBool | None = Field(None, description="Alias of mark_test_game")
    is_test: StrictBool | None = Field(None, description="Alias of mark_test_game")
    source: SourceName = Field("human", description="persona / simulated need the admin token")

    @property
    def test_game(self) -> bool:
        return bool(self.mark_test_game or self.is_test_game or self.is_test_data or self.is_test)


class StartGameResponse(BaseModel):
    game_id: str
    session_id: str
    player_name: str
    policy: str
    bot_policy: str
    difficulty_mode: str
    bot_model_alias: str | None
    model_type: str | None
    target_score: float
    round_points: RoundPoints
    status: Literal["active"]
    message: str


class PlayRequest(BaseModel):
    game_id: Text = Field(..., min_length=1, max_length=64)
    user_move: MoveName
    round: RoundNumber | None = Field(
        None, description="The round this move is for; makes retries safe"
    )


class Scores(BaseModel):
    player: float
    bot: float
    ties: int


class ModelInfo(BaseModel):
    model_type: str | None
    model_alias: str | None
    model_version: str | None
    model_run_id: str | None
    difficulty_mode: str
    policy: str
    probability_source: Literal["opening", "model", "fallback", "persona"]
    fallback_reason: str | None


class AbAssignment(BaseModel):
    alias: str
    model_key: str
    is_variant: bool


class BeliefInfo(BaseModel):
    """The decision layer's blend (SPEC §4): what the EV rule actually used."""

    probabilities: RoundPoints = Field(description="The blended P(user plays each move)")
    model_weight: float | None = Field(
        description="The model expert's share of the blend (null: the layer without a model)"
    )
    weights: dict[str, float] = Field(description="Every expert's share, by name")
    params: str = Field(description="Digest of the layer's parameters (the scoring version)")
    acted: Literal["blend", "in-game", "greedy"] | None = Field(
        None,
        description=(
            "Which P chose the move: the blend (once its record in this game earns it the say), "
            "else the in-game experts' mixture (once theirs does), else uniform P (value-greedy)"
        ),
    )
    acting_probabilities: RoundPoints | None = Field(
        None, description="The P whose expected values chose the move"
    )


class DebugInfo(BaseModel):
    probabilities: RoundPoints | None = Field(
        description="The model's own (calibrated) probabilities, before blending"
    )
    expected_values: RoundPoints | None
    features: list[float] | None
    feature_count: int
    round_no: int
    belief: BeliefInfo | None = None
    # The names the original's clients read (SPEC §9), beside ours.
    move_values: RoundPoints | None = Field(description="The same as expected_values")
    model_type: str | None = Field(description="The game's model family; null for a persona")
    probability_source: Literal["opening", "model", "fallback", "persona"] = Field(
        description="The same as model_info.probability_source"
    )
    selected_move: MoveName = Field(description="The move the bot played (bot_move)")


class PlayResponse(BaseModel):
    game_id: str
    round: int
    user_move: MoveName
    player_move: MoveName
    bot_move: MoveName
    result: Literal["win", "lose", "draw"]
    user_delta: float
    bot_delta: float
    user_score: float
    bot_score: float
    round_points: RoundPoints
    next_round_points: RoundPoints | None
    finished: bool
    winner: Literal["user", "bot", "tie"] | None
    finished_reason: Literal["completed"] | None = Field(
        description="completed once this round ends the game, else null"
    )
    scores: Scores
    policy: str
    difficulty_mode: str
    model_info: ModelInfo
    ab_assignment: AbAssignment | None
    debug: DebugInfo
    message: str


class RoundPointsResponse(BaseModel):
    game_id: str
    round_no: int
    round_points: RoundPoints
    finished: bool
    finished_reason: Literal["completed", "abandoned"] | None


class StoredRound(BaseModel):
    round: int
    user_move: MoveName
    bot_move: MoveName
    result: Literal["win", "lose", "draw"]
    user_delta: float
    bot_delta: float
    user_score: float
    bot_score: float
    round_points: RoundPoints
    probability_source: str
    model_alias: str | None
    model_version: str | None
    created_at: str


class GameStateResponse(BaseModel):
    """A game as whoever holds its id sees it. The id is the capability (public listings show
    finished games only); the session id is never shown, so nobody can read another player's
    session figures."""

    game_id: str
    player_name: str
    policy: str
    model_type: str | None
    bot_model_alias: str | None
    model_version: str | None
    difficulty_mode: str
    is_test: bool
    source: str
    status: Literal["active", "finished"]
    user_score: float
    bot_score: float
    winner: Literal["user", "bot", "tie"] | None
    finished_reason: Literal["completed", "abandoned"] | None = Field(
        description="completed (a side reached the target) or abandoned (closed after "
        "ABANDONED_AFTER_MINUTES without a move, on the score it had); null while active"
    )
    opening_name: str | None = Field(description="Revealed once round 3 has been played")
    created_at: str
    finished_at: str | None
    next_round_points: RoundPoints | None
    rounds: list[StoredRound]


class RecentRoundsResponse(BaseModel):
    """One game's rounds, newest first (the original's ``/recent``, scoped to one game)."""

    game_id: str
    status: Literal["active", "finished"]
    rounds: list[StoredRound] = Field(description="Newest first")


class Detail(BaseModel):
    detail: str
