"""A few seconds of memory for the expensive public reads (SPEC §9 Hardening): leaderboards,
aggregate stats and ``/ops/summary`` scan the games table, and each call costs up to a second
or more on a busy database; a page that many people have open asks for the same figures again
and again.

Per process, keyed by the full query (path and query parameters), ``READ_CACHE_SECONDS`` long
(0: off), at most ``MAX_ENTRIES`` queries. Concurrent identical requests share one computation
(they await the same future) instead of each scanning the table. Failures are not kept.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from cachetools import TTLCache
from fastapi import Request

T = TypeVar("T")

MAX_ENTRIES = 256


class ReadCache:
    def __init__(self, ttl_s: float, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: TTLCache[Hashable, asyncio.Future[Any]] | None = (
            TTLCache(maxsize=max_entries, ttl=ttl_s, timer=time.monotonic) if ttl_s > 0 else None
        )

    async def get_or_compute(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if self._entries is None:
            return await compute()
        future = self._entries.get(key)
        if future is None or (
            not future.done() and future.get_loop() is not asyncio.get_running_loop()
        ):
            future = asyncio.ensure_future(compute())
            self._entries[key] = future
            future.add_done_callback(functools.partial(self._forget_failure, key))
        # Shielded: a client that goes away cancels its own wait, not the shared computation.
        result: T = await asyncio.shield(future)
        return result

    def _forget_failure(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        failed = future.cancelled() or future.exception() is not None
        if failed and self._entries is not None and self._entries.get(key) is future:
            del self._entries[key]


def read_cache_of(app: Any) -> ReadCache:
    cache: ReadCache = app.state.read_cache
    return cache


def cached_read(endpoint: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Serve an endpoint's answer from the app's ReadCache, keyed by the request's path and
    query. Put it under the route decorator; the route's dependencies (its rate limit) still run
    for every request, since FastAPI solves them before calling the endpoint.

    The endpoint needs the request for the key: when it has no ``Request`` parameter, one is
    added to the signature FastAPI reads, and taken out before the endpoint is called.
    """
    signature = inspect.signature(endpoint)
    own = next(
        (name for name, p in signature.parameters.items() if p.annotation in (Request, "Request")),
        None,
    )
    hidden = "_read_cache_request"

    @functools.wraps(endpoint)
    async def serve(*args: Any, **kwargs: Any) -> T:
        request: Request = kwargs[own] if own else kwargs.pop(hidden)
        key = (request.url.path, tuple(sorted(request.query_params.multi_items())))
        return await read_cache_of(request.app).get_or_compute(
            key, lambda: endpoint(*args, **kwargs)
        )

    if own is None:
        extra = inspect.Parameter(hidden, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        serve.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), extra]
        )
    return serve
