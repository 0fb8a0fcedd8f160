"""The `rps` CLI run as a user runs it: a subprocess with its own environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from rps.settings import Settings
from tests.support.server import ServerProcess

SECRET = "cli-secret-token-5f0c9e-0123456789"


def _env(data_path: Path, **extra: str) -> dict[str, str]:
    """The inherited environment minus every rps setting, plus DATA_PATH and ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    # Wide, colourless output so nothing is wrapped or split by escape codes.
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb", DATA_PATH=str(data_path))
    env.update(extra)
    return env


def rps(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rps.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def _query(data_path: Path, sql: str) -> list[dict[str, Any]]:
    engine = create_engine(f"sqlite:///{data_path.resolve() / 'rps.db'}")
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql)).mappings()]
    finally:
        engine.dispose()


def _moves_in_creation_order(data_path: Path) -> list[tuple[Any, ...]]:
    rows = _query(
        data_path,
        "SELECT g.policy, g.player_name, r.step_no, r.user_move, r.bot_move, r.result "
        "FROM rounds r JOIN games g ON g.id = r.game_id "
        "ORDER BY g.created_at, g.id, r.step_no",
    )
    return [tuple(r.values()) for r in rows]


def _assert_scores_match_rounds(data_path: Path) -> None:
    games = _query(data_path, "SELECT id, user_score, bot_score, rounds_played FROM games")
    for game in games:
        rounds = _query(
            data_path,
            "SELECT step_no, user_delta, bot_delta, user_score, bot_score FROM rounds "
            f"WHERE game_id = '{game['id']}' ORDER BY step_no",
        )
        assert [r["step_no"] for r in rounds] == list(range(1, len(rounds) + 1))
        assert game["rounds_played"] == len(rounds)
        user = sum(round(r["user_delta"] * 10) for r in rounds)
        bot = sum(round(r["bot_delta"] * 10) for r in rounds)
        assert round(game["user_score"] * 10) == user == round(rounds[-1]["user_score"] * 10)
        assert round(game["bot_score"] * 10) == bot == round(rounds[-1]["bot_score"] * 10)
        # A finished game: one side reached 10 points.
        assert max(user, bot) >= 100


