"""Request bodies are capped before they are read (SPEC §9 Hardening): 413 with a JSON detail
naming the limit, on every POST route, for a declared length and for a chunked body alike;
nothing is stored; bodies within the cap work; a real server stays flat under a 50 MB body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.limited_app import (
    ADMIN,
    JSON,
    TOKEN,
    LimitsPlatform,
    new_game,
    new_limits_platform,
)
from tests.support.server import ServerProcess

CAP = 1024
BATCH_CAP = 4096
CAPS = {"MAX_BODY_BYTES": CAP, "MAX_BATCH_BODY_BYTES": BATCH_CAP}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> LimitsPlatform:
    return new_limits_platform(tmp_path_factory.mktemp("body-limits"))


def post_routes(platform: LimitsPlatform) -> list[str]:
    schema = platform.app().openapi()
    return sorted(path for path, operations in schema["paths"].items() if "post" in operations)


def cap_of(path: str) -> tuple[int, str]:
    if path == "/predict/batch":
        return BATCH_CAP, "MAX_BATCH_BODY_BYTES"
    return CAP, "MAX_BODY_BYTES"


def padded(body: dict[str, object], size: int) -> bytes:
    """``body`` as JSON, padded with spaces to exactly ``size`` bytes."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def in_chunks(data: bytes, chunk: int = 256) -> Iterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


def assert_refused(response: httpx.Response, path: str) -> None:
    limit, setting = cap_of(path)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert str(limit) in detail
    assert setting in detail


def test_every_post_route_is_declared_and_capped(platform: LimitsPlatform) -> None:
    routes = post_routes(platform)
    # The routes this file covers: a new POST route shows up here and in the tests below.
    assert set(routes) >= {
        "/start_game",
        "/play",
        "/predict",
        "/predict-with-policy",
        "/predict/batch",
        "/models/reload",
        "/internal/promotion/report",
    }
    schema = platform.app().openapi()
    for path in routes:
        assert "413" in schema["paths"][path]["post"]["responses"], path


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_is_413_on_every_post_route_and_stores_nothing(
    platform: LimitsPlatform, chunked: bool
) -> None:
    client = platform.client(**CAPS)
    before = platform.rows()
    for path in post_routes(platform):
        body = b"{" + b" " * cap_of(path)[0] + b"}"
        # With the admin token: a body over the cap is refused before any route runs, so
        # not even an admin route (a reload, a ledger report) does its work.
        response = client.post(
            path, content=in_chunks(body) if chunked else body, headers={**JSON, **ADMIN}
        )
        assert_refused(response, path)
    assert platform.rows() == before


def test_a_body_of_exactly_the_cap_is_played_and_one_byte_more_is_not(
    platform: LimitsPlatform,
) -> None:
    client = platform.client(**CAPS)
    game_id = new_game(client)
    move = {"game_id": game_id, "user_move": "rock", "round": 1}
    at_cap = client.post("/play", content=padded(move, CAP), headers=JSON)
    assert at_cap.status_code == 200, at_cap.text
    assert at_cap.json()["round"] == 1
    over = client.post("/play", content=padded({**move, "round": 2}, CAP + 1), headers=JSON)
    assert_refused(over, "/play")
    chunked = client.post(
        "/play", content=in_chunks(padded({**move, "round": 2}, CAP)), headers=JSON
    )
    assert chunked.status_code == 200, chunked.text
    assert chunked.json()["round"] == 2
    state = client.get(f"/games/{game_id}").json()
    assert [r["round"] for r in state["rounds"]] == [1, 2]


def test_predict_batch_has_its_own_larger_cap(platform: LimitsPlatform) -> None:
    client = platform.client(**CAPS)
    item = {
        "policy": "logan",
        "round_values": {"rock": 1.0, "paper": 2.0, "scissors": 3.0},
    }
    batch = padded({"items": [item, item]}, 3 * CAP)
    answer = client.post("/predict/batch", content=batch, headers={**JSON, **ADMIN})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["results"]) == 2
    single = client.post("/predict", content=padded(item, 3 * CAP), headers={**JSON, **ADMIN})
    assert_refused(single, "/predict")


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def test_a_real_server_refuses_a_50_mb_body_without_growing(tmp_path: Path) -> None:
    """Every POST route of a real server, with and without the admin token: 413, and the
    server's memory stays where it was."""
    env = {"DATA_PATH": str(tmp_path / "data"), "LOG_LEVEL": "WARNING", "RPS_ADMIN_TOKEN": TOKEN}
    body = b"x" * (50 * 1024 * 1024)
    routes = (
        "/play",
        "/start_game",
        "/predict",
        "/predict-with-policy",
        "/predict/batch",
        "/models/reload",
        "/internal/promotion/report",
    )
    answers: list[tuple[str, httpx.Response]] = []
    with ServerProcess(env, log_path=tmp_path / "server.log") as server:
        (pid,) = server.pids()  # one worker: the server is this one process
        with httpx.Client(base_url=server.url, timeout=60) as client:
            # Warm the path a refusal takes, then measure.
            warm = client.post("/play", content=body[: 2 * 1024 * 1024], headers=JSON)
            assert warm.status_code == 413
            before_kb = _rss_kb(pid)
            for path in routes:
                for headers in (JSON, {**JSON, **ADMIN}):
                    answers.append((path, client.post(path, content=body, headers=headers)))
                    chunks = in_chunks(body, 1024 * 1024)
                    answers.append((path, client.post(path, content=chunks, headers=headers)))
            after_kb = _rss_kb(pid)
            assert client.get("/healthz").status_code == 200
    for path, response in answers:
        assert response.status_code == 413, (path, response.status_code)
        assert "bytes" in response.json()["detail"], path
    assert after_kb - before_kb < 8 * 1024, (before_kb, after_kb)
