"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request

from rps.api.responses import FastJSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> FastJSONResponse:
    """The process is alive (and the framework's own floor for latency benchmarks)."""
    return FastJSONResponse({"status": "ok"})


@router.get("/ready", responses={503: {"description": "Starting up or database unreachable"}})
async def ready(request: Request) -> FastJSONResponse:
    container = getattr(request.app.state, "container", None)
    if container is None:
        return FastJSONResponse({"ready": False, "detail": "starting up"}, status_code=503)
    if not container.database.ping():
        return FastJSONResponse({"ready": False, "detail": "database unreachable"}, status_code=503)
    if not container.models.loaded_once:
        return FastJSONResponse(
            {"ready": False, "detail": "models are still loading"}, status_code=503
        )
    return FastJSONResponse({"ready": True, "degraded": container.models.degraded()})
