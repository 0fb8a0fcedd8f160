"""The /play fast path skips no check of the /play route (SPEC §9 Hardening): it is taken for
well-formed moves, and every dependency and limit of the route applies on it too."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from rps.api.routers import game
from rps.api.routers.game import router as game_router
from tests.support.limited_app import (
    JSON,
    LimitsPlatform,
    new_game,
    new_limits_platform,
)

ROUTE_ONLY = {"fast_play": False}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> LimitsPlatform:
    return new_limits_platform(tmp_path_factory.mktemp("fast-play-limits"))


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Requests the /play route itself handled (its handler looks the container up here)."""
    calls: list[str] = []
    real = game.container_of

    def counted(request: Any) -> Any:
        if request.url.path == "/play":  # /start_game looks the container up the same way
            calls.append(request.url.path)
        return real(request)

    monkeypatch.setattr(game, "container_of", counted)
    return calls


def play_route() -> Any:
    return next(r for r in game_router.routes if getattr(r, "path", None) == "/play")


def move(game_id: str, round_no: int) -> dict[str, Any]:
    return {"game_id": game_id, "user_move": "rock", "round": round_no}


def test_the_fast_path_answers_well_formed_moves_itself(
    platform: LimitsPlatform, route_calls: list[str]
) -> None:
    fast = platform.client()
    game_id = new_game(fast)
    for round_no in (1, 2, 3):
        assert fast.post("/play", json=move(game_id, round_no)).status_code == 200
    assert route_calls == []
    # The same moves without the fast path are the route's (so the count above would have
    # seen them) ...
    route = platform.client(**ROUTE_ONLY)
    assert route.post("/play", json=move(game_id, 4)).status_code == 200
    assert route_calls == ["/play"]
    # ... as are those the fast path hands over: here, when a dependency of the route is one
    # it cannot run (an override), it sends every move to the route.
    app = platform.app()
    app.dependency_overrides[play_route().dependant.dependencies[0].call] = _allow
    assert TestClient(app).post("/play", json=move(game_id, 5)).status_code == 200
    assert route_calls == ["/play", "/play"]


async def _allow() -> None:
    return None


def test_every_dependency_of_the_play_route_runs_on_the_fast_path(
    platform: LimitsPlatform, route_calls: list[str]
) -> None:
    dependencies = [d.call for d in play_route().dependant.dependencies]
    assert dependencies, "the /play route has its rate limit"
    # The fast path runs a dependency through its check_scope; one without it would make the
    # fast path hand every move to the route (the test above would then fail).
    for call in dependencies:
        assert hasattr(call, "check_scope"), call
    # Each dependency, made to refuse, refuses moves on an app with the fast path.
    for call in dependencies:
        app = platform.app()
        app.dependency_overrides[call] = _refusal(repr(call))
        client = TestClient(app)
        answer = client.post("/play", json=move(new_game(client), 1))
        assert answer.status_code == 418
        assert answer.json()["detail"] == f"refused by {call!r}"


def _refusal(name: str) -> Any:
    async def refuse() -> None:
        raise HTTPException(418, f"refused by {name}")

    return refuse


def test_the_move_limit_answers_the_same_on_the_fast_path_and_the_route(
    platform: LimitsPlatform, route_calls: list[str]
) -> None:
    answers = {}
    for name, options in (("fast", {}), ("route", ROUTE_ONLY)):
        client = platform.client(**options, RATE_LIMIT_PLAY_PER_MIN=2, peer="192.0.2.50")
        game_id = new_game(client)
        statuses = [client.post("/play", json=move(game_id, n)).status_code for n in (1, 2, 3)]
        assert statuses == [200, 200, 429], name
        answers[name] = client.post("/play", json=move(game_id, 3))
        if name == "fast":
            assert route_calls == []  # the fast path counted and refused these itself
    fast, route = answers["fast"], answers["route"]
    assert fast.status_code == route.status_code == 429
    assert fast.headers["content-type"] == route.headers["content-type"] == "application/json"
    assert "Retry-After" in fast.headers
    assert "Retry-After" in route.headers
    assert (
        fast.json()["detail"].split("; retry in")[0]
        == route.json()["detail"].split("; retry in")[0]
    )


def test_the_body_cap_applies_to_the_fast_path(
    platform: LimitsPlatform, route_calls: list[str]
) -> None:
    client = platform.client(MAX_BODY_BYTES=512)
    game_id = new_game(client)
    body = move(game_id, 1)
    over = json.dumps(body).encode()[:-1] + b" " * 600 + b"}"  # valid, and over 512 bytes
    declared = client.post("/play", content=over, headers=JSON)
    chunked = client.post("/play", content=iter([over[:300], over[300:]]), headers=JSON)
    for answer in (declared, chunked):
        assert answer.status_code == 413
        assert "512 bytes" in answer.json()["detail"]
    assert client.post("/play", json=body).status_code == 200
    assert route_calls == []
