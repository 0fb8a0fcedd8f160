"""Request bodies capped before they are read (SPEC §9 Hardening): 413 over the cap.

Why not the framework's own limit: FastAPI 0.165 (``FastAPI(max_body_size=...)``, per router
and per route) and Starlette 1.10 (``RequestBodyLimitMiddleware``) have one. It does not fit the
API's error contract: whenever the request declares a ``Content-Length`` over the cap, its
responder replaces whatever the app answers — a JSON 413 included — with a plain-text "Content
Too Large"; its detail never says what the limit is; and it counts a chunked body only as the
route reads it, so a route that reads none (an admin route refusing a missing token) answers as
if a body over the cap were fine. Every error here is ``{"detail": "..."}`` and the OpenAPI
schema declares the 413 as JSON, so the cap is this one small ASGI middleware instead (plain
ASGI, not ``BaseHTTPMiddleware``, which would add a task and a copy of the body per request).
It wraps every route and the ``/play`` fast path, and answers before any of them runs:

- A declared ``Content-Length`` over the cap is refused at once; the body is never read.
- A body sent in chunks (``Transfer-Encoding``, no length to trust) is read here first, counted
  chunk by chunk, and refused as soon as it passes the cap — so it never costs more than the
  cap plus one chunk of memory; a body within the cap is handed on to the app unchanged.
- A request with neither header has no body in HTTP/1.1; it passes untouched.

The 413 closes the connection: otherwise the server would go on receiving (and discarding) the
rest of the body, 200 MB taking seconds of its time, before the client saw the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rps.api.schemas import Detail


@dataclass(frozen=True)
class BodyCap:
    """A cap in bytes and the setting it comes from (named in the 413's detail)."""

    max_bytes: int
    setting: str


def too_large_detail(cap: BodyCap, path: str) -> str:
    return (
        f"request body too large: {path} accepts at most {cap.max_bytes} bytes "
        f"({cap.setting} on this server)"
    )


class BodyLimit:
    def __init__(self, app: ASGIApp, default: BodyCap, per_path: Mapping[str, BodyCap]) -> None:
        self.app = app
        self.default = default
        self.per_path = dict(per_path)

    def cap_for(self, path: str) -> BodyCap:
        return self.per_path.get(path, self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope["path"])
        declared, chunked = _framing(scope["headers"])
        if not chunked:
            # The server delivers exactly Content-Length bytes (none without the header).
            if declared is not None and declared > cap.max_bytes:
                await _refuse(send, cap, scope["path"])
                return
            await self.app(scope, receive, send)
            return
        messages = await _read_capped(receive, cap.max_bytes)
        if messages is None:
            await _refuse(send, cap, scope["path"])
            return
        await self.app(scope, _replay(messages, receive), send)


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """The declared Content-Length, and whether the body comes in chunks whose total is not
    known in advance (Transfer-Encoding, or a Content-Length that is not a number)."""
    declared: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                chunked = True
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


async def _read_capped(receive: Receive, max_bytes: int) -> list[Message] | None:
    """The body as one message (plus a disconnect that ended it early, if any); None as soon as
    it passes ``max_bytes``, without keeping the chunk that did."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return [_body_message(chunks), message]
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return [_body_message(chunks)]


def _body_message(chunks: list[bytes]) -> Message:
    return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _refuse(send: Send, cap: BodyCap, path: str) -> None:
    payload = orjson.dumps({"detail": too_large_detail(cap, path)})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-length", str(len(payload)).encode()),
                (b"content-type", b"application/json"),
                (b"connection", b"close"),  # the rest of the body is never read
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# OpenAPI: the 413 of every route that takes a body.
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {
        "model": Detail,
        "description": "The request body is larger than MAX_BODY_BYTES (64 KiB unless the "
        "server sets otherwise); the detail names the limit",
    }
}
TOO_LARGE_BATCH: dict[int | str, dict[str, Any]] = {
    413: {
        "model": Detail,
        "description": "The request body is larger than MAX_BATCH_BODY_BYTES (1 MiB unless "
        "the server sets otherwise); the detail names the limit",
    }
}
