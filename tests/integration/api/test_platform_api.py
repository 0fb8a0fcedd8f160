"""Health, info, metrics and the admin gate."""

from __future__ import annotations

import random
import re

import pytest
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.bootstrap import build_container
from rps.settings import load_settings
from tests.conftest import ADMIN_TOKEN
from tests.support.limits import UNREACHED_LIMITS


def metric_value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, value = line.rsplit(" ", 1)
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    raise AssertionError(f"no series {name}{labels}")


def test_healthz_answers_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_ready_lists_every_family_alias_on_fallback(client):
    data = client.get("/ready").json()
    assert data["ready"] is True
    degraded = {d["model"] for d in data["degraded"]}
    assert len(degraded) == 12
    assert "xgboost@Production" in degraded
    assert {d["reason"] for d in data["degraded"]} == {"no_model"}


def test_ready_is_503_when_the_database_is_unreachable(tmp_path):
    settings = load_settings(
        DATA_PATH=tmp_path, DATABASE_URL="postgresql+psycopg://x@127.0.0.1:1/x"
    )
    container = build_container(settings)
    with TestClient(create_app(container=container)) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["detail"] == "database unreachable"


def test_info_reports_versions_and_never_secrets(client):
    response = client.get("/info")
    data = response.json()
    assert data["feature_count"] == 50
    assert data["feature_version"]
    assert "config" not in data  # settings are for `rps config`, not a public endpoint
    assert ADMIN_TOKEN not in response.text


def test_admin_endpoints_need_the_bearer_token(client, admin_headers):
    assert client.get("/debug").status_code == 401
    assert client.get("/debug", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/debug", headers={"Authorization": "Basic abc"}).status_code == 401
    response = client.get("/debug", headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["models"]["xgboost@Production"]["fallback"] is True


def test_admin_endpoints_are_403_when_no_token_is_configured(tmp_path):
    settings = load_settings(DATA_PATH=tmp_path, RPS_ADMIN_TOKEN="")
    container = build_container(settings)
    with TestClient(create_app(container=container)) as client:
        response = client.get("/debug", headers={"Authorization": "Bearer anything"})
        assert response.status_code == 403
        assert "RPS_ADMIN_TOKEN" in response.json()["detail"]


def test_admin_token_file_written_by_up_is_honoured(tmp_path):
    settings = load_settings(DATA_PATH=tmp_path, RPS_ADMIN_TOKEN="")
    token, path = settings.ensure_admin_token()
    assert path is not None
    assert path.stat().st_mode & 0o777 == 0o600
    assert settings.ensure_admin_token() == (token, path)  # created once, then reused
    container = build_container(settings)
    with TestClient(create_app(container=container)) as client:
        ok = client.get("/debug", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200


def test_metrics_count_rounds_games_fallbacks_and_http_by_route_template(client):
    before = client.get("/metrics").text
    for name in ("rps_games_total", "rps_action_wins_total", "rps_action_losses_total"):
        for policy, family in (("brian", "feedforward_nn"), ("logan", "multinomial_logistic")):
            assert metric_value(before, name, policy=policy, model_type=family) == 0.0
    game = client.post("/start_game", json={"policy": "forrest"}).json()
    rounds = 0
    finished = False
    while not finished:
        answer = client.post("/play", json={"game_id": game["game_id"], "user_move": "rock"})
        finished = answer.json()["finished"]
        rounds += 1
    text = client.get("/metrics").text
    labels = {"policy": "forrest", "model_type": "xgboost", "difficulty": "standard"}
    played = sum(
        metric_value(text, "rps_action_predictions_total", move=m, **labels)
        for m in ("rock", "paper", "scissors")
    )
    assert played == rounds
    assert metric_value(text, "rps_games_total", **labels) == 1
    assert metric_value(text, "rps_model_fallback_total", model="xgboost", reason="no_model") == (
        rounds - 3
    )
    assert (
        metric_value(text, "rps_http_requests_total", route="/play", method="POST", status="200")
        == rounds
    )
    assert game["game_id"] not in text  # ids never become labels
    client.get("/games/abc")
    text = client.get("/metrics").text
    assert (
        metric_value(
            text, "rps_http_requests_total", route="/games/{game_id}", method="GET", status="404"
        )
        == 1
    )


@pytest.mark.parametrize("split", [0.2, 0.5, 0.8])
def test_ab_split_over_5000_games_is_within_two_points_of_the_setting(tmp_path, split):
    from rps.domain.policy import Family
    from rps.serving.assignment import assign_alias

    ids = [f"game-{random.Random(i).getrandbits(64):x}" for i in range(5000)]
    share = sum(assign_alias(g, split).value == "Production" for g in ids) / len(ids)
    assert abs(share - split) <= 0.02
    assert all(assign_alias(g, split, enabled=False).value == "Production" for g in ids[:100])
    assert Family.XGBOOST  # the split is per family; the setting is exercised in the next test


def test_disabling_ab_testing_always_assigns_production(tmp_path):
    # 30 starts from one client: the start limit is set out of reach (its default is 30/min).
    settings = load_settings(DATA_PATH=tmp_path, ENABLE_AB_TESTING=False, **UNREACHED_LIMITS)
    from rps.persistence.database import Database, migrate

    db = Database(settings.database_url)
    migrate(db)
    db.dispose()
    with TestClient(create_app(container=build_container(settings))) as client:
        aliases = {
            client.post("/start_game", json={"policy": "brian"}).json()["bot_model_alias"]
            for _ in range(30)
        }
    assert aliases == {"Production"}


def test_per_family_split_overrides_the_global_ratio(tmp_path):
    settings = load_settings(
        DATA_PATH=tmp_path, AB_SPLIT_RATIO_XGBOOST=0.0, AB_SPLIT_RATIO=1.0, **UNREACHED_LIMITS
    )
    from rps.persistence.database import Database, migrate

    db = Database(settings.database_url)
    migrate(db)
    db.dispose()
    with TestClient(create_app(container=build_container(settings))) as client:
        forrest = {
            client.post("/start_game", json={"policy": "forrest"}).json()["bot_model_alias"]
            for _ in range(20)
        }
        brian = {
            client.post("/start_game", json={"policy": "brian"}).json()["bot_model_alias"]
            for _ in range(20)
        }
    assert forrest == {"B"}
    assert brian == {"Production"}
