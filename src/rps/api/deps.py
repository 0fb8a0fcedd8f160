"""Dependencies: the container built at start-up, its services, and the admin-token check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from rps.bootstrap import Container
from rps.services.gameplay import GameplayService

# Dependencies are async on purpose: FastAPI runs a plain ``def`` dependency in the thread pool,
# and that hop cost more than the whole round on the gameplay hot path.


async def get_container(request: Request) -> Container:
    return container_of(request)


def container_of(request: Request) -> Container:
    container: Container | None = getattr(request.app.state, "container", None)
    if container is None:
        raise HTTPException(503, "the server is starting up")
    return container


async def get_gameplay(request: Request) -> GameplayService:
    return container_of(request).gameplay


def check_admin(request: Request) -> None:
    """401 for a missing or wrong bearer token; 403 when the server has no token configured."""
    expected = container_of(request).settings.admin_token()
    if not expected:
        raise HTTPException(
            403, "admin endpoints are disabled: no RPS_ADMIN_TOKEN is configured on the server"
        )
    header = request.headers.get("authorization", "")
    scheme, _, supplied = header.partition(" ")
    if scheme.lower() != "bearer" or not supplied:
        raise HTTPException(
            401,
            "admin token required: send Authorization: Bearer <RPS_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(supplied.strip().encode(), expected.encode()):
        raise HTTPException(401, "admin token is wrong", headers={"WWW-Authenticate": "Bearer"})


ContainerDep = Annotated[Container, Depends(get_container)]
GameplayDep = Annotated[GameplayService, Depends(get_gameplay)]


async def require_admin(request: Request) -> None:
    check_admin(request)


AdminDep = Depends(require_admin)
