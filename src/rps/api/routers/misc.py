"""Small public endpoints (info, rand, policies), /metrics and the admin /debug."""

from __future__ import annotations

import os
import secrets
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from rps.api.deps import AdminDep, ContainerDep
from rps.api.responses import FastJSONResponse
from rps.domain.move import MOVES
from rps.domain.policy import Policy
from rps.features.names import FEATURE_COUNT, FEATURE_VERSION

router = APIRouter(tags=["misc"])


def package_version() -> str:
    try:
        return version("rps-mlops")
    except PackageNotFoundError:
        return "0+unknown"


@router.get("/info")
async def info(container: ContainerDep) -> dict[str, Any]:
    settings = container.settings
    return {
        "name": "rps-mlops",
        "version": package_version(),
        "git_revision": settings.GIT_REVISION,
        "feature_version": FEATURE_VERSION,
        "feature_count": FEATURE_COUNT,
        "database": container.database.dialect,
        "config": settings.masked(),
    }


@router.get("/rand")
async def rand() -> dict[str, str]:
    """A server-random move."""
    return {"move": secrets.choice(MOVES).value}


@router.get("/policies")
async def policies() -> list[str]:
    return [p.value for p in Policy]


@router.get("/metrics", include_in_schema=False)
async def metrics(container: ContainerDep) -> Response:
    body, content_type = container.metrics.render()
    return Response(body, media_type=content_type)


@router.get("/debug", dependencies=[AdminDep], responses={401: {}, 403: {}})
async def debug(container: ContainerDep) -> FastJSONResponse:
    """Model manager state [admin]."""
    manager = container.models
    return FastJSONResponse(
        {
            "models": {row["model"]: row for row in manager.status()},
            "loaded": manager.loaded_once,
            "generation": manager.model_set.generation,
            "database": container.database.dialect,
            "pid": os.getpid(),
        }
    )
