"""A game id is a capability (SPEC §9 "Hardening"): only the game's player knows it.

Two players play through the API, each with a finished and an open game in their own session.
A stranger then walks every public GET route of the app, with every parameter filled from what
is public (finished games' ids, player names, policies) and with their own session, and no
answer may hold either open game's id or either player's session id. The routes are read from
the app itself, so a route added later is walked too (or the walk fails, naming the parameter
it cannot fill).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from rps.api.deps import require_admin
from tests.integration.api.test_analytics_api import ClientFactory, client_with  # noqa: F401
from tests.integration.api.test_gameplay_api import play, play_to_end, start

STRANGER_SESSION = "stranger-session"


@dataclass(frozen=True)
class Player:
    name: str
    session_id: str
    finished_id: str
    open_id: str


@dataclass(frozen=True)
class World:
    client: TestClient
    app: Any
    alice: Player
    zoe: Player

    @property
    def secrets(self) -> dict[str, str]:
        """What no public answer to a stranger may contain."""
        found = {}
        for p in (self.alice, self.zoe):
            found[f"{p.name}'s open game id"] = p.open_id
            found[f"{p.name}'s session id"] = p.session_id
        return found


def _player(client: TestClient, name: str, policy: str) -> Player:
    finished = start(client, player_name=name, policy=policy)
    play_to_end(client, finished["game_id"], "paper")
    # The next game of the same session: mid-game, as the one a stranger took over before.
    opened = start(client, player_name=name, policy=policy, session_id=finished["session_id"])
    for _ in range(2):
        assert play(client, opened["game_id"], "rock").status_code == 200
    return Player(name, finished["session_id"], finished["game_id"], opened["game_id"])


@pytest.fixture
def world(client_with: ClientFactory) -> World:  # noqa: F811
    # One finished game ranks a player, so names do show on the boards the stranger reads; the
    # walk reads faster than any client may, so the rate limits are off.
    client, _ = client_with(
        LEADERBOARD_MIN_GAMES=1,
        RATE_LIMIT_START_PER_MIN=0,
        RATE_LIMIT_PLAY_PER_MIN=0,
        RATE_LIMIT_READ_PER_MIN=0,
    )
    alice = _player(client, "Alice", "brian")
    zoe = _player(client, "Zoe", "logan")
    return World(client, client.app, alice, zoe)


def _routes(routes: Any) -> Iterator[Any]:
    """Every route of the app, including those of included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif getattr(route, "path", None) is not None:
            yield route


def _needs_admin(route: Any) -> bool:
    pending = [route.dependant] if isinstance(route, APIRoute) else []
    while pending:
        dependant = pending.pop()
        if dependant.call is require_admin:
            return True
        pending.extend(dependant.dependencies)
    return False


def _public_get_routes(app: Any) -> tuple[list[Any], list[Any]]:
    gets = [r for r in _routes(app.routes) if "GET" in (getattr(r, "methods", None) or ())]
    return [r for r in gets if not _needs_admin(r)], [r for r in gets if _needs_admin(r)]


def _public_values(world: World) -> dict[str, list[str]]:
    """What a stranger may know, for each parameter name the routes use."""
    finished = [world.alice.finished_id, world.zoe.finished_id]
    return {
        "game_id": finished,
        "session_id": [STRANGER_SESSION],
        "policy": ["brian", "logan"],
        "opponent": ["brian"],
        "name": [world.alice.name, world.zoe.name],
        "player_name": [world.alice.name],
        "path": ["js/play.js"],
    }


def _urls(route: Any, values: dict[str, list[str]]) -> list[str]:
    """The route with its path filled in every known way, bare and with each known query
    parameter; fails naming a required parameter nobody knows a public value for."""
    if not isinstance(route, APIRoute):
        return [route.path]
    paths = [route.path]
    for param in route.dependant.path_params:
        assert param.name in values, f"{route.path}: no public value for {param.name!r}"
        template = next(p for p in paths[0].split("/") if p.startswith("{" + param.name))
        paths = [p.replace(template, v) for p in paths for v in values[param.name]]
    required = [q for q in route.dependant.query_params if q.field_info.is_required()]
    for param in required:
        assert param.name in values, f"{route.path}: no public value for {param.name!r}"
    optional = [q for q in route.dependant.query_params if q not in required and q.name in values]
    urls = []
    for path in paths:
        base = [f"{q.name}={values[q.name][0]}" for q in required]
        urls.append("?".join([path, "&".join(base)]) if base else path)
        urls.extend(
            f"{path}?{'&'.join([*base, f'{q.name}={value}'])}"
            for q in optional
            for value in values[q.name]
        )
    return urls


def test_no_public_answer_shows_an_open_games_id_or_another_players_session(
    world: World,
) -> None:
    public, admin_only = _public_get_routes(world.app)
    values = _public_values(world)
    answered: dict[str, int] = {}

    for route in public:
        for url in _urls(route, values):
            response = world.client.get(url)
            assert response.status_code < 500, f"{url}: {response.status_code}"
            for what, secret in world.secrets.items():
                assert secret not in response.text, f"GET {url} shows {what}"
            if response.status_code == 200:
                answered[route.path] = answered.get(route.path, 0) + 1

    # The walk means something: every public route answered, the public facts were there to be
    # seen, and what was skipped really is closed to a stranger.
    assert set(answered) == {r.path for r in public}
    assert {"/games", "/games/{game_id}", "/leaderboard", "/recent", "/stats"} <= set(answered)
    listed = world.client.get("/games").json()["games"]
    assert {g["game_id"] for g in listed} == {world.alice.finished_id, world.zoe.finished_id}
    board = world.client.get("/leaderboard").json()["entries"]
    assert {e["player_name"] for e in board} == {"Alice", "Zoe"}
    assert "/debug" in {r.path for r in admin_only}
    for route in admin_only:
        assert world.client.get(route.path).status_code == 401


def test_the_holder_of_an_open_games_id_sees_the_game_but_never_a_session_id(
    world: World,
) -> None:
    alice = world.alice
    for url in (f"/games/{alice.open_id}", f"/games/{alice.finished_id}"):
        state = world.client.get(url).json()
        assert "session_id" not in state
        assert alice.session_id not in str(state)
    assert world.client.get(f"/games/{alice.open_id}").json()["status"] == "active"
    assert len(world.client.get(f"/recent?game_id={alice.open_id}").json()["rounds"]) == 2
    assert world.client.get(f"/stats?game_id={alice.open_id}").json()["rounds"] == 2
    # The session id comes from /start_game alone, and still opens the session's own figures.
    mine = world.client.get(f"/stats?session_id={alice.session_id}").json()
    assert (mine["session_id"], mine["games"], mine["active_games"]) == (alice.session_id, 1, 1)
    assert world.zoe.session_id not in str(mine)
