"""/metrics adds up every worker process's counts (several `--workers`)."""

from __future__ import annotations

import re

import httpx

from tests.support.server import ServerProcess

TOKEN = "workers-token-0123456789abcdef"


def total(text: str, name: str, **labels: str) -> float:
    value = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{"):
            head, number = line.rsplit(" ", 1)
            found = dict(re.findall(r'(\w+)="([^"]*)"', head))
            if all(found.get(k) == v for k, v in labels.items()):
                value += float(number)
    return value


def test_metrics_from_two_workers_are_merged(tmp_path):
    env = {"DATA_PATH": str(tmp_path), "RPS_ADMIN_TOKEN": TOKEN}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with ServerProcess(env, workers=2) as server:
        pids = set()
        played = 0
        for _ in range(6):
            # A fresh connection per game lets the kernel spread games over both workers.
            with httpx.Client(base_url=server.url, timeout=10) as client:
                game = client.post("/start_game", json={"policy": "logan"}).json()
                for round_no in range(1, 6):
                    answer = client.post(
                        "/play",
                        json={"game_id": game["game_id"], "user_move": "rock", "round": round_no},
                    )
                    assert answer.status_code == 200
                    played += 1
                pids.add(client.get("/debug", headers=auth).json()["pid"])
        for _ in range(20):
            with httpx.Client(base_url=server.url, timeout=10) as client:
                pids.add(client.get("/debug", headers=auth).json()["pid"])
        assert len(pids) == 2, "both workers should have served requests"
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
    labels = {"policy": "logan", "model_type": "multinomial_logistic"}
    assert total(text, "rps_action_predictions_total", **labels) == played
    assert total(text, "rps_http_requests_total", route="/play", method="POST") == played
    assert total(text, "rps_model_fallback_total", model="multinomial_logistic") == 6 * 2
