"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from rps.api.responses import FastJSONResponse
from rps.persistence.schema_check import SchemaStatus, check_schema

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> FastJSONResponse:
    """The process is alive (and the framework's own floor for latency benchmarks)."""
    return FastJSONResponse({"status": "ok"})


@router.get(
    "/ready",
    responses={
        503: {
            "description": "Starting up, database unreachable, its schema behind or foreign to "
            "the code (the detail names the command that fixes it), or models still loading"
        }
    },
)
async def ready(request: Request) -> FastJSONResponse:
    container = getattr(request.app.state, "container", None)
    if container is None:
        return FastJSONResponse({"ready": False, "detail": "starting up"}, status_code=503)
    # The same check `rps serve` makes before it starts (catalogue queries: off the loop).
    schema = await asyncio.to_thread(check_schema, container.database)
    if schema.status is SchemaStatus.UNREACHABLE:
        return FastJSONResponse({"ready": False, "detail": "database unreachable"}, status_code=503)
    if not schema.ready:
        return FastJSONResponse(
            {"ready": False, "detail": schema.message(), "schema": schema.as_dict()},
            status_code=503,
        )
    if not container.models.loaded_once:
        return FastJSONResponse(
            {"ready": False, "detail": "models are still loading"}, status_code=503
        )
    body: dict[str, Any] = {"ready": True, "degraded": container.models.degraded()}
    if schema.status is SchemaStatus.AHEAD:  # a rolling upgrade in progress: say so
        body |= {"detail": schema.detail, "schema": schema.as_dict()}
    return FastJSONResponse(body)
