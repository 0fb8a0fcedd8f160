"""Small public endpoints (info, rand, policies), /metrics and the admin /debug."""

from __future__ import annotations

import asyncio
import os
import secrets
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from rps.api.deps import AdminDep, ContainerDep
from rps.api.rate_limits import TOO_MANY_REQUESTS
from rps.api.responses import FastJSONResponse
from rps.domain.move import MOVES
from rps.domain.policy import Policy
from rps.features.names import FEATURE_COUNT, FEATURE_VERSION
from rps.persistence.schema_check import code_revision

router = APIRouter(tags=["misc"])


def package_version() -> str:
    try:
        return version("rps-mlops")
    except PackageNotFoundError:
        return "0+unknown"


# /info is public: facts about the build and which features are on, nothing an attacker could
# use (no paths, URLs, hosts, database details or settings). Operators have `rps config`.
INFO_KEYS = (
    "name",
    "version",
    "git_revision",
    "feature_version",
    "feature_count",
    "schema_revision",
    "features",
)


@router.get("/info")
async def info(container: ContainerDep) -> dict[str, Any]:
    """The build (version, git revision, feature and schema versions) and which features are
    on. Public, so it shows no paths, URLs, hosts or settings."""
    settings = container.settings
    return {
        "name": "rps-mlops",
        "version": package_version(),
        "git_revision": settings.GIT_REVISION,
        "feature_version": FEATURE_VERSION,
        "feature_count": FEATURE_COUNT,
        "schema_revision": code_revision(),
        "features": {
            "ab_testing": settings.ENABLE_AB_TESTING,
            "public_predict": settings.PUBLIC_PREDICT,
            "auto_promotion": not settings.DISABLE_AUTO_PROMOTION,
            "scheduler": settings.SCHEDULER_ENABLED,
            "inference_capture": settings.RPS_CAPTURE_INFERENCE_DIR is not None,
        },
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
    # The lifecycle collectors query the database: never on the event loop (SPEC §9).
    body, content_type = await asyncio.to_thread(container.metrics.render)
    return Response(body, media_type=content_type)


@router.get("/debug", dependencies=[AdminDep], responses={401: {}, 403: {}, **TOO_MANY_REQUESTS})
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
