"""Promotion against a running app with real models: `rps promote` swaps Production and B in the
registry, rewrites the serving cache's markers and manifest, asks the app to reload, and writes the
ledger; the app serves the new mapping without a restart, and a restart loses no statistics."""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.integration.training.conftest import Platform
from tests.support.server import ServerProcess

TOKEN = "training-tests-admin-token-0123456789"


@pytest.fixture
def platform_copy(trained_platform: Platform, tmp_path: Path) -> Platform:
    """The trained platform's database, registry and cache, copied so promotions stay here."""
    data = tmp_path / "data"
    shutil.copytree(trained_platform.root / "data", data)
    env = {**trained_platform.env, "DATA_PATH": str(data)}
    copy = Platform(tmp_path, env, trained_platform.config_path)
    copy.rps("sync-cache")
    return copy


def versions(url: str, family: str) -> dict[str, str]:
    status = httpx.get(f"{url}/models/status").json()
    return {m["alias"]: m["version"] for m in status["models"] if m["family"] == family}


def play(url: str, policy: str, games: int) -> list[dict]:
    answers = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(games):
            game = client.post("/start_game", json={"policy": policy, "player_name": f"p{n}"})
            game_id = game.json()["game_id"]
            for round_no in range(1, 26):
                move = ("rock", "paper", "scissors")[(n + round_no) % 3]
                answer = client.post(
                    "/play", json={"game_id": game_id, "user_move": move, "round": round_no}
                ).json()
                answers.append(answer)
                if answer["finished"]:
                    break
    return answers


