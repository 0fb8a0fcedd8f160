"""Dependencies: the container built at start-up, its services, and the admin-token check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, HTTPException, Request

from rps.api.rate_limits import AdminAuth, bearer_token, rate_limits_of
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


P = ParamSpec("P")
T = TypeVar("T")


async def hot_path(
    container: Container, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run a gameplay call that touches the database (SPEC §9): on PostgreSQL in a worker
    thread, so a slow or unreachable database delays only the requests that need it and never
    the event loop; on SQLite in place, since a round there costs a fraction of a millisecond
    and the hop to a thread would cost more than the round."""
    if container.database.dialect == "sqlite":
        return call(*args, **kwargs)
    return await asyncio.to_thread(call, *args, **kwargs)


async def get_gameplay(request: Request) -> GameplayService:
    return container_of(request).gameplay


def check_admin(request: Request) -> None:
    """401 for a missing or wrong bearer token; 403 when the server has no token configured;
    429 for a client that sent too many wrong ones (RATE_LIMIT_AUTH_FAIL_PER_MIN)."""
    expected = container_of(request).settings.admin_token()
    if not expected:
        raise HTTPException(
            403, "admin endpoints are disabled: no RPS_ADMIN_TOKEN is configured on the server"
        )
    if rate_limits_of(request.app).authenticate(request.scope) is AdminAuth.VALID:
        return
    if not bearer_token(request.scope["headers"]):
        raise HTTPException(
            401,
            "admin token required: send Authorization: Bearer <RPS_ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise HTTPException(401, "admin token is wrong", headers={"WWW-Authenticate": "Bearer"})


ContainerDep = Annotated[Container, Depends(get_container)]
GameplayDep = Annotated[GameplayService, Depends(get_gameplay)]


async def require_admin(request: Request) -> None:
    check_admin(request)


AdminDep = Depends(require_admin)
