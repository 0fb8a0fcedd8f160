"""Analytics (SPEC §9): global, per-game, per-session, per-policy and per-player figures, the
leaderboard, the bots' win rates, win streaks and the list of recent games.

Public figures leave out test games and games created before ``METRICS_SINCE_DATE``; rankings of
people also leave out personas and simulated players (``rps.persistence.analytics_queries``).
Abandoned games count as finished games; ``finished_reason`` narrows the games list and the
stats to one reason, and streaks and the leaderboard count completed games only.

A game id is a capability (SPEC §9): whoever holds it can play the game, so listings show
finished games only, and no response names a session other than the one asked about.
Some responses repeat our figures under the names the original's clients read (``bot_rates``,
``players``, a session's ``draws`` and ``rounds``).

Unlike gameplay, whose sub-millisecond statements run on the event loop, these are aggregates
whose cost grows with the ``games`` table; they run in a worker thread so a slow scan never
holds up the rounds being played meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import (
    BeforeValidator,
    TypeAdapter,
    WithJsonSchema,
)

from rps.api.analytics_schemas import (
    BotRatePercent,
    BotRatesPercent,
    BotWinRate,
    BotWinRates,
    BotWinRatesResponse,
    GameListItem,
    GameListResponse,
    GameStatsResponse,
    GlobalStatsResponse,
    LeaderboardEntry,
    LeaderboardResponse,
    PlayerPolicyRecords,
    PlayerRecord,
    PlayerStatsResponse,
    PolicyRecord,
    PolicyRecords,
    PolicyStatsResponse,
    RoundCounts,
    SessionStatsResponse,
    StreakEntry,
    StreakPlayer,
    WinStreaksResponse,
)
from rps.api.deps import ContainerDep
from rps.api.presenters import iso
from rps.api.rate_limits import TOO_MANY_REQUESTS, Limit, RateLimited
from rps.api.read_cache import cached_read
from rps.api.schemas import NO_NUL, Detail, Lookup, ShortText
from rps.domain.errors import GameNotFound, InvalidInput
from rps.domain.policy import Policy
from rps.persistence import analytics_queries as queries
from rps.persistence.analytics_queries import Tally
from rps.persistence.records import FinishedReason

router = APIRouter(tags=["analytics"])

_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": Detail, "description": "Invalid input: the detail names the parameter"},
}
# The expensive reads (SPEC §9): limited per client (RATE_LIMIT_READ_PER_MIN) and, all but a
# player's own /stats (which must change as soon as their game does), served from the read
# cache for READ_CACHE_SECONDS.
_READ_LIMIT = [Depends(RateLimited(Limit.READ))]
_READ: dict[int | str, dict[str, Any]] = {**_INVALID, **TOO_MANY_REQUESTS}


def _blank_is_absent(value: Any) -> Any:
    # Forms and UIs send ``?opponent=`` for "any": an empty value means the filter is not set.
    return None if value == "" else value


# Filters a UI may send empty (``?player_name=``): empty means "not set", and says so in the schema.
OptionalLookup = Annotated[
    ShortText | None,
    BeforeValidator(_blank_is_absent),
    WithJsonSchema({"type": "string", "maxLength": 64, "pattern": NO_NUL}),
]
OptionalPolicy = Annotated[
    Policy | None,
    BeforeValidator(_blank_is_absent),
    WithJsonSchema({"type": "string", "enum": ["", *(p.value for p in Policy)]}),
]
OptionalReason = Annotated[
    FinishedReason | None,
    BeforeValidator(_blank_is_absent),
    WithJsonSchema({"type": "string", "enum": ["", *(r.value for r in FinishedReason)]}),
]
_REASON_HELP = "Only games that finished this way (completed, or closed as abandoned)"


def _policy_record(tally: Tally) -> PolicyRecord:
    return PolicyRecord(
        games=tally.games,
        user_wins=tally.user_wins,
        bot_wins=tally.bot_wins,
        ties=tally.ties,
        bot_win_rate=tally.bot_win_rate,
    )


def _player_record(tally: Tally) -> PlayerRecord:
    return PlayerRecord(
        games=tally.games,
        wins=tally.user_wins,
        losses=tally.bot_wins,
        ties=tally.ties,
        win_rate=tally.user_win_rate,
    )


@router.get(
    "/stats/global",
    response_model=GlobalStatsResponse,
    responses=_READ,
    dependencies=_READ_LIMIT,
)
@cached_read
async def global_stats(
    container: ContainerDep,
    finished_reason: Annotated[OptionalReason, Query(description=_REASON_HELP)] = None,
) -> GlobalStatsResponse:
    """Totals over every public game, and per model policy (abandoned games count as finished
    games; ``finished_reason`` keeps one kind)."""
    stats = await asyncio.to_thread(
        queries.global_stats,
        container.database,
        since=container.settings.metrics_since(),
        reason=finished_reason,
    )
    return GlobalStatsResponse(
        games=stats.totals.games,
        active_games=stats.active_games,
        rounds=stats.rounds,
        players=stats.players,
        user_wins=stats.totals.user_wins,
        bot_wins=stats.totals.bot_wins,
        ties=stats.totals.ties,
        bot_win_rate=stats.totals.bot_win_rate,
        by_policy=PolicyRecords(
            **{policy: _policy_record(tally) for policy, tally in stats.by_policy.items()}
        ),
    )


_KEY_SCHEMA: dict[str, Any] = TypeAdapter(Lookup).json_schema()
# OpenAPI cannot say "exactly one of these two query parameters" of separate parameters; one
# exploded object parameter can: at least one key (anyOf) and not both (not).
_GAME_OR_SESSION: dict[str, Any] = {
    "parameters": [
        {
            "name": "lookup",
            "in": "query",
            "required": True,
            "style": "form",
            "explode": True,
            "description": "Exactly one of game_id (one game's summary) or session_id (one "
            "session's record and streaks)",
            "schema": {
                "type": "object",
                "properties": {"game_id": _KEY_SCHEMA, "session_id": _KEY_SCHEMA},
                "anyOf": [{"required": ["game_id"]}, {"required": ["session_id"]}],
                "not": {"required": ["game_id", "session_id"]},
            },
        }
    ]
}


@router.get(
    "/stats",
    response_model=GameStatsResponse | SessionStatsResponse,
    responses={
        404: {"model": Detail, "description": "No such game"},
        **_READ,
    },
    dependencies=_READ_LIMIT,
    openapi_extra=_GAME_OR_SESSION,
)
async def game_or_session_stats(
    container: ContainerDep,
    game_id: Annotated[Lookup | None, Query(include_in_schema=False)] = None,
    session_id: Annotated[Lookup | None, Query(include_in_schema=False)] = None,
) -> GameStatsResponse | SessionStatsResponse:
    """One game's or one session's figures, test games included (the player's own view).

    Give exactly one of ``game_id`` and ``session_id``. Both are the player's to know: the game
    id from ``/start_game`` (listings show finished games only), the session id from
    ``/start_game`` too (no other response shows it).
    """
    if (game_id is None) == (session_id is None):
        given = "both were given" if game_id is not None else "neither was given"
        raise InvalidInput(f"give exactly one of game_id or session_id; {given}")
    db = container.database
    if game_id is not None:
        game = await asyncio.to_thread(queries.game_summary, db, game_id)
        if game is None:
            raise GameNotFound(f"no game with id {game_id!r}")
        return GameStatsResponse(
            game_id=game.game_id,
            player_name=game.player_name,
            policy=game.policy,
            rounds=game.rounds,
            user_score=game.user_score,
            bot_score=game.bot_score,
            winner=game.winner,
            finished=game.winner is not None,
            finished_reason=game.finished_reason,
        )
    assert session_id is not None
    session = await asyncio.to_thread(queries.session_stats, db, session_id)
    by_result = session.round_results
    return SessionStatsResponse(
        session_id=session.session_id,
        games=session.tally.games,
        active_games=session.active_games,
        wins=session.tally.user_wins,
        losses=session.tally.bot_wins,
        ties=session.tally.ties,
        win_rate=session.tally.user_win_rate,
        rounds_played=session.rounds,
        best_streak=session.best_streak,
        current_streak=session.current_streak,
        draws=session.tally.ties,
        rounds=RoundCounts(wins=by_result.wins, losses=by_result.losses, draws=by_result.draws),
    )


@router.get(
    "/stats/policy/{policy}",
    response_model=PolicyStatsResponse,
    responses=_READ,
    dependencies=_READ_LIMIT,
)
@cached_read
async def policy_stats(
    policy: Policy,
    container: ContainerDep,
    finished_reason: Annotated[OptionalReason, Query(description=_REASON_HELP)] = None,
) -> PolicyStatsResponse:
    """One model policy's record against everyone in public games."""
    stats = await asyncio.to_thread(
        queries.policy_stats,
        container.database,
        policy,
        since=container.settings.metrics_since(),
        reason=finished_reason,
    )
    return PolicyStatsResponse(
        **_policy_record(stats.tally).model_dump(),
        policy=policy.value,
        rounds=stats.rounds,
        avg_rounds_per_game=stats.avg_rounds_per_game,
    )


# ``:path`` keeps a name holding "/" (which player names may) in one piece.
@router.get(
    "/stats/player/{name:path}",
    response_model=PlayerStatsResponse,
    responses={404: {"model": Detail, "description": "The player has no games"}, **_READ},
    dependencies=_READ_LIMIT,
)
@cached_read
async def player_stats(
    name: Annotated[Lookup, Path()],
    container: ContainerDep,
    finished_reason: Annotated[OptionalReason, Query(description=_REASON_HELP)] = None,
) -> PlayerStatsResponse:
    """A player's record (exact name) in public games, overall and per model policy."""
    stats = await asyncio.to_thread(
        queries.player_stats,
        container.database,
        name,
        since=container.settings.metrics_since(),
        reason=finished_reason,
    )
    if stats is None:
        raise HTTPException(404, f"no games by player {name!r}")
    return PlayerStatsResponse(
        **_player_record(stats.totals).model_dump(),
        player_name=stats.player_name,
        by_policy=PlayerPolicyRecords(
            **{policy: _player_record(tally) for policy, tally in stats.by_policy.items()}
        ),
    )


@router.get(
    "/leaderboard", response_model=LeaderboardResponse, responses=_READ, dependencies=_READ_LIMIT
)
@cached_read
async def leaderboard(
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Entries to return")] = 10,
) -> LeaderboardResponse:
    """People with at least LEADERBOARD_MIN_GAMES completed games (abandoned ones do not
    count), by win rate, then games, then name."""
    min_games = container.settings.LEADERBOARD_MIN_GAMES
    entries = await asyncio.to_thread(
        queries.leaderboard,
        container.database,
        since=container.settings.metrics_since(),
        min_games=min_games,
        limit=limit,
    )
    return LeaderboardResponse(
        min_games=min_games,
        entries=[
            LeaderboardEntry(
                rank=rank, player_name=entry.player_name, **_player_record(entry.tally).model_dump()
            )
            for rank, entry in enumerate(entries, start=1)
        ],
    )


@router.get(
    "/bot_win_rates", response_model=BotWinRatesResponse, responses=_READ, dependencies=_READ_LIMIT
)
@cached_read
async def bot_win_rates(
    container: ContainerDep,
    human_only: Annotated[
        bool, Query(description="Only games of people; false counts every public game")
    ] = True,
    finished_reason: Annotated[OptionalReason, Query(description=_REASON_HELP)] = None,
) -> BotWinRatesResponse:
    """Each model policy's record, against people or against everyone."""
    tallies = await asyncio.to_thread(
        queries.bot_win_rates,
        container.database,
        since=container.settings.metrics_since(),
        human_only=human_only,
        reason=finished_reason,
    )
    return BotWinRatesResponse(
        human_only=human_only,
        policies=BotWinRates(
            **{
                policy: BotWinRate(
                    games=t.games,
                    bot_wins=t.bot_wins,
                    user_wins=t.user_wins,
                    ties=t.ties,
                    bot_win_rate=t.bot_win_rate,
                    user_win_rate=t.user_win_rate,
                )
                for policy, t in tallies.items()
            }
        ),
        bot_rates=BotRatesPercent(
            **{
                policy: BotRatePercent(
                    bot_wins=t.bot_wins,
                    human_games=t.games,
                    bot_win_rate=100 * t.bot_wins / t.games if t.games else None,
                )
                for policy, t in tallies.items()
            }
        ),
    )


@router.get(
    "/win_streaks", response_model=WinStreaksResponse, responses=_READ, dependencies=_READ_LIMIT
)
@cached_read
async def win_streaks(
    container: ContainerDep,
    opponent: Annotated[
        OptionalPolicy, Query(description="Only games against this policy; empty = any")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Entries to return")] = 10,
) -> WinStreaksResponse:
    """People ranked by their longest run of wins in completed games (abandoned games neither
    extend nor break a run), then their current run, then name."""
    entries = await asyncio.to_thread(
        queries.win_streaks,
        container.database,
        since=container.settings.metrics_since(),
        opponent=opponent,
        limit=limit,
    )
    return WinStreaksResponse(
        opponent=opponent.value if opponent else None,
        entries=[
            StreakEntry(
                rank=rank,
                player_name=e.player_name,
                best_streak=e.best_streak,
                current_streak=e.current_streak,
                games=e.games,
            )
            for rank, e in enumerate(entries, start=1)
        ],
        players=[
            StreakPlayer(
                username=e.player_name, streak=e.best_streak, last_win_date=iso(e.last_win_at)
            )
            for e in entries
        ],
    )


@router.get("/games", response_model=GameListResponse, responses=_INVALID)
async def list_games(
    container: ContainerDep,
    player_name: Annotated[
        OptionalLookup, Query(description="Only this player's games (exact name)")
    ] = None,
    policy: Annotated[OptionalPolicy, Query(description="Only games against this policy")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Games to return")] = 20,
    finished_reason: Annotated[OptionalReason, Query(description=_REASON_HELP)] = None,
) -> GameListResponse:
    """Finished public games, newest first. Open games are never listed: their ids are their
    players' to share."""
    found = await asyncio.to_thread(
        queries.recent_games,
        container.database,
        since=container.settings.metrics_since(),
        player_name=player_name,
        policy=policy,
        limit=limit,
        reason=finished_reason,
    )
    return GameListResponse(
        games=[
            GameListItem(
                game_id=g.game_id,
                player_name=g.player_name,
                policy=g.policy,
                model_type=g.model_type,
                bot_model_alias=g.bot_model_alias,
                user_score=g.user_score,
                bot_score=g.bot_score,
                winner=g.winner,
                rounds=g.rounds,
                created_at=iso(g.created_at),
                finished_at=iso(g.finished_at),
                finished_reason=g.finished_reason,
                source=g.source,
            )
            for g in found
        ]
    )