def test_migrate_creates_the_schema_and_a_second_run_says_it_is_up_to_date(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path / "data")

    first = rps("migrate", env=env)
    second = rps("migrate", env=env)

    assert first.returncode == 0, _output(first)
    assert "migrated" in _output(first)
    assert "up to date" not in _output(first)
    assert (tmp_path / "data" / "rps.db").exists()
    assert second.returncode == 0, _output(second)
    assert "up to date" in _output(second)
    tables = _query(tmp_path / "data", "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert {"games", "rounds"} <= {t["name"] for t in tables}


def test_config_shows_the_settings_with_the_admin_token_masked(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", RPS_ADMIN_TOKEN=SECRET)

    table = rps("config", env=env)
    as_json = rps("config", "--json", env=env)

    assert table.returncode == 0, _output(table)
    assert as_json.returncode == 0, _output(as_json)
    assert SECRET not in _output(table)
    assert SECRET not in _output(as_json)
    shown = json.loads(as_json.stdout)
    assert shown["RPS_ADMIN_TOKEN"] == "****"
    assert shown["DATA_PATH"] == str(tmp_path / "data")
    token_rows = [line for line in table.stdout.splitlines() if "RPS_ADMIN_TOKEN" in line]
    assert len(token_rows) == 1
    assert "****" in token_rows[0]


def test_config_hides_the_password_in_a_database_url(tmp_path: Path) -> None:
    url = "postgresql+psycopg://rps:hunter2-db-pass@db.example:5432/rps"
    env = _env(tmp_path / "data", DATABASE_URL=url)

    result = rps("config", "--json", env=env)

    assert result.returncode == 0, _output(result)
    assert "hunter2-db-pass" not in _output(result)
    assert (
        json.loads(result.stdout)["database_url"]
        == "postgresql+psycopg://rps:****@db.example:5432/rps"
    )


@pytest.mark.parametrize("command", [["config"], ["migrate"], ["simulate", "--games", "1"]])
def test_an_invalid_setting_fails_with_exit_code_2_naming_the_variable(
    tmp_path: Path, command: list[str]
) -> None:
    env = _env(tmp_path / "data", AB_SPLIT_RATIO="2")

    result = rps(*command, env=env)

    assert result.returncode == 2, _output(result)
    assert "AB_SPLIT_RATIO" in _output(result)
    assert "Traceback" not in _output(result)
    assert not (tmp_path / "data" / "rps.db").exists()


def test_simulate_stores_persona_games_and_prints_every_pair(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ["--users", "ace,cal", "--policies", "brian,forrest", "--games", "12", "--seed", "3"]

    result = rps("simulate", *args, env=_env(data))

    assert result.returncode == 0, _output(result)
    games = _query(data, "SELECT player_name, policy, source, is_test, winner FROM games")
    assert len(games) == 12
    assert {g["source"] for g in games} == {"persona"}
    assert {g["player_name"] for g in games} == {"Ace", "Cal"}
    assert {g["policy"] for g in games} == {"brian", "forrest"}
    assert not any(g["is_test"] for g in games)
    assert all(g["winner"] in ("user", "bot", "tie") for g in games)
    pairs = {(g["player_name"], g["policy"]) for g in games}
    assert pairs == {("Ace", "brian"), ("Ace", "forrest"), ("Cal", "brian"), ("Cal", "forrest")}
    _assert_scores_match_rounds(data)
    # The summary table has one row per pair, each with its 3 games.
    rows = [line for line in result.stdout.splitlines() if "ace" in line or "cal" in line]
    for persona in ("ace", "cal"):
        for policy in ("brian", "forrest"):
            matching = [r for r in rows if persona in r and policy in r]
            assert len(matching) == 1, result.stdout
            assert " 3 " in matching[0], matching[0]
    assert "12 games" in _output(result)


def test_simulate_with_the_same_seed_plays_the_same_moves(tmp_path: Path) -> None:
    args = ["--users", "ace,cal", "--policies", "brian,forrest", "--games", "6"]
    runs = {}
    for name, seed in [("first", "3"), ("second", "3"), ("other", "4")]:
        result = rps("simulate", *args, "--seed", seed, env=_env(tmp_path / name))
        assert result.returncode == 0, _output(result)
        runs[name] = _moves_in_creation_order(tmp_path / name)

    assert runs["first"], "no rounds stored"
    assert runs["first"] == runs["second"]
    assert runs["first"] != runs["other"]


def test_simulate_with_test_marks_every_game_as_a_test_game(tmp_path: Path) -> None:
    data = tmp_path / "data"

    result = rps(
        "simulate",
        "--users",
        "bob",
        "--policies",
        "logan",
        "--games",
        "3",
        "--test",
        env=_env(data),
    )

    assert result.returncode == 0, _output(result)
    games = _query(data, "SELECT is_test, source, player_name FROM games")
    assert len(games) == 3
    assert all(g["is_test"] for g in games)
    assert {(g["source"], g["player_name"]) for g in games} == {("persona", "Bob")}


@pytest.mark.parametrize(
    ("option", "value", "bad"),
    [("--users", "ace,zorro", "zorro"), ("--policies", "brian,skynet", "skynet")],
)
def test_simulate_with_an_unknown_name_exits_2_naming_it(
    tmp_path: Path, option: str, value: str, bad: str
) -> None:
    data = tmp_path / "data"

    result = rps("simulate", option, value, "--games", "2", env=_env(data))

    assert result.returncode == 2, _output(result)
    assert bad in _output(result)
    assert "Traceback" not in _output(result)
    if (data / "rps.db").exists():
        assert _query(data, "SELECT count(*) AS n FROM games") == [{"n": 0}]


def test_simulate_via_a_running_server_stores_persona_games_there(tmp_path: Path) -> None:
    server_data = tmp_path / "server"
    client_data = tmp_path / "client"
    server_env = _env(server_data, RPS_ADMIN_TOKEN=SECRET, LOG_LEVEL="WARNING")
    with ServerProcess(server_env, workers=1, log_path=tmp_path / "server.log") as server:
        result = rps(
            "simulate",
            *("--via", server.url, "--users", "ace,dan", "--policies", "brian,hal"),
            *("--games", "4", "--seed", "9"),
            env=_env(client_data, RPS_ADMIN_TOKEN=SECRET),
        )

    assert result.returncode == 0, _output(result)
    assert SECRET not in _output(result)
    assert not (client_data / "rps.db").exists(), "--via must not write a local database"
    games = _query(server_data, "SELECT player_name, policy, source, winner FROM games")
    assert len(games) == 4
    assert {g["source"] for g in games} == {"persona"}
    assert {(g["player_name"], g["policy"]) for g in games} == {
        ("Ace", "brian"),
        ("Ace", "hal"),
        ("Dan", "brian"),
        ("Dan", "hal"),
    }
    assert all(g["winner"] is not None for g in games)
    _assert_scores_match_rounds(server_data)


def test_simulate_via_a_server_without_the_admin_token_exits_2(tmp_path: Path) -> None:
    result = rps(
        "simulate", "--via", "http://127.0.0.1:9", "--games", "1", env=_env(tmp_path / "data")
    )

    assert result.returncode == 2, _output(result)
    assert "admin token" in _output(result)
