"""The app serves trained models: from the serving cache, else the registry, with hot reload."""

from __future__ import annotations

import httpx

from tests.integration.training.conftest import Platform
from tests.support.server import ServerProcess

TOKEN = "training-tests-admin-token-0123456789"


def play_game(url: str, policy: str) -> list[dict]:
    with httpx.Client(base_url=url, timeout=30) as client:
        game = client.post("/start_game", json={"policy": policy}).json()
        answers = []
        for round_no in range(1, 21):
            response = client.post(
                "/play", json={"game_id": game["game_id"], "user_move": "rock", "round": round_no}
            )
            assert response.status_code == 200, response.text
            answers.append(response.json())
            if answers[-1]["finished"]:
                break
        return answers


def server_env(platform: Platform) -> dict[str, str]:
    return {**platform.env, "MODEL_POLL_SECONDS": "0.5"}


def test_the_app_loads_all_12_models_from_the_cache_and_plays_them(trained_platform):
    trained_platform.rps("sync-cache")
    with ServerProcess(server_env(trained_platform)) as server:
        status = httpx.get(f"{server.url}/models/status").json()
        assert status["loaded"] is True
        assert len(status["models"]) == 12
        assert {m["source"] for m in status["models"]} == {"cache"}
        assert all(m["version"] and m["sha256"] for m in status["models"])
        assert httpx.get(f"{server.url}/ready").json() == {"ready": True, "degraded": []}
        answers = play_game(server.url, "forrest")
        for answer in answers[3:]:
            info = answer["model_info"]
            assert info["probability_source"] == "model"
            assert info["model_version"]
            assert len(info["model_run_id"]) == 8
            assert info["fallback_reason"] is None
            probs = answer["debug"]["probabilities"]
            assert abs(sum(probs.values()) - 1.0) < 1e-4
            evs = answer["debug"]["expected_values"]
            assert answer["bot_move"] == max(evs, key=lambda m: (evs[m], -"rps".index(m[0])))
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'rps_model_loaded_info{alias="Production",model="xgboost"' in metrics
        assert 'rps_model_reloads_total{result="success"} 1.0' in metrics


def test_without_a_cache_the_registry_serves_and_a_reload_needs_the_token(trained_platform):
    env = {
        **server_env(trained_platform),
        "MODEL_CACHE_URI": (trained_platform.root / "none").as_uri(),
    }
    with ServerProcess(env) as server:
        status = httpx.get(f"{server.url}/models/status").json()
        assert {m["source"] for m in status["models"]} == {"registry"}
        assert httpx.post(f"{server.url}/models/reload").status_code == 401
        reloaded = httpx.post(
            f"{server.url}/models/reload",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        assert reloaded.status_code == 200
        assert reloaded.json()["degraded"] == []


def test_a_new_cache_generation_is_picked_up_while_games_go_on(trained_platform):
    import threading
    import time

    trained_platform.rps("sync-cache")
    with ServerProcess(server_env(trained_platform)) as server:
        before = {m["model"]: m for m in httpx.get(f"{server.url}/models/status").json()["models"]}
        errors: list[str] = []
        stop = threading.Event()

        def keep_playing() -> None:
            while not stop.is_set():
                try:
                    play_game(server.url, "forrest")
                except Exception as exc:  # any failed request is a dropped request
                    errors.append(repr(exc))

        players = [threading.Thread(target=keep_playing) for _ in range(8)]
        for player in players:
            player.start()
        try:
            # --replace-live: B itself moves to its retrained version (by default it would
            # become a challenger for the shadows).
            trained_platform.rps(
                "train-aliases", "--model-types", "xgboost", "--aliases", "B", "--replace-live"
            )
            trained_platform.rps("sync-cache", "--clean")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                now = {
                    m["model"]: m for m in httpx.get(f"{server.url}/models/status").json()["models"]
                }
                if now["xgboost@B"]["version"] != before["xgboost@B"]["version"]:
                    break
                time.sleep(0.3)
        finally:
            stop.set()
            for player in players:
                player.join(timeout=60)
        assert now["xgboost@B"]["version"] != before["xgboost@B"]["version"]
        assert now["xgboost@Production"]["version"] == before["xgboost@Production"]["version"]
        assert errors == []
