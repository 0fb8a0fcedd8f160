"""The one place errors become HTTP answers; every error body is {"detail": "..."}.

Domain errors map to status codes here. Anything unexpected is answered by ``RequestBoundary``,
the app's outermost layer: a JSON 500 with a request id, never the server's bare text 500, and
the traceback logged under the same id.
"""

from __future__ import annotations

import logging
import os
import re

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rps.api.responses import FastJSONResponse
from rps.domain.errors import (
    ECHO_LIMIT,
    GameError,
    GameFinished,
    GameNotFound,
    InvalidInput,
    RoundConflict,
)
from rps.settings import AdminTokenError

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[GameError], int] = {
    GameNotFound: 404,
    GameFinished: 409,
    RoundConflict: 409,
    InvalidInput: 422,
}

REQUEST_ID_HEADER = "X-Request-ID"
# A client's own id is kept (to follow one request through a proxy's log and ours) only when it
# cannot disturb a log line or a header: short, and from a small alphabet.
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode()
_NOSNIFF = (b"x-content-type-options", b"nosniff")


def _capped(part: object) -> str:
    text = str(part)
    return text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + "…"


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        # A location may hold a client's own key (an unknown field's name): cap each part.
        loc = [_capped(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc) or "request body"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "; ".join(parts) or "invalid request"


def status_of(exc: GameError) -> int:
    return next((code for cls, code in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)


def install_error_handlers(app: FastAPI) -> None:
    async def on_game_error(request: Request, exc: Exception) -> FastJSONResponse:
        assert isinstance(exc, GameError)
        return FastJSONResponse({"detail": str(exc)}, status_code=status_of(exc))

    async def on_validation_error(request: Request, exc: Exception) -> FastJSONResponse:
        assert isinstance(exc, RequestValidationError)
        return FastJSONResponse({"detail": _describe_validation(exc)}, status_code=422)

    async def on_admin_token_error(request: Request, exc: Exception) -> FastJSONResponse:
        # The token file changed under a running server (a start with it is refused): the
        # reason names a path, so it goes to the log only.
        log.error("admin request refused: %s", exc)
        return FastJSONResponse(
            {
                "detail": "admin endpoints are unavailable: the server's admin token is refused "
                "(the server log says why)"
            },
            status_code=503,
        )

    app.add_exception_handler(GameError, on_game_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(AdminTokenError, on_admin_token_error)


def request_id_of(scope: Scope) -> str | None:
    """The id ``RequestBoundary`` gave this request (``request.state.request_id`` too)."""
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == _REQUEST_ID_NAME:
            if _CLIENT_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(8).hex()


class RequestBoundary:
    """The outermost layer of the app (plain ASGI: BaseHTTPMiddleware adds a task per request).

    Every HTTP request gets an id (the client's ``X-Request-ID`` when well formed, else a new
    one) that every response carries back, with ``X-Content-Type-Options: nosniff``. An
    exception that reaches this layer — from a route, a dependency, the ``/play`` fast path or
    another middleware — is logged with its traceback and the id, and answered with
    ``500 {"detail": "internal error", "request_id": ...}``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (_REQUEST_ID_NAME, request_id.encode("ascii"))
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", ()), id_header]
                if not any(name.lower() == _NOSNIFF[0] for name, _ in headers):
                    headers.append(_NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception(
                "unexpected error answering %s %s (request_id=%s)",
                scope.get("method"),
                _capped(scope.get("path", "")),
                request_id,
                extra={"request_id": request_id},
            )
            if started:  # part of the answer is on its way: the server can only cut it short
                raise
            body = orjson.dumps({"detail": "internal error", "request_id": request_id})
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