def craft_games(db_path: Path, alias: str, version: str, winner: str, count: int) -> None:
    """Finished xgboost games of ``version`` as ``alias`` with a chosen winner, each with one
    model round by that version (only games with a model round are promotion evidence)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(db_path) as conn:
        for _ in range(count):
            game_id = uuid.uuid4().hex
            conn.execute(
                "INSERT INTO games (id, session_id, player_name, policy, model_type, "
                "bot_model_alias, model_version, difficulty_mode, is_test, user_score, bot_score,"
                " winner, created_at, finished_at, source, rounds_played) VALUES (?, ?, 'crafted',"
                " 'forrest', 'xgboost', ?, ?, 'normal', 0, ?, ?, ?, ?, ?, 'human', 12)",
                (
                    game_id,
                    uuid.uuid4().hex,
                    alias,
                    version,
                    10.0 if winner == "user" else 4.0,
                    10.0 if winner == "bot" else 4.0,
                    winner,
                    now,
                    now,
                ),
            )
            conn.execute(
                "INSERT INTO rounds (game_id, step_no, user_move, bot_move, result, user_delta,"
                " bot_delta, user_score, bot_score, rock_pts, paper_pts, scissors_pts,"
                " decision_source, model_alias, model_version, created_at) VALUES (?, 4, 'rock',"
                " 'paper', 'lose', 0, 1, 0, 1, 1, 1.2, 1.7, 'model', ?, ?, ?)",
                (game_id, alias, version, now),
            )


def test_a_promotion_swaps_aliases_reloads_the_app_and_survives_a_restart(platform_copy):
    data = Path(platform_copy.env["DATA_PATH"])
    env = {**platform_copy.env, "MODEL_POLL_SECONDS": "0"}  # the reload must come from promote
    server = ServerProcess(env)
    promote_env = {"APP_URL": server.url}
    with server:
        before = versions(server.url, "xgboost")
        assert len(set(before.values())) == 4
        # Real model rounds: every alias's predictions are stored, B's feed the parity gate.
        answers = play(server.url, "forrest", 4)
        assert any(a["model_info"]["probability_source"] == "model" for a in answers)
        # 15 each: B is better at alpha 0.05 even if all four real games went to Production
        # and the bot won them (10 each left that case at always-valid p = 0.053).
        craft_games(data / "rps.db", "B", before["B"], "bot", 15)
        craft_games(data / "rps.db", "Production", before["Production"], "user", 15)

        result = platform_copy.rps("promote", "--model-types", "xgboost", **promote_env)
        assert "swap_production_b" in result.stdout, result.stdout + result.stderr
        assert "failed" not in result.stderr, result.stderr

        # The app serves the new mapping without a restart (its polling is off).
        after = versions(server.url, "xgboost")
        assert after["Production"] == before["B"]
        assert after["B"] == before["Production"]
        # The cache: manifest and markers name the new aliases.
        cache = data / "model-cache"
        manifest = json.loads((cache / "manifest.json").read_text())
        production = manifest["models"]["xgboost@Production"]
        assert production["version"] == before["B"]
        marker = cache / production["run_id"] / ".alias_Production"
        assert marker.read_text().strip() == f"rps_bot_xgboost@Production v{before['B']}"
        # The ledger.
        history = httpx.get(
            f"{server.url}/internal/promotion/history", params={"model_type": "xgboost"}
        ).json()["events"]
        swap = history[0]
        assert swap["decision"] == "swap_production_b"
        assert swap["applied"] is True
        assert swap["b_wins"] >= 15
        assert swap["production_wins"] <= swap["production_games"]
        assert swap["details"]["parity"][before["B"]]["ok"] is True
        assert swap["details"]["parity"][before["B"]]["replayed"] > 0
        assert swap["assignments_after"]["Production"] == before["B"]
        # A new game assigned to Production is played by the promoted version.
        for answer in play(server.url, "forrest", 3):
            info = answer["model_info"]
            if info["probability_source"] == "model":
                assert info["model_version"] == after[info["model_alias"]]
        summary_before = httpx.get(f"{server.url}/ops/summary").json()
        metrics_before = httpx.get(f"{server.url}/metrics").text

    # Restart: statistics come from the database, not from the process.
    with ServerProcess(env) as restarted:
        summary_after = httpx.get(f"{restarted.url}/ops/summary").json()
        metrics_after = httpx.get(f"{restarted.url}/metrics").text
        assert versions(restarted.url, "xgboost") == after

    def figures(summary: dict) -> dict:
        return {
            (f["model_type"], a["alias"]): (
                a["version"],
                a["predictions"],
                a["games"],
                a["win_rate"],
            )
            for f in summary["families"]
            for a in f["aliases"]
        }

    assert figures(summary_after) == figures(summary_before)
    assert [e["event_id"] for e in summary_after["ledger"]] == [
        e["event_id"] for e in summary_before["ledger"]
    ]
    swap_line = 'rps_model_promotion_events_total{decision="swap_production_b",model="xgboost"} 1.0'
    assert swap_line in metrics_before
    assert swap_line in metrics_after


def test_alias_set_and_rollback_move_one_alias_and_are_recorded(platform_copy):
    data = Path(platform_copy.env["DATA_PATH"])
    manifest_path = data / "model-cache" / "manifest.json"
    before = {
        k.split("@")[1]: v["version"]
        for k, v in json.loads(manifest_path.read_text())["models"].items()
        if k.startswith("xgboost@")
    }
    # shadow2 takes shadow1's version; shadow1 gets shadow2's in exchange.
    result = platform_copy.rps("alias", "set", "xgboost", "shadow2", before["shadow1"])
    assert "in exchange" in result.stdout
    moved = json.loads(manifest_path.read_text())["models"]
    assert moved["xgboost@shadow2"]["version"] == before["shadow1"]
    assert moved["xgboost@shadow1"]["version"] == before["shadow2"]
    platform_copy.rps("alias", "rollback", "xgboost", "shadow2")
    rolled = json.loads(manifest_path.read_text())["models"]
    # Rolling back exchanges again: both aliases are where they started.
    assert rolled["xgboost@shadow2"]["version"] == before["shadow2"]
    assert rolled["xgboost@shadow1"]["version"] == before["shadow1"]
    bad = platform_copy.rps("alias", "set", "xgboost", "shadow2", "999", check=False)
    assert bad.returncode == 2
    assert "no version" in bad.stderr
    bad_alias = platform_copy.rps("alias", "set", "xgboost", "gamma", "1", check=False)
    assert bad_alias.returncode == 2
    assert "unknown alias" in bad_alias.stderr
    with sqlite3.connect(data / "rps.db") as conn:
        decisions = [r[0] for r in conn.execute("SELECT decision FROM promotion_events")]
        moves = conn.execute(
            "SELECT count(*) FROM model_assignments WHERE assigned_by LIKE 'rps alias%'"
        ).fetchone()[0]
    assert decisions == ["alias_set", "rollback"]
    assert moves == 4  # two exchanges of two moves each


def test_continuation_training_publishes_and_reloads_the_running_app(platform_copy):
    env = {**platform_copy.env, "MODEL_POLL_SECONDS": "0"}
    server = ServerProcess(env)
    with server:
        before = versions(server.url, "multinomial_logistic")
        result = platform_copy.rps(
            "train-aliases",
            "--model-types",
            "multinomial_logistic",
            "--aliases",
            "shadow2",
            APP_URL=server.url,
        )
        assert "cache sync: serving cache at generation" in result.stderr
        assert f"app at {server.url} reloaded" in result.stderr
        after = versions(server.url, "multinomial_logistic")
    assert after["shadow2"] != before["shadow2"]
    assert int(after["shadow2"]) > int(before["shadow2"])
    assert {a: v for a, v in after.items() if a != "shadow2"} == {
        a: v for a, v in before.items() if a != "shadow2"
    }
