"""Response bodies of the analytics endpoints (SPEC §9), so OpenAPI documents every field.

Rates are fractions in [0, 1] of **finished** games (ties count as games); 0.0 when there are
none. Timestamps are ISO-8601 UTC strings ending in ``Z``.

A few fields repeat ours under the names the original system's clients read (SPEC §9,
"Compatibility"): ``bot_rates`` (percentages), ``players`` (streaks), and a session's ``draws``
and ``rounds``. Ours keep their meaning beside them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

WinnerName = Literal["user", "bot", "tie"]
FinishedReasonName = Literal["completed", "abandoned"]
PolicyValue = Literal["brian", "forrest", "logan"]


class PolicyRecord(BaseModel):
    """A bot's finished games and how they ended."""

    games: int = Field(ge=0)
    user_wins: int = Field(ge=0)
    bot_wins: int = Field(ge=0)
    ties: int = Field(ge=0)
    bot_win_rate: float = Field(ge=0, le=1)


class PolicyRecords(BaseModel):
    brian: PolicyRecord
    forrest: PolicyRecord
    logan: PolicyRecord


class GlobalStatsResponse(BaseModel):
    games: int = Field(ge=0, description="Finished games (completed or abandoned), every source")
    active_games: int = Field(ge=0, description="Games not finished yet")
    rounds: int = Field(ge=0, description="Rounds of every game, finished or not")
    players: int = Field(ge=0, description="Distinct names of people (no personas, no sim…N)")
    user_wins: int = Field(ge=0)
    bot_wins: int = Field(ge=0)
    ties: int = Field(ge=0)
    bot_win_rate: float = Field(ge=0, le=1)
    by_policy: PolicyRecords


class GameStatsResponse(BaseModel):
    game_id: str
    player_name: str
    policy: str
    rounds: int = Field(ge=0)
    user_score: float
    bot_score: float
    winner: WinnerName | None
    finished: bool
    finished_reason: FinishedReasonName | None = Field(
        description="completed (a side reached the target) or abandoned (closed after a "
        "stretch without moves, on the score it had); null while the game is open"
    )


class RoundCounts(BaseModel):
    """Rounds by their result from the player's view."""

    wins: int = Field(ge=0)
    losses: int = Field(ge=0)
    draws: int = Field(ge=0)


class SessionStatsResponse(BaseModel):
    session_id: str
    games: int = Field(ge=0, description="Finished games of the session")
    active_games: int = Field(ge=0)
    wins: int = Field(ge=0, description="Games the player won")
    losses: int = Field(ge=0)
    ties: int = Field(ge=0)
    win_rate: float = Field(ge=0, le=1)
    rounds_played: int = Field(ge=0, description="Rounds of every game of the session")
    best_streak: int = Field(ge=0, description="Longest run of consecutive wins")
    current_streak: int = Field(ge=0, description="Wins in a row up to the latest finished game")
    draws: int = Field(ge=0, description="The same as ties (the original's name)")
    rounds: RoundCounts = Field(
        description="Rounds of every game of the session by result (what the original's "
        "client shows as the session's wins and losses)"
    )


class PolicyStatsResponse(PolicyRecord):
    policy: PolicyValue
    rounds: int = Field(ge=0, description="Rounds of every game against the policy")
    avg_rounds_per_game: float = Field(ge=0, description="Mean length of its finished games")


class PlayerRecord(BaseModel):
    games: int = Field(ge=0)
    wins: int = Field(ge=0)
    losses: int = Field(ge=0)
    ties: int = Field(ge=0)
    win_rate: float = Field(ge=0, le=1)


class PlayerPolicyRecords(BaseModel):
    brian: PlayerRecord
    forrest: PlayerRecord
    logan: PlayerRecord


class PlayerStatsResponse(PlayerRecord):
    player_name: str
    by_policy: PlayerPolicyRecords


class LeaderboardEntry(PlayerRecord):
    rank: int = Field(ge=1)
    player_name: str


class LeaderboardResponse(BaseModel):
    min_games: int = Field(ge=1, description="Completed games a player needs to be ranked")
    entries: list[LeaderboardEntry]


class BotWinRate(BaseModel):
    games: int = Field(ge=0)
    bot_wins: int = Field(ge=0)
    user_wins: int = Field(ge=0)
    ties: int = Field(ge=0)
    bot_win_rate: float = Field(ge=0, le=1)
    user_win_rate: float = Field(ge=0, le=1)


class BotWinRates(BaseModel):
    brian: BotWinRate
    forrest: BotWinRate
    logan: BotWinRate


class BotRatePercent(BaseModel):
    """A policy's record as the original's clients read it."""

    bot_wins: int = Field(ge=0)
    human_games: int = Field(ge=0, description="The same as games")
    bot_win_rate: float | None = Field(
        ge=0, le=100, description="Percent (0-100) of the games the bot won; null without games"
    )


class BotRatesPercent(BaseModel):
    brian: BotRatePercent
    forrest: BotRatePercent
    logan: BotRatePercent


class BotWinRatesResponse(BaseModel):
    human_only: bool
    policies: BotWinRates
    bot_rates: BotRatesPercent = Field(description="The same figures under the original's names")


class StreakEntry(BaseModel):
    rank: int = Field(ge=1)
    player_name: str
    best_streak: int = Field(ge=1)
    current_streak: int = Field(ge=0)
    games: int = Field(ge=1, description="Completed games counted (against the opponent, if any)")


class StreakPlayer(BaseModel):
    """A streak entry as the original's clients read it."""

    username: str = Field(description="The same as player_name")
    streak: int = Field(ge=1, description="The same as best_streak")
    last_win_date: str = Field(description="When the player last won a counted game (UTC)")


class WinStreaksResponse(BaseModel):
    opponent: PolicyValue | None
    entries: list[StreakEntry]
    players: list[StreakPlayer] = Field(description="The entries under the original's names")


class GameListItem(BaseModel):
    game_id: str
    player_name: str
    policy: str
    model_type: str | None
    bot_model_alias: str | None
    user_score: float
    bot_score: float
    winner: WinnerName
    rounds: int = Field(ge=0)
    created_at: str
    finished_at: str
    finished_reason: FinishedReasonName = Field(description="completed or abandoned")
    source: Literal["human", "persona", "simulated"]


class GameListResponse(BaseModel):
    games: list[GameListItem] = Field(
        description="Finished games only: an unfinished game's id is its player's to share"
    )
