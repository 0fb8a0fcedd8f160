"""The serving cache (a real S3 server) and the registry both become unreachable under a running
app: it keeps serving the models it has, says so in /ready and /metrics, and never fails a round."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.integration.training.conftest import Platform
from tests.support.s3 import S3Server
from tests.support.server import ServerProcess, free_port

TOKEN = "training-tests-admin-token-0123456789"
BUCKET = "rps-serving"


@pytest.fixture
def s3_platform(trained_platform: Platform, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(trained_platform.root / "data", data)
    server = S3Server().start()
    server.client().create_bucket(Bucket=BUCKET)
    env = {
        **trained_platform.env,
        "DATA_PATH": str(data),
        "MODEL_CACHE_URI": f"s3://{BUCKET}/serving",
        "MINIO_ENDPOINT": server.endpoint,
        "MINIO_ACCESS_KEY": "rps-test",
        "MINIO_SECRET_KEY": "rps-test-secret",
    }
    platform = Platform(tmp_path, env, trained_platform.config_path)
    platform.rps("sync-cache")  # publish the 12 aliased models into S3
    try:
        yield platform, server
    finally:
        server.stop()


def play_game(url: str) -> list[dict]:
    answers = []
    with httpx.Client(base_url=url, timeout=30) as client:
        game = client.post("/start_game", json={"policy": "forrest"}).json()
        for round_no in range(1, 26):
            response = client.post(
                "/play", json={"game_id": game["game_id"], "user_move": "paper", "round": round_no}
            )
            assert response.status_code == 200, response.text
            answers.append(response.json())
            if answers[-1]["finished"]:
                break
    return answers


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no series {line_start}")


def test_the_app_keeps_serving_when_s3_and_the_registry_go_away(s3_platform):
    platform, s3 = s3_platform
    env = {
        **platform.env,
        "MODEL_POLL_SECONDS": "0.3",
        # The registry is a tracking server nobody listens on: only the cache can answer.
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with ServerProcess(env) as app:
        status = httpx.get(f"{app.url}/models/status").json()
        assert {m["source"] for m in status["models"]} == {"cache"}
        served = {m["model"]: m["version"] for m in status["models"]}

        s3.stop()  # the cache goes away; the registry never answered

        # The manifest poll fails quietly; an explicit reload keeps every model, marked stale.
        reloaded = httpx.post(f"{app.url}/models/reload", headers=headers, timeout=120)
        assert reloaded.status_code == 200, reloaded.text
        degraded = reloaded.json()["degraded"]
        assert len(degraded) == 12
        assert {d["reason"] for d in degraded} == {"stale"}
        status = httpx.get(f"{app.url}/models/status").json()
        assert {m["model"]: m["version"] for m in status["models"]} == served
        assert all(m["stale_reason"] for m in status["models"])

        ready = httpx.get(f"{app.url}/ready")
        assert ready.status_code == 200
        assert len(ready.json()["degraded"]) == 12

        # Rounds are still played by the models they were played by before.
        answers = play_game(app.url)
        model_rounds = [a for a in answers if a["model_info"]["probability_source"] == "model"]
        assert model_rounds
        for answer in model_rounds:
            key = f"xgboost@{answer['model_info']['model_alias']}"
            assert answer["model_info"]["model_version"] == served[key]

        metrics = httpx.get(f"{app.url}/metrics").text
        # No source could load anything: the reload counts as failed (the alert's series).
        assert metric(metrics, 'rps_model_reloads_total{result="failed"}') >= 1
        assert metric(metrics, 'rps_model_reloads_total{result="success"}') >= 1
        assert httpx.get(f"{app.url}/healthz").status_code == 200
