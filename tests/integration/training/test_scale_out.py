"""The scale-out shape without a cluster (issue 7 item 3): two `rps serve` processes on different
ports share one PostgreSQL database, one S3 serving cache (moto's server, standing in for MinIO)
and one `mlflow server` (its store in PostgreSQL, artifacts proxied into S3), as the scale-out
overlay runs them. Games alternate between the two apps round by round and some rounds race on
both at once; no round is lost or duplicated. A promotion applied through one app is served by
the other after its reload.

Run with ``-s`` to see the figures (games, rounds, requests per app, 409s, wall time, rounds/s);
the tests assert behaviour only, never times.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, insert, select

from rps.persistence.tables import alias_predictions, games, rounds
from tests.integration.training.conftest import Platform, tiny_config
from tests.support.aio import run_coroutine
from tests.support.limits import LOAD_SETTINGS
from tests.support.postgres import PostgresServer
from tests.support.rows import round_row
from tests.support.s3 import S3Server
from tests.support.server import ServerProcess, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TOKEN = "scale-out-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
CACHE_BUCKET = "rps-models"
ARTIFACT_BUCKET = "rps-mlflow"
# The platform's own S3 user; moto accepts any key pair, the point is that the apps get theirs
# from MINIO_* and the MLflow server from AWS_*, as on Kubernetes.
S3_KEYS = {"MINIO_ACCESS_KEY": "rps-platform", "MINIO_SECRET_KEY": "rps-platform-secret"}
MLFLOW = Path(sys.executable).with_name("mlflow")
MLFLOW_START_TIMEOUT_S = 90.0

MOVES = ("rock", "paper", "scissors")
BEATER = {"rock": "paper", "paper": "scissors", "scissors": "rock"}
ALIASES = sorted(["Production", "B", "shadow1", "shadow2"])
FAMILY_OF = {"brian": "feedforward_nn", "forrest": "xgboost", "logan": "multinomial_logistic"}
GAMES = 20
POLICIES = ("forrest", "brian", "logan", "forrest", "hal")  # hal: a persona, no model rounds
SIMULATED_GAMES = 150  # persona games: enough for all 12 tiny models to be registered
SAME_MOVE_RACE_ROUND = 5  # both apps get the same move for this round at once
OTHER_MOVE_RACE_ROUND = 8  # both apps get different moves for this round at once
CRAFTED_GAMES = 40  # per arm: enough to outweigh the real games in the win rates


class PhaseClock:
    """Seconds spent in each setup phase, for the figures printed with ``-s``."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append((name, now - self._last))
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.laps)


@dataclass
class Stack:
    """The shared services, the CLI's environment and the two app processes."""

    platform: Platform
    database_url: str
    s3: S3Server
    apps: tuple[ServerProcess, ServerProcess]

    @property
    def urls(self) -> tuple[str, str]:
        return self.apps[0].url, self.apps[1].url


