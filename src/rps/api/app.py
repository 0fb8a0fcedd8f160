"""The app factory. Nothing connects at import: the container is built in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from rps.api.body_limit import BodyCap, BodyLimit
from rps.api.collector import ServingCollector
from rps.api.errors import RequestBoundary, install_error_handlers
from rps.api.fast_play import FastPlay
from rps.api.middleware import HttpMetricsMiddleware
from rps.api.rate_limits import RateLimits
from rps.api.read_cache import ReadCache
from rps.api.responses import FastJSONResponse
from rps.api.routers import analytics, game, health, misc, models, predictions, promotion
from rps.api.routers.pages import install_pages
from rps.bootstrap import Container, build_container
from rps.observability.logging import configure_logging
from rps.observability.metrics import Metrics
from rps.persistence.schema_check import SchemaStatus, check_schema
from rps.serving.model_manager import ModelManager
from rps.settings import AdminTokenError, Settings, get_settings, mask_secrets

log = logging.getLogger(__name__)


async def watch_models(
    manager: ModelManager, poll_seconds: float, *, after_first_load: Any = None
) -> None:
    """Load the model set, then reload whenever the sources' generation changes."""
    try:
        await asyncio.to_thread(manager.reload)
    except Exception:  # a broken source must not take the app down: stay on fallback
        log.exception("initial model load failed; serving with fallbacks")
    if after_first_load is not None:
        after_first_load()
    if poll_seconds <= 0:
        return
    while True:
        await asyncio.sleep(poll_seconds)
        try:
            generation = await asyncio.to_thread(manager.source_generation)
            if generation is not None and generation != manager.model_set.generation:
                log.info("model cache generation %s: reloading", generation)
                await asyncio.to_thread(manager.reload)
        except Exception:
            log.exception("model poll failed; keeping the current set")


async def refuse_unservable(built: Container, *, refuse: bool) -> None:
    """SPEC §9: no server on a database behind or foreign to the code, nor with an admin token
    that may not be used. ``refuse`` is False for a container the caller built (tests, embedders):
    the problem is logged, ``/ready`` reports it and the caller decides."""
    problems: list[str] = []
    try:
        built.settings.admin_token()
    except AdminTokenError as exc:
        problems.append(str(exc))
    found = await asyncio.to_thread(check_schema, built.database)
    if found.refused:
        problems.append(found.message())
    elif not found.ready:
        log.warning("%s; /ready answers 503 until it is", found.message())
    elif found.status is SchemaStatus.AHEAD:
        log.warning("%s", found.detail)
    if not problems:
        return
    for problem in problems:
        log.error("refusing to serve: %s", problem)
    if refuse:
        built.close()
        raise RuntimeError("refusing to serve: " + "; ".join(problems))


# Newer FastAPI releases wrap every request in an OpenTelemetry check (~30 µs each here). The
# platform exports Prometheus metrics; OpenTelemetry is off unless the app is built otherwise.
_NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    fast_play: bool = True,
) -> FastAPI:
    """Build the ASGI app. Tests pass their own settings or a ready container (and may turn the
    ``/play`` fast path off to compare it with the route)."""
    settings = container.settings if container else (settings or get_settings())
    configure_logging(settings.LOG_LEVEL, redact=mask_secrets)
    # Metrics exist before the lifespan so the middleware can count from the first request.
    metrics = container.metrics if container else Metrics(settings.PROMETHEUS_MULTIPROC_DIR)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        built = container or build_container(settings, metrics=metrics)
        await refuse_unservable(built, refuse=owned)
        app.state.container = built
        # Models load in the background: the app answers /healthz at once and /ready says 503
        # until the set is loaded (or declared fallback).
        # Only a real server (which built its own container) tunes the process's collector,
        # once the first model set is in.
        collector = ServingCollector()
        collecting: list[asyncio.Task[None]] = []

        def start_collector() -> None:
            collector.start()
            collecting.append(asyncio.create_task(collector.run()))

        watcher = asyncio.create_task(
            watch_models(
                built.models,
                settings.MODEL_POLL_SECONDS,
                after_first_load=start_collector if owned else None,
            )
        )
        log.info("rps app started (database: %s)", built.database.dialect)
        try:
            yield
        finally:
            for task in (watcher, *collecting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if owned:
                app.state.container = None
                built.close()

    app = FastAPI(
        **_NO_NATIVE_TELEMETRY,
        title="RPS MLOps",
        version="0.1.0",
        description="Value-weighted Rock-Paper-Scissors against machine-learned bots.",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
        # /docs is served by the pages router from local assets (it must work offline).
        docs_url=None,
        redoc_url=None,
    )
    # A ready container is usable without the lifespan (ASGI test clients that skip it).
    app.state.container = container
    # Per process, like everything on app.state (SPEC §9: limits multiply with processes).
    app.state.rate_limits = RateLimits(settings)
    app.state.read_cache = ReadCache(settings.READ_CACHE_SECONDS)
    install_error_handlers(app)
    for router in (
        game.router,
        health.router,
        misc.router,
        models.router,
        predictions.router,
        analytics.router,
        promotion.router,
    ):
        app.include_router(router)
    install_pages(app, settings)
    if fast_play:
        app.add_middleware(FastPlay, fastapi_app=app)  # innermost: CORS and metrics wrap it
    # Around the fast path too, so no body is read past its cap on any path.
    app.add_middleware(
        BodyLimit,
        default=BodyCap(settings.MAX_BODY_BYTES, "MAX_BODY_BYTES"),
        per_path={"/predict/batch": BodyCap(settings.MAX_BATCH_BODY_BYTES, "MAX_BATCH_BODY_BYTES")},
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if settings.trusted_proxies:
        # The client address every limit counts by: X-Forwarded-For, from these peers only.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    # Outermost, so keep it the last one added: whatever fails inside, even in a middleware,
    # is answered with a JSON 500 and a request id.
    app.add_middleware(RequestBoundary)
    return app
