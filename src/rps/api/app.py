"""The app factory. Nothing connects at import: the container is built in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from rps.api.errors import install_error_handlers
from rps.api.middleware import HttpMetricsMiddleware
from rps.api.responses import FastJSONResponse
from rps.api.routers import game, health, misc
from rps.bootstrap import Container, build_container
from rps.observability.logging import configure_logging
from rps.observability.metrics import Metrics
from rps.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    """Build the ASGI app. Tests pass their own settings or a ready container."""
    settings = container.settings if container else (settings or get_settings())
    configure_logging(settings.LOG_LEVEL)
    # Metrics exist before the lifespan so the middleware can count from the first request.
    metrics = container.metrics if container else Metrics(settings.PROMETHEUS_MULTIPROC_DIR)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        built = container or build_container(settings, metrics=metrics)
        app.state.container = built
        log.info("rps app ready (database: %s)", built.database.dialect)
        try:
            yield
        finally:
            if owned:
                app.state.container = None
                built.close()

    app = FastAPI(
        title="RPS MLOps",
        version="0.1.0",
        description="Value-weighted Rock-Paper-Scissors against machine-learned bots.",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
    )
    # A ready container is usable without the lifespan (ASGI test clients that skip it).
    app.state.container = container
    install_error_handlers(app)
    for router in (game.router, health.router, misc.router):
        app.include_router(router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    return app
