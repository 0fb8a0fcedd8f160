"""HTTP metrics as a plain ASGI middleware (BaseHTTPMiddleware would add a task per request)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rps.observability.metrics import Metrics


class HttpMetricsMiddleware:
    """Counts and times every request by route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            key = (template, scope["method"], status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (
                    self.metrics.http_requests.labels(template, scope["method"], str(status)),
                    self.metrics.http_duration.labels(template, scope["method"]),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