@dataclass
class GameLog:
    """What the client saw of one game: the answer it kept for every round, and the races."""

    game_id: str
    policy: str
    alias: str | None
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    same_move_race: list[httpx.Response] = field(default_factory=list)
    other_move_race: list[tuple[str, httpx.Response]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


@dataclass
class Played:
    logs: list[GameLog]
    versions_before: dict[str, dict[str, str]]  # family → alias → version, as both apps served
    requests: Counter[int]  # per app index
    statuses: Counter[int]


def _start_mlflow(
    postgres: PostgresServer, s3: S3Server, root: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """`mlflow server` as the Kubernetes Deployment runs it: PostgreSQL store, proxied S3."""
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
        "AWS_ACCESS_KEY_ID": S3_KEYS["MINIO_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": S3_KEYS["MINIO_SECRET_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    with (root / "mlflow.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(MLFLOW),
                "server",
                *("--backend-store-uri", postgres.create_database("scale_out_mlflow")),
                "--serve-artifacts",
                *("--artifacts-destination", f"s3://{ARTIFACT_BUCKET}/artifacts"),
                *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


def _wait_for_mlflow(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + MLFLOW_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"mlflow server not ready after {MLFLOW_START_TIMEOUT_S} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("scale-out")
    phases = PhaseClock()
    with ExitStack() as cleanup:
        s3 = S3Server(log_path=root / "moto.log").start()
        cleanup.callback(s3.stop)
        s3.create_bucket(CACHE_BUCKET)
        s3.create_bucket(ARTIFACT_BUCKET)

        mlflow, mlflow_url = _start_mlflow(postgres_server, s3, root)
        cleanup.callback(_stop, mlflow)

        config_path = root / "tiny.json"
        config_path.write_text(json.dumps(tiny_config()))
        database_url = postgres_server.create_database("scale_out_rps")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        env.update(
            DATA_PATH=str(root / "data"),
            DATABASE_URL=database_url,
            MLFLOW_TRACKING_URI=mlflow_url,
            MLFLOW_DISABLE_TELEMETRY="true",
            MODEL_CACHE_URI=f"s3://{CACHE_BUCKET}/serving",
            MINIO_ENDPOINT=s3.endpoint,
            RPS_ADMIN_TOKEN=TOKEN,
            TRAINING_CONFIG_PATH=str(config_path),
            MODEL_POLL_SECONDS="0",  # reloads come from the promotion (app 1) or by hand (app 2)
            LOG_LEVEL="WARNING",
            **S3_KEYS,
            **LOAD_SETTINGS,  # two apps under many concurrent games from one address
        )
        platform = Platform(root, env, config_path)
        platform.rps("migrate")
        phases.lap("start S3, MLflow, migrate")
        # Persona games while the MLflow server creates its schema: with the default (empty)
        # registry and cache settings the simulation does not wait for the server.
        platform.rps(
            "simulate",
            *("--users", "cal,hal,ace,bob", "--games", str(SIMULATED_GAMES), "--seed", "5"),
            MLFLOW_TRACKING_URI="",
            MODEL_CACHE_URI="",
        )
        phases.lap(f"simulate {SIMULATED_GAMES} games")
        _wait_for_mlflow(mlflow, mlflow_url, root / "mlflow.log")
        phases.lap("wait for MLflow")
        platform.rps("train")
        phases.lap("train 12 models")
        platform.rps("sync-cache")
        phases.lap("sync-cache to S3")

        apps = (
            ServerProcess(env, log_path=root / "app1.log"),
            ServerProcess(env, log_path=root / "app2.log"),
        )
        for app in apps:
            cleanup.callback(app.stop)
        # Both start (and run `rps migrate`) at once, as replicas of a Deployment do.
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda app: app.start(timeout_s=60), apps))
        phases.lap("start two apps")
        print(f"\nscale-out setup: {phases}")
        yield Stack(platform, database_url, s3, apps)


def served_versions(url: str) -> dict[str, dict[str, str]]:
    """family → alias → version, from the app's /models/status."""
    status = httpx.get(f"{url}/models/status", timeout=10).json()
    served: dict[str, dict[str, str]] = {}
    for model in status["models"]:
        served.setdefault(model["family"], {})[model["alias"]] = model["version"]
    return served


def _core(answer: dict[str, Any]) -> dict[str, Any]:
    """The part of a /play answer every retry of the round must repeat."""
    keys = ("round", "user_move", "bot_move", "result", "user_delta", "bot_delta", "finished")
    return {**{k: answer[k] for k in keys}, "scores": answer["scores"], "winner": answer["winner"]}


async def _play_game(
    n: int, clients: tuple[httpx.AsyncClient, httpx.AsyncClient], tally: Played
) -> GameLog:
    """Game ``n``: started on app ``n % 2``, round k played on app ``k % 2`` with ``round`` set;
    two rounds are sent to both apps at once."""

    async def post(app: int, path: str, body: dict[str, Any]) -> httpx.Response:
        response = await clients[app].post(path, json=body)
        tally.requests[app] += 1
        tally.statuses[response.status_code] += 1
        return response

    policy = POLICIES[n % len(POLICIES)]
    started = await post(n % 2, "/start_game", {"player_name": f"scale{n}", "policy": policy})
    assert started.status_code == 200, started.text
    game = started.json()
    log = GameLog(game["game_id"], policy, game["bot_model_alias"])
    rng = random.Random(n)
    for round_no in range(1, 21):
        move = rng.choice(MOVES)
        body = {"game_id": log.game_id, "user_move": move, "round": round_no}
        if round_no == SAME_MOVE_RACE_ROUND:
            log.same_move_race = list(
                await asyncio.gather(post(0, "/play", body), post(1, "/play", body))
            )
            accepted = [r for r in log.same_move_race if r.status_code == 200]
        elif round_no == OTHER_MOVE_RACE_ROUND:
            other = {**body, "user_move": BEATER[move]}
            raced = await asyncio.gather(post(0, "/play", body), post(1, "/play", other))
            log.other_move_race = [(move, raced[0]), (BEATER[move], raced[1])]
            accepted = [r for r in raced if r.status_code == 200]
        else:
            response = await post(round_no % 2, "/play", body)
            accepted = [response] if response.status_code == 200 else []
        if not accepted:
            log.unexpected.append(f"round {round_no}: no app accepted it")
            break
        answer = accepted[0].json()
        log.answers[round_no] = answer
        if answer["finished"]:
            break
    return log


@pytest.fixture(scope="module")
def played(stack: Stack) -> Played:
    """GAMES games (mixed policies) played concurrently, alternating between the two apps."""
    first, second = (served_versions(url) for url in stack.urls)
    assert first == second
    tally = Played([], first, Counter(), Counter())

    async def scenario() -> list[GameLog]:
        limits = httpx.Limits(max_connections=2 * GAMES)
        async with (
            httpx.AsyncClient(base_url=stack.urls[0], timeout=60, limits=limits) as app1,
            httpx.AsyncClient(base_url=stack.urls[1], timeout=60, limits=limits) as app2,
        ):
            return list(
                await asyncio.gather(*(_play_game(n, (app1, app2), tally) for n in range(GAMES)))
            )

    began = time.perf_counter()
    tally.logs = run_coroutine(scenario())
    wall_s = time.perf_counter() - began
    total_rounds = sum(len(log.answers) for log in tally.logs)
    same = [r.status_code for log in tally.logs for r in log.same_move_race]
    other = [r.status_code for log in tally.logs for _, r in log.other_move_race]
    print(
        f"\nscale-out: {GAMES} games, {total_rounds} rounds, "
        f"requests app1={tally.requests[0]} app2={tally.requests[1]}, "
        f"409s={tally.statuses[409]} (same-move races {same.count(409)} of {len(same) // 2}, "
        f"other-move races {other.count(409)} of {len(other) // 2}), "
        f"wall {wall_s:.2f} s, {total_rounds / wall_s:.1f} rounds/s"
    )
    return tally


@dataclass
class DatabaseSnapshot:
    """What PostgreSQL holds for the games, read directly (not through either app)."""

    rounds: dict[str, list[Any]]  # game id → its rounds rows, in step order
    rounds_played: dict[str, int]  # game id → games.rounds_played
    predicting_aliases: dict[tuple[str, int], list[str]]  # (game id, step) → one per row

    @classmethod
    def read(cls, database_url: str) -> DatabaseSnapshot:
        engine = create_engine(database_url)
        try:
            with engine.connect() as conn:
                by_game: dict[str, list[Any]] = {}
                for row in conn.execute(
                    select(rounds).order_by(rounds.c.game_id, rounds.c.step_no)
                ):
                    by_game.setdefault(row.game_id, []).append(row)
                played = dict(conn.execute(select(games.c.id, games.c.rounds_played)).all())
                aliases: dict[tuple[str, int], list[str]] = {}
                predictions = select(
                    alias_predictions.c.game_id,
                    alias_predictions.c.step_no,
                    alias_predictions.c.alias,
                )
                for game_id, step_no, alias in conn.execute(predictions):
                    aliases.setdefault((game_id, step_no), []).append(alias)
                return cls(by_game, played, aliases)
        finally:
            engine.dispose()


def bucket_keys(s3: S3Server, bucket: str) -> list[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_models_live_in_s3_and_the_mlflow_server_not_on_local_disk(stack: Stack) -> None:
    artifacts = bucket_keys(stack.s3, ARTIFACT_BUCKET)
    assert sum(key.endswith("/model.onnx") for key in artifacts) >= 12
    cache = bucket_keys(stack.s3, CACHE_BUCKET)
    assert "serving/manifest.json" in cache
    assert sum(key.endswith("/model.onnx") for key in cache) == 12
    data = stack.platform.root / "data"
    assert not (data / "mlartifacts").exists()
    assert not (data / "mlflow.db").exists()
    assert not (data / "model-cache").exists()


def test_both_apps_serve_the_same_twelve_models_from_the_s3_cache(stack: Stack) -> None:
    statuses = [httpx.get(f"{url}/models/status", timeout=10).json() for url in stack.urls]
    for status in statuses:
        assert len(status["models"]) == 12
        assert {m["source"] for m in status["models"]} == {"cache"}
        assert not any(m["fallback"] for m in status["models"])
    keyed = [{m["model"]: (m["version"], m["sha256"]) for m in s["models"]} for s in statuses]
    assert keyed[0] == keyed[1]
    assert statuses[0]["generation"] == statuses[1]["generation"]
    for url in stack.urls:
        ready = httpx.get(f"{url}/ready", timeout=10).json()
        assert ready["ready"] is True
        assert ready["degraded"] == []


def test_games_alternating_between_two_apps_lose_and_duplicate_no_round(
    stack: Stack, played: Played
) -> None:
    assert len(played.logs) == GAMES
    assert all(not log.unexpected for log in played.logs), [log.unexpected for log in played.logs]
    # Alternating rounds: each app served close to half of all requests.
    assert min(played.requests[0], played.requests[1]) > played.requests.total() / 3
    assert set(played.statuses) <= {200, 409}

    # Races on one round: the same move from both apps is stored once and both agree (or the
    # late one is refused); different moves: exactly one is stored, the other gets 409.
    for log in played.logs:
        if log.same_move_race:
            codes = sorted(r.status_code for r in log.same_move_race)
            assert codes in ([200, 200], [200, 409]), codes
            answers = [_core(r.json()) for r in log.same_move_race if r.status_code == 200]
            assert all(a == answers[0] for a in answers)
        if log.other_move_race:
            codes = sorted(r.status_code for _, r in log.other_move_race)
            assert codes == [200, 409], codes
            for move, response in log.other_move_race:
                if response.status_code == 200:
                    assert log.answers[OTHER_MOVE_RACE_ROUND]["user_move"] == move
                else:
                    assert log.game_id in response.json()["detail"]
    assert any(log.other_move_race for log in played.logs)

    database = DatabaseSnapshot.read(stack.database_url)
    for log in played.logs:
        states = [httpx.get(f"{url}/games/{log.game_id}", timeout=10).json() for url in stack.urls]
        assert states[0] == states[1]
        state = states[0]
        assert state["status"] == "finished"
        n = len(log.answers)
        assert [r["round"] for r in state["rounds"]] == list(range(1, n + 1)) == sorted(log.answers)
        for stored in state["rounds"]:
            seen = log.answers[stored["round"]]
            assert (stored["user_move"], stored["bot_move"]) == (
                seen["user_move"],
                seen["bot_move"],
            )
            assert stored["user_score"] == seen["user_score"]
        assert state["winner"] == log.answers[n]["winner"]

        # Straight from PostgreSQL: steps 1..n, no gap, no duplicate; scores = sum of deltas.
        in_db = database.rounds[log.game_id]
        assert [r.step_no for r in in_db] == list(range(1, n + 1))
        assert database.rounds_played[log.game_id] == n
        user = bot = 0
        for r in in_db:
            user += round(r.user_delta * 10)
            bot += round(r.bot_delta * 10)
            assert (round(r.user_score * 10), round(r.bot_score * 10)) == (user, bot)
        assert (round(state["user_score"] * 10), round(state["bot_score"] * 10)) == (user, bot)

        # Every model round was played by a served model and stored four alias predictions.
        family = FAMILY_OF.get(log.policy)
        for r in in_db:
            predicted_by = sorted(database.predicting_aliases.get((log.game_id, r.step_no), []))
            if family is not None and r.step_no >= 4:
                assert r.decision_source == "model", (log.policy, r.step_no, r.fallback_reason)
                assert log.alias in ("Production", "B")
                assert r.model_alias == log.alias
                assert r.model_version == played.versions_before[family][log.alias]
                assert predicted_by == ALIASES  # one row per alias, four in all
            else:
                assert r.decision_source != "model"
                assert predicted_by == []


def _craft_games(database_url: str, alias: str, version: str, winner: str, count: int) -> None:
    """Finished xgboost games of ``version`` as ``alias`` with a chosen winner, each with one
    model round by that version (only games with a model round are promotion evidence)."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4().hex,
            "session_id": uuid.uuid4().hex,
            "player_name": "crafted",
            "policy": "forrest",
            "model_type": "xgboost",
            "bot_model_alias": alias,
            "model_version": version,
            "difficulty_mode": "normal",
            "is_test": False,
            "user_score": 10.0 if winner == "user" else 4.0,
            "bot_score": 10.0 if winner == "bot" else 4.0,
            "winner": winner,
            "created_at": now,
            "finished_at": now,
            "source": "human",
            "rounds_played": 12,
        }
        for _ in range(count)
    ]
    model_rounds = [
        round_row(
            row["id"],
            4,
            bot_score=1.0,
            decision_source="model",
            model_alias=alias,
            model_version=version,
            created_at=now,
        )
        for row in rows
    ]
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(games), rows)
            conn.execute(insert(rounds), model_rounds)
    finally:
        engine.dispose()


def test_a_promotion_applied_through_one_app_is_served_by_both_after_reload(
    stack: Stack, played: Played
) -> None:
    app1, app2 = stack.urls
    before = served_versions(app1)["xgboost"]
    assert served_versions(app2)["xgboost"] == before
    assert len(set(before.values())) == 4
    # B's real rounds (from the alternating games) feed the parity gate; crafted results
    # make B the clear winner of the A/B test.
    assert any(log.policy == "forrest" and log.alias == "B" for log in played.logs)
    _craft_games(stack.database_url, "B", before["B"], "bot", CRAFTED_GAMES)
    _craft_games(stack.database_url, "Production", before["Production"], "user", CRAFTED_GAMES)

    result = stack.platform.rps("promote", "--model-types", "xgboost", APP_URL=app1)
    assert "swap_production_b" in result.stdout
    assert "failed" not in result.stderr, result.stderr

    # App 1 was reloaded by the promotion; app 2 (no polling) still serves the old set.
    after = served_versions(app1)["xgboost"]
    assert after["Production"] == before["B"]
    assert served_versions(app2)["xgboost"] == before
    ledger = httpx.get(
        f"{app2}/internal/promotion/history", params={"model_type": "xgboost"}, timeout=10
    ).json()["events"]
    assert ledger[0]["decision"] == "swap_production_b"
    assert ledger[0]["assignments_after"] == after

    # The operator's (or the poll's) reload brings app 2 onto the same mapping.
    reload = httpx.post(f"{app2}/models/reload", headers=ADMIN, timeout=60)
    assert reload.status_code == 200, reload.text
    assert served_versions(app2) == served_versions(app1)
    assert served_versions(app2)["xgboost"]["Production"] == before["B"]

    # A new game started on app 2 and assigned Production is played by the promoted version,
    # whichever app serves its rounds.
    with httpx.Client(timeout=30) as client:
        for attempt in range(40):
            game = client.post(
                f"{app2}/start_game", json={"policy": "forrest", "player_name": f"after{attempt}"}
            ).json()
            if game["bot_model_alias"] == "Production":
                break
        else:
            pytest.fail("no game of 40 was assigned Production")
        served = []
        for round_no in range(1, 7):
            url = (app1, app2)[round_no % 2]
            answer = client.post(
                f"{url}/play",
                json={"game_id": game["game_id"], "user_move": "rock", "round": round_no},
            )
            assert answer.status_code == 200, answer.text
            info = answer.json()["model_info"]
            if round_no >= 4:
                served.append(
                    (info["probability_source"], info["model_alias"], info["model_version"])
                )
            if answer.json()["finished"]:
                break
    assert served
    assert set(served) == {("model", "Production", before["B"])}
