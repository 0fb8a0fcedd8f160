"""Per-client rate limits (SPEC §9 Hardening): game starts, moves, statistics reads and failed
admin authentications beyond their limit get 429 with Retry-After; other clients are still
served; the admin token is exempt; X-Forwarded-For counts only from a trusted proxy; 0 turns a
limit off; the expensive reads are cached for a few seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from rps.api.fast_play import walk_routes
from rps.api.rate_limits import Limit, RateLimited, RateLimits, TokenBuckets
from rps.api.routers import promotion
from rps.settings import SettingsError, load_settings
from tests.support.aio import run_coroutine
from tests.support.limited_app import (
    ADMIN,
    LimitsClock,
    LimitsPlatform,
    new_game,
    new_limits_platform,
    start,
)
from tests.support.server import ServerProcess

OFF = {
    "RATE_LIMIT_START_PER_MIN": 0,
    "RATE_LIMIT_PLAY_PER_MIN": 0,
    "RATE_LIMIT_READ_PER_MIN": 0,
    "RATE_LIMIT_AUTH_FAIL_PER_MIN": 0,
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> LimitsPlatform:
    return new_limits_platform(tmp_path_factory.mktemp("rate-limits"))


def assert_too_many(response: httpx.Response, setting: str, per_minute: int) -> None:
    assert response.status_code == 429, response.text
    detail = response.json()["detail"]
    assert setting in detail
    assert f"at most {per_minute} a minute" in detail
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert f"retry in {retry_after} s" in detail


def play(client: TestClient, game_id: str, round_no: int) -> httpx.Response:
    return client.post("/play", json={"game_id": game_id, "user_move": "rock", "round": round_no})


def test_game_starts_beyond_the_limit_are_429_and_start_nothing(platform: LimitsPlatform) -> None:
    app = platform.app(**{**OFF, "RATE_LIMIT_START_PER_MIN": 3})
    client = TestClient(app, client=("203.0.113.1", 50000))
    for _ in range(3):
        assert start(client).status_code == 200
    games_before = platform.rows()["games"]
    assert_too_many(start(client), "RATE_LIMIT_START_PER_MIN", 3)
    assert platform.rows()["games"] == games_before
    # Another address has its own allowance.
    other = TestClient(app, client=("203.0.113.2", 50000))
    assert start(other).status_code == 200


def test_retry_after_says_when_the_next_request_passes(platform: LimitsPlatform) -> None:
    clock = LimitsClock()
    client = platform.client(
        **{**OFF, "RATE_LIMIT_START_PER_MIN": 3}, peer="203.0.113.30", clock=clock
    )
    for _ in range(3):
        assert start(client).status_code == 200
    refused = start(client)
    # Three a minute: a token comes back every 20 s.
    assert refused.headers["Retry-After"] == "20"
    clock.advance(19)
    assert start(client).status_code == 429
    clock.advance(1)
    assert start(client).status_code == 200
    assert start(client).status_code == 429
    # Left alone for a minute, a client has its whole allowance again.
    clock.advance(60)
    assert [start(client).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_moves_beyond_the_limit_are_429_and_play_no_round(platform: LimitsPlatform) -> None:
    app = platform.app(**{**OFF, "RATE_LIMIT_PLAY_PER_MIN": 3})
    client = TestClient(app, client=("203.0.113.3", 50000))
    game_id = new_game(client)
    for round_no in (1, 2, 3):
        assert play(client, game_id, round_no).status_code == 200
    assert_too_many(play(client, game_id, 4), "RATE_LIMIT_PLAY_PER_MIN", 3)
    state = client.get(f"/games/{game_id}").json()
    assert len(state["rounds"]) == 3
    other = TestClient(app, client=("203.0.113.4", 50000))
    assert play(other, game_id, 4).status_code == 200


def test_statistics_reads_share_one_limit_and_cheap_reads_have_none(
    platform: LimitsPlatform,
) -> None:
    app = platform.app(**{**OFF, "RATE_LIMIT_READ_PER_MIN": 3})
    client = TestClient(app, client=("203.0.113.5", 50000))
    for path in ("/leaderboard", "/stats/global", "/ops/summary"):
        assert client.get(path).status_code == 200, path
    for path in ("/win_streaks", "/bot_win_rates", "/stats/policy/logan", "/leaderboard"):
        assert_too_many(client.get(path), "RATE_LIMIT_READ_PER_MIN", 3)
    for path in ("/healthz", "/policies", "/games"):
        assert client.get(path).status_code == 200, path


def test_failed_admin_authentications_are_limited_and_then_no_token_is_compared(
    platform: LimitsPlatform,
) -> None:
    app = platform.app(**{**OFF, "RATE_LIMIT_AUTH_FAIL_PER_MIN": 2})
    client = TestClient(app, client=("203.0.113.6", 50000))
    for _ in range(4):  # no token is no guess: never counted
        assert client.get("/debug").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-0123456789abcdef"}
    for _ in range(2):
        assert client.get("/debug", headers=wrong).status_code == 401
    assert_too_many(client.get("/debug", headers=wrong), "RATE_LIMIT_AUTH_FAIL_PER_MIN", 2)
    # Locked out: even the right token is not compared, or a guesser would learn which guess
    # was right. Another address is unaffected.
    assert client.get("/debug", headers=ADMIN).status_code == 429
    assert client.post("/predict", json={}, headers=wrong).status_code == 429
    other = TestClient(app, client=("203.0.113.7", 50000))
    assert other.get("/debug", headers=ADMIN).status_code == 200


def test_a_wrong_token_on_a_public_route_counts_as_a_failed_authentication(
    platform: LimitsPlatform,
) -> None:
    # Otherwise the exemption would be an oracle: once the start limit is spent, a guess that
    # is answered 200 instead of 429 would be the token.
    app = platform.app(**{**OFF, "RATE_LIMIT_START_PER_MIN": 1, "RATE_LIMIT_AUTH_FAIL_PER_MIN": 2})
    client = TestClient(app, client=("203.0.113.8", 50000))
    assert start(client).status_code == 200
    guesses = [start(client, {"Authorization": f"Bearer guess-{n:032d}"}) for n in range(3)]
    assert [g.status_code for g in guesses] == [429, 429, 429]
    assert "RATE_LIMIT_START_PER_MIN" in guesses[0].json()["detail"]
    assert "RATE_LIMIT_AUTH_FAIL_PER_MIN" in guesses[2].json()["detail"]


def test_requests_with_the_admin_token_are_not_limited(platform: LimitsPlatform) -> None:
    app = platform.app(
        RATE_LIMIT_START_PER_MIN=1,
        RATE_LIMIT_PLAY_PER_MIN=1,
        RATE_LIMIT_READ_PER_MIN=1,
        RATE_LIMIT_AUTH_FAIL_PER_MIN=1,
    )
    client = TestClient(app, client=("203.0.113.9", 50000), headers=ADMIN)
    game_id = new_game(client)
    for round_no in (1, 2, 3):
        assert start(client).status_code == 200
        assert play(client, game_id, round_no).status_code == 200
        assert client.get("/leaderboard").status_code == 200
        assert client.get("/debug").status_code == 200


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(platform: LimitsPlatform) -> None:
    app = platform.app(**{**OFF, "RATE_LIMIT_START_PER_MIN": 1, "TRUSTED_PROXIES": "10.42.0.0/16"})
    ingress = TestClient(app, client=("10.42.3.4", 50000))

    def via(client: TestClient, forwarded_for: str) -> int:
        return start(client, {"X-Forwarded-For": forwarded_for}).status_code

    # Behind the trusted proxy each forwarded client has its own allowance; a client that puts
    # an address of its own choosing in front does not get a new one.
    assert via(ingress, "192.0.2.1") == 200
    assert via(ingress, "192.0.2.2") == 200
    assert via(ingress, "192.0.2.1") == 429
    assert via(ingress, "198.18.0.9, 192.0.2.1") == 429
    # From anywhere else the header is ignored: the peer is the client.
    stranger = TestClient(app, client=("198.51.100.99", 50000))
    assert via(stranger, "192.0.2.3") == 200
    assert via(stranger, "192.0.2.4") == 429
    # And with no TRUSTED_PROXIES (the default), the proxy is one client.
    untrusting = platform.app(**{**OFF, "RATE_LIMIT_START_PER_MIN": 1})
    proxy = TestClient(untrusting, client=("10.42.3.4", 50000))
    assert via(proxy, "192.0.2.5") == 200
    assert via(proxy, "192.0.2.6") == 429


def test_ipv6_clients_are_counted_per_64_block(platform: LimitsPlatform) -> None:
    app = platform.app(**{**OFF, "RATE_LIMIT_START_PER_MIN": 1})

    def status_from(address: str) -> int:
        return start(TestClient(app, client=(address, 50000))).status_code

    assert status_from("2001:db8:1:1::1") == 200
    assert status_from("2001:db8:1:1:ffff::2") == 429  # same /64: same subscriber
    assert status_from("2001:db8:1:2::1") == 200


def _start_twice(client: TestClient) -> list[int]:
    return [start(client).status_code for _ in range(2)]


def _play_twice(client: TestClient) -> list[int]:
    game_id = new_game(client)
    return [play(client, game_id, n).status_code for n in (1, 2)]


def _read_twice(client: TestClient) -> list[int]:
    return [client.get("/leaderboard").status_code for _ in range(2)]


def _fail_auth_twice(client: TestClient) -> list[int]:
    wrong = {"Authorization": "Bearer not-the-token-0123456789abcdef"}
    return [client.get("/debug", headers=wrong).status_code for _ in range(2)]


KINDS: dict[str, tuple[Callable[[TestClient], list[int]], int]] = {
    "RATE_LIMIT_START_PER_MIN": (_start_twice, 200),
    "RATE_LIMIT_PLAY_PER_MIN": (_play_twice, 200),
    "RATE_LIMIT_READ_PER_MIN": (_read_twice, 200),
    "RATE_LIMIT_AUTH_FAIL_PER_MIN": (_fail_auth_twice, 401),
}


@pytest.mark.parametrize("setting", KINDS)
def test_zero_turns_a_limit_off(platform: LimitsPlatform, setting: str) -> None:
    twice, ok = KINDS[setting]
    limited = TestClient(platform.app(**{setting: 1}), client=("203.0.113.20", 50000))
    assert twice(limited) == [ok, 429]
    unlimited = TestClient(platform.app(**{setting: 0}), client=("203.0.113.20", 50000))
    assert twice(unlimited) == [ok, ok]


def test_openapi_declares_429_wherever_a_limit_applies(platform: LimitsPlatform) -> None:
    app = platform.app()
    operations = app.openapi()["paths"]
    limited = {
        (method, path)
        for path, ops in operations.items()
        for method, op in ops.items()
        if "429" in op["responses"]
    }
    rate_limited_routes = {
        (method.lower(), route.path_format)
        for route in walk_routes(app.routes)
        if hasattr(route, "dependant")
        if any(isinstance(d.call, RateLimited) for d in route.dependant.dependencies)
        for method in route.methods
    }
    admin_routes = {
        ("get", "/debug"),
        ("post", "/models/reload"),
        ("post", "/predict"),
        ("post", "/predict-with-policy"),
        ("post", "/predict/batch"),
        ("post", "/internal/promotion/report"),
    }
    assert {("post", "/start_game"), ("post", "/play"), ("get", "/ops/summary")} <= (
        rate_limited_routes
    )
    assert rate_limited_routes | admin_routes <= limited


def test_a_repeated_ops_summary_is_served_from_the_read_cache(
    platform: LimitsPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[int] = []
    real = promotion.ops_summary

    def counted(container: Any, days: int = 14) -> Any:
        computed.append(days)
        return real(container, days)

    monkeypatch.setattr(promotion, "ops_summary", counted)
    client = platform.client(**OFF, READ_CACHE_SECONDS=60)
    first = client.get("/ops/summary")
    assert first.status_code == 200
    assert client.get("/ops/summary").json() == first.json()
    assert computed == [14]
    assert client.get("/ops/summary?days=7").status_code == 200  # another query
    assert computed == [14, 7]
    uncached = platform.client(**OFF, READ_CACHE_SECONDS=0)
    uncached.get("/ops/summary")
    uncached.get("/ops/summary")
    assert computed == [14, 7, 14, 14]


def test_concurrent_identical_reads_share_one_computation(
    platform: LimitsPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[int] = []
    real = promotion.ops_summary

    def slow(container: Any, days: int = 14) -> Any:
        computed.append(days)
        time.sleep(0.2)  # long enough for the other requests to arrive meanwhile
        return real(container, days)

    monkeypatch.setattr(promotion, "ops_summary", slow)
    app = platform.app(**OFF, READ_CACHE_SECONDS=60)

    async def five_at_once() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rps") as client:
            answers = await asyncio.gather(*(client.get("/ops/summary") for _ in range(5)))
        return [a.status_code for a in answers]

    assert run_coroutine(five_at_once()) == [200] * 5
    assert computed == [14]


def test_a_players_own_stats_are_never_stale(platform: LimitsPlatform) -> None:
    client = platform.client(**OFF, READ_CACHE_SECONDS=60)
    game_id = new_game(client)
    assert client.get(f"/stats?game_id={game_id}").json()["rounds"] == 0
    assert play(client, game_id, 1).status_code == 200
    assert client.get(f"/stats?game_id={game_id}").json()["rounds"] == 1


def test_idle_clients_buckets_are_dropped(tmp_path: Any) -> None:
    clock = LimitsClock()
    rate_limits = RateLimits(load_settings(DATA_PATH=tmp_path), clock=clock)
    buckets = rate_limits.buckets[Limit.START]

    def start_from(*hosts: str) -> None:
        for host in hosts:
            rate_limits.check(Limit.START, {"client": (host, 1), "headers": []})

    start_from(*(f"10.9.0.{n}" for n in range(200)))
    clock.advance(30)
    start_from(*(f"10.9.1.{n}" for n in range(200)))
    assert len(buckets) == 400
    # A minute after the first 200 came, their buckets are full again: they go as others come.
    clock.advance(31)
    start_from("10.9.9.9")
    assert len(buckets) == 201
    clock.advance(60)
    start_from("10.9.9.9")
    assert len(buckets) == 1


def test_buckets_are_capped_dropping_the_least_recently_seen_client() -> None:
    buckets = TokenBuckets(per_minute=1, max_clients=3)
    for n, client in enumerate(["a", "b", "c", "d", "e"]):
        assert buckets.take(client, now=float(n)) == 0
    assert len(buckets) == 3
    # "a" was dropped: it starts again with a full bucket; "e" is still counted.
    assert buckets.take("a", now=5.0) == 0
    assert buckets.take("e", now=5.0) > 0


def test_a_trusted_proxy_that_is_not_an_address_is_refused_naming_the_setting(
    tmp_path: Any,
) -> None:
    with pytest.raises(SettingsError, match=r"TRUSTED_PROXIES.*'ingress' is not an IP address"):
        load_settings(DATA_PATH=tmp_path, TRUSTED_PROXIES="10.42.0.0/16, ingress")
    settings = load_settings(DATA_PATH=tmp_path, TRUSTED_PROXIES=" 10.42.0.0/16, ::1 ")
    assert settings.trusted_proxies == ["10.42.0.0/16", "::1"]


def test_a_real_server_does_not_believe_x_forwarded_for_from_localhost(tmp_path: Any) -> None:
    # uvicorn's own proxy-header handling would trust 127.0.0.1; `rps serve` leaves the
    # decision to TRUSTED_PROXIES, empty here.
    env = {
        "DATA_PATH": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_START_PER_MIN": "1",
    }
    with ServerProcess(env, log_path=tmp_path / "server.log") as server:
        statuses = [
            httpx.post(
                f"{server.url}/start_game",
                json={"policy": "logan"},
                headers={"X-Forwarded-For": address},
            ).status_code
            for address in ("192.0.2.70", "192.0.2.71")
        ]
    assert statuses == [200, 429]
