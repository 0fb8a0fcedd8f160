"""Gameplay: start a game, play rounds, read a game's state and round values."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from rps.api.body_limit import TOO_LARGE
from rps.api.deps import GameplayDep, check_admin, container_of, hot_path
from rps.api.presenters import game_state, play_response, recent_rounds, start_response
from rps.api.rate_limits import TOO_MANY_REQUESTS, Limit, RateLimited
from rps.api.responses import FastJSONResponse
from rps.api.schemas import (
    Detail,
    GameStateResponse,
    Lookup,
    PlayRequest,
    PlayResponse,
    RecentRoundsResponse,
    RoundPointsResponse,
    StartGameRequest,
    StartGameResponse,
)
from rps.domain.move import Move
from rps.domain.round_values import round_values
from rps.persistence.records import GameSource
from rps.services.gameplay import StartGame

router = APIRouter(tags=["gameplay"])
_MALFORMED: dict[int | str, dict[str, Any]] = {
    400: {"model": Detail, "description": "The body is not valid JSON"}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    **_MALFORMED,
    404: {"model": Detail, "description": "No such game"},
    409: {
        "model": Detail,
        "description": "Finished game (the detail says when it was closed as abandoned), "
        "or a round conflict",
    },
    422: {"model": Detail, "description": "Invalid input"},
}

# Handlers are async and call the (sub-millisecond) storage directly: a thread-pool hop per
# request costs more than it saves and made tail latency explode under load (issue 2 notes).


@router.post(
    "/start_game",
    response_model=StartGameResponse,
    dependencies=[Depends(RateLimited(Limit.START))],
    responses={
        401: {"model": Detail, "description": "Non-human source without the admin token"},
        403: {"model": Detail, "description": "Non-human source and no admin token configured"},
        422: _ERRORS[422],
        **_MALFORMED,
        **TOO_LARGE,
        **TOO_MANY_REQUESTS,
    },
)
async def start_game(
    body: StartGameRequest, request: Request, gameplay: GameplayDep
) -> FastJSONResponse:
    source = GameSource(body.source)
    if source is not GameSource.HUMAN:
        check_admin(request)
    record = await hot_path(
        container_of(request),
        gameplay.start_game,
        StartGame(
            player_name=body.player_name,
            policy=body.policy,
            difficulty_mode=body.difficulty_mode,
            session_id=body.session_id,
            is_test=body.test_game,
            source=source,
        ),
    )
    return FastJSONResponse(start_response(record, round_values(record.id, 1)))


# The /play fast path (rps.api.fast_play) runs these same dependencies.
@router.post(
    "/play",
    response_model=PlayResponse,
    dependencies=[Depends(RateLimited(Limit.PLAY))],
    responses={**_ERRORS, **TOO_LARGE, **TOO_MANY_REQUESTS},
)
async def play(body: PlayRequest, request: Request) -> FastJSONResponse:
    container = container_of(request)
    result = await hot_path(
        container, container.gameplay.play, body.game_id, Move(body.user_move), body.round
    )
    return FastJSONResponse(play_response(result))


@router.get("/round_points", response_model=RoundPointsResponse, responses=_ERRORS)
async def get_round_points(
    gameplay: GameplayDep, game_id: Annotated[Lookup, Query()]
) -> FastJSONResponse:
    view = await asyncio.to_thread(gameplay.get_game, game_id)
    next_round = view.game.rounds_played + 1
    return FastJSONResponse(
        {
            "game_id": game_id,
            "round_no": next_round,
            "round_points": round_values(game_id, next_round).as_points(),
            "finished": view.game.winner is not None,
            "finished_reason": reason.value if (reason := view.game.finished_reason) else None,
        }
    )


@router.get("/games/{game_id}", response_model=GameStateResponse, responses=_ERRORS)
async def get_game(game_id: Annotated[Lookup, Path()], gameplay: GameplayDep) -> FastJSONResponse:
    """A game's state and rounds, for whoever holds its id (never its session id)."""
    view = await asyncio.to_thread(gameplay.get_game, game_id)
    finished = view.game.winner is not None
    next_values = None if finished else round_values(game_id, view.game.rounds_played + 1)
    return FastJSONResponse(game_state(view, next_values))


@router.get(
    "/recent",
    response_model=RecentRoundsResponse,
    responses={
        404: _ERRORS[404],
        422: {"model": Detail, "description": "game_id missing or malformed"},
    },
)
async def recent(
    gameplay: GameplayDep,
    game_id: Annotated[Lookup, Query(description="The game whose rounds to list")],
) -> FastJSONResponse:
    """One game's rounds, newest first. The original listed everyone's recent rounds; here a
    game id is required, since knowing it is what entitles a client to see the game."""
    return FastJSONResponse(recent_rounds(await asyncio.to_thread(gameplay.get_game, game_id)))
