"""``POST /play`` without the framework's per-request machinery.

A round costs a few hundred microseconds of the server's time; FastAPI's route matching over
every route, dependency solving, body handling and response object added about a third on top.
This middleware answers well-formed ``/play`` requests itself — the same validation model, the
same service call, the same presenter and error mapping as the ``/play`` route — and hands
anything else to the app untouched: other paths, other content types, and bodies that do not
validate (the route then produces its usual 422, so error messages never differ).
The route stays registered for the OpenAPI schema and as the path for everything handed over.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rps.api.errors import STATUS_BY_ERROR
from rps.api.presenters import play_response
from rps.api.schemas import PlayRequest
from rps.domain.errors import GameError
from rps.domain.move import Move

_JSON_TYPES = (b"application/json",)


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() in _JSON_TYPES
    return False


class FastPlay:
    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self._fastapi = fastapi_app
        self._route: Any = None

    def _play_route(self) -> Any:
        if self._route is None:
            self._route = next(
                (r for r in _walk(self._fastapi.routes) if getattr(r, "path", None) == "/play"),
                None,
            )
        return self._route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/play" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        container = getattr(self._fastapi.state, "container", None)
        if container is None or not _is_json(scope["headers"]):
            await self.app(scope, receive, send)
            return
        body, extra = await _read_body(receive)
        if extra is not None:  # the client went away mid-body: let the app see the same
            await self.app(scope, _replay(body, extra, receive), send)
            return
        try:
            request = PlayRequest.model_validate_json(body)
        except ValidationError:
            await self.app(scope, _replay(body, None, receive), send)
            return
        scope["route"] = self._play_route()  # the metrics middleware labels by route template
        try:
            result = container.gameplay.play(
                request.game_id, Move(request.user_move), request.round
            )
        except GameError as exc:
            status = next((c for cls, c in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
            await _respond(send, status, orjson.dumps({"detail": str(exc)}))
            return
        payload = orjson.dumps(play_response(result), option=orjson.OPT_SERIALIZE_NUMPY)
        await _respond(send, 200, payload)


def _walk(routes: Any) -> Any:
    """Every route, including those of included routers (kept apart in newer FastAPI)."""
    for route in routes:
        yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole request body; plus the message that ended it early (a disconnect), if any."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, extra: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then carries on as before."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if extra is not None:
        pending.append(extra)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _respond(send: Send, status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(payload)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
