"""The model set of this process: status, and an admin-triggered reload."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from rps.api.body_limit import TOO_LARGE
from rps.api.deps import AdminDep, ContainerDep
from rps.api.rate_limits import TOO_MANY_REQUESTS
from rps.settings import mask_secrets

router = APIRouter(tags=["models"])


def masked_status(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model rows with credentials masked in any URL a source's error message quotes."""
    return [{k: mask_secrets(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows]


@router.get("/models/status")
async def models_status(container: ContainerDep) -> dict[str, Any]:
    """Every family@alias: version, run id, source, loaded_at, sha256, fallback state."""
    manager = container.models
    current = manager.model_set
    return {
        "loaded": manager.loaded_once,
        "generation": current.generation,
        "loaded_at": current.loaded_at.isoformat().replace("+00:00", "Z"),
        "models": masked_status(manager.status()),
    }


@router.post(
    "/models/reload",
    dependencies=[AdminDep],
    responses={401: {}, 403: {}, **TOO_LARGE, **TOO_MANY_REQUESTS},
)
async def models_reload(container: ContainerDep) -> dict[str, Any]:
    """Load the current aliases from the cache (else the registry) and swap them in [admin]."""
    new_set = await asyncio.to_thread(container.models.reload)
    return {
        "reloaded": True,
        "generation": new_set.generation,
        "degraded": container.models.degraded(),
        "models": masked_status(container.models.status()),
    }
