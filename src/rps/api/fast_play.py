"""``POST /play`` without the framework's per-request machinery.

A round costs a few hundred microseconds of the server's time; FastAPI's route matching over
every route, dependency solving, body handling and response object added about a third on top.
This middleware answers well-formed ``/play`` requests itself — the same validation model, the
same checks, the same service call, the same presenter and error mapping as the ``/play`` route
— and hands anything else to the app untouched: other paths, other content types, and bodies
that do not validate (the route then produces its usual 422, so error messages never differ).
The route stays registered for the OpenAPI schema and as the path for everything handed over.

It cannot skip a check the route has:

- the body cap is the app's ``BodyLimit`` middleware, which wraps this one;
- the route's dependencies are read from the route itself, and each one is run here through
  its ``check_scope`` (the rate limit); a dependency without one — one added to the route
  later, or overridden in ``app.dependency_overrides`` — makes the fast path hand every request
  to the route, which then runs it (and a warning says the fast path is off).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rps.api.deps import hot_path
from rps.api.errors import status_of
from rps.api.presenters import play_response
from rps.api.schemas import PlayRequest
from rps.domain.errors import GameError
from rps.domain.move import Move

log = logging.getLogger(__name__)

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
        self._checks: tuple[Any, ...] | None = None
        self._resolved = False
        self._warned = False

    def _play_route(self) -> Any:
        if self._route is None:
            self._route = next(
                (
                    r
                    for r in walk_routes(self._fastapi.routes)
                    if getattr(r, "path", None) == "/play"
                ),
                None,
            )
        return self._route

    def checks(self) -> tuple[Any, ...] | None:
        """The route's dependencies as this path runs them (objects with ``check_scope``), or
        None when one of them cannot be run here and every request must go to the route."""
        if not self._resolved:
            route = self._play_route()
            calls = tuple(d.call for d in route.dependant.dependencies) if route else ()
            runnable = route is not None and all(hasattr(c, "check_scope") for c in calls)
            self._checks = calls if runnable else None
            self._resolved = True
        overrides = self._fastapi.dependency_overrides
        if self._checks and overrides and any(call in overrides for call in self._checks):
            return None
        return self._checks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/play" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        container = getattr(self._fastapi.state, "container", None)
        checks = self.checks()
        if container is None or checks is None or not _is_json(scope["headers"]):
            if checks is None and not self._warned:
                self._warned = True
                log.warning("the /play route has a dependency the fast path cannot run: off")
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
            # The route's dependencies run before its body is validated; here they run after,
            # which answers the same: a body that does not validate went to the route above.
            for check in checks:
                check.check_scope(self._fastapi, scope)
            result = await hot_path(
                container,
                container.gameplay.play,
                request.game_id,
                Move(request.user_move),
                request.round,
            )
        except HTTPException as exc:
            await _respond(send, exc.status_code, {"detail": exc.detail}, exc.headers)
            return
        except GameError as exc:
            await _respond(send, status_of(exc), {"detail": str(exc)})
            return
        await _respond(send, 200, play_response(result))


def walk_routes(routes: Any) -> Any:
    """Every route, including those of included routers (kept apart in newer FastAPI)."""
    for route in routes:
        yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from walk_routes(inner.routes)


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole request body (``BodyLimit``, outside, keeps it under the cap); plus the message
    that ended it early (a disconnect), if any."""
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


async def _respond(
    send: Send, status: int, content: Any, headers: Mapping[str, str] | None = None
) -> None:
    payload = orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    raw_headers = [
        (b"content-length", str(len(payload)).encode()),
        (b"content-type", b"application/json"),
    ]
    raw_headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
