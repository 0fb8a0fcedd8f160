"""Gameplay: start a game, play rounds, read a game's state and round values."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from rps.api.deps import GameplayDep, check_admin, container_of
from rps.api.presenters import game_state, play_response, start_response
from rps.api.responses import FastJSONResponse
from rps.api.schemas import (
    Detail,
    GameStateResponse,
    PlayRequest,
    PlayResponse,
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
    responses={
        401: {"model": Detail, "description": "Non-human source without the admin token"},
        403: {"model": Detail, "description": "Non-human source and no admin token configured"},
        422: _ERRORS[422],
        **_MALFORMED,
    },
)
async def start_game(
    body: StartGameRequest, request: Request, gameplay: GameplayDep
) -> FastJSONResponse:
    source = GameSource(body.source)
    if source is not GameSource.HUMAN:
        check_admin(request)
    record = gameplay.start_game(
        StartGame(
            player_name=body.player_name,
            policy=body.policy,
            difficulty_mode=body.difficulty_mode,
            session_id=body.session_id,
            is_test=body.test_game,
            source=source,
        )
    )
    return FastJSONResponse(start_response(record, round_values(record.id, 1)))


@router.post("/play", response_model=PlayResponse, responses=_ERRORS)
async def play(body: PlayRequest, request: Request) -> FastJSONResponse:
    result = container_of(request).gameplay.play(body.game_id, Move(body.user_move), body.round)
    return FastJSONResponse(play_response(result))


@router.get("/round_points", response_model=RoundPointsResponse, responses=_ERRORS)
async def get_round_points(
    gameplay: GameplayDep, game_id: str = Query(..., min_length=1, max_length=64)
) -> FastJSONResponse:
    view = gameplay.get_game(game_id)
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
async def get_game(game_id: str, gameplay: GameplayDep) -> FastJSONResponse:
    view = gameplay.get_game(game_id)
    finished = view.game.winner is not None
    next_values = None if finished else round_values(game_id, view.game.rounds_played + 1)
    return FastJSONResponse(game_state(view, next_values))
