"""The one place domain errors become HTTP status codes; every error body is {"detail": "..."}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from rps.api.responses import FastJSONResponse
from rps.domain.errors import GameError, GameFinished, GameNotFound, InvalidInput, RoundConflict

STATUS_BY_ERROR: dict[type[GameError], int] = {
    GameNotFound: 404,
    GameFinished: 409,
    RoundConflict: 409,
    InvalidInput: 422,
}


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "request body"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    async def on_game_error(request: Request, exc: Exception) -> FastJSONResponse:
        status = next((code for cls, code in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
        return FastJSONResponse({"detail": str(exc)}, status_code=status)

    async def on_validation_error(request: Request, exc: Exception) -> FastJSONResponse:
        assert isinstance(exc, RequestValidationError)
        return FastJSONResponse({"detail": _describe_validation(exc)}, status_code=422)

    app.add_exception_handler(GameError, on_game_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
