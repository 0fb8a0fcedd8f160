"""kill -9 under load loses nothing (SPEC §9, §10): every round the server acknowledged is in the
database after the process is killed mid-load and started again, with the move and scores the
player was told, and every game that was still open resumes at its next round.

A real `rps serve` on each backend, eight threads of players (each its own connection), SIGKILL
to the whole process group while rounds are in flight.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess

ADMIN_TOKEN = "kill9-durability-admin-token-0123456789"
THREADS = 8
MIN_ACKNOWLEDGED = 400  # rounds acknowledged before the kill
MOVES = ("rock", "paper", "scissors", "paper", "rock")

_db_numbers = itertools.count(1)


@dataclass
class Acknowledged:
    """What the players were told, round by round."""

    rounds: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, game_id: str, answer: dict[str, Any]) -> None:
        with self.lock:
            self.rounds[(game_id, int(answer["round"]))] = answer
            if answer.get("finished"):
                self.finished.add(game_id)

    def __len__(self) -> int:
        with self.lock:
            return len(self.rounds)


def _env(data_path: Path, database_url: str | None) -> dict[str, str]:
    return {
        "DATA_PATH": str(data_path),
        "RPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "LOG_LEVEL": "WARNING",
        "SCHEDULER_ENABLED": "false",
        # The players below are one client address driving load: no throttling in this test.
        "RATE_LIMIT_START_PER_MIN": "0",
        "RATE_LIMIT_PLAY_PER_MIN": "0",
        "RATE_LIMIT_READ_PER_MIN": "0",
        "DATABASE_URL": database_url or "",
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(DATA_PATH, database URL) for a server on this backend."""
    if request.param == "sqlite":
        yield tmp_path, f"sqlite:///{tmp_path.resolve() / 'rps.db'}"
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres_server")
        yield tmp_path, postgres.create_database(f"kill9_{next(_db_numbers)}")


def _player(
    url: str, seat: int, acknowledged: Acknowledged, stop: threading.Event, errors: list[str]
) -> None:
    """Play whole games, one after another, until the server goes away."""
    policies = ("brian", "forrest", "logan")
    with httpx.Client(base_url=url, timeout=10) as client:
        for game_no in itertools.count():
            if stop.is_set():
                return
            try:
                started = client.post(
                    "/start_game",
                    json={
                        "player_name": f"Seat {seat}",
                        "policy": policies[(seat + game_no) % 3],
                        "mark_test_game": True,
                    },
                )
                if started.status_code != 200:
                    errors.append(f"start: {started.status_code} {started.text[:200]}")
                    return
                game_id = started.json()["game_id"]
                for round_no in range(1, 100):
                    answer = client.post(
                        "/play",
                        json={
                            "game_id": game_id,
                            "user_move": MOVES[(seat + round_no) % len(MOVES)],
                            "round": round_no,
                        },
                    )
                    if answer.status_code != 200:
                        errors.append(f"play: {answer.status_code} {answer.text[:200]}")
                        return
                    body = answer.json()
                    acknowledged.add(game_id, body)
                    if body["finished"]:
                        break
            except httpx.HTTPError:
                return  # the server was killed


def _stored_rounds(database_url: str) -> dict[tuple[str, int], dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT game_id, step_no, user_move, bot_move, user_score, bot_score "
                    "FROM rounds"
                )
            ).mappings()
            return {(r["game_id"], int(r["step_no"])): dict(r) for r in rows}
    finally:
        engine.dispose()


def test_every_acknowledged_round_survives_kill_9_and_open_games_resume(
    database: tuple[Path, str],
) -> None:
    data_path, database_url = database
    env = _env(data_path, None if database_url.startswith("sqlite") else database_url)
    server = ServerProcess(env, workers=1, log_path=data_path / "server.log").start()
    acknowledged = Acknowledged()
    stop = threading.Event()
    errors: list[str] = []
    players = [
        threading.Thread(target=_player, args=(server.url, seat, acknowledged, stop, errors))
        for seat in range(THREADS)
    ]
    try:
        for player in players:
            player.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < MIN_ACKNOWLEDGED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acknowledged) >= MIN_ACKNOWLEDGED, errors[:3]
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)  # rounds are in flight on 8 connections
        server.process.wait(timeout=10)
    finally:
        stop.set()
        for player in players:
            player.join(timeout=15)
        server.stop()
    assert errors == [], errors[:3]

    restarted = ServerProcess(env, workers=1, log_path=data_path / "server-2.log").start()
    try:
        stored = _stored_rounds(database_url)
        told = dict(acknowledged.rounds)
        missing = [key for key in told if key not in stored]
        assert missing == [], f"{len(missing)} acknowledged rounds lost, e.g. {missing[:3]}"
        for key, answer in told.items():
            row = stored[key]
            assert (row["user_move"], row["bot_move"]) == (answer["user_move"], answer["bot_move"])
            assert float(row["user_score"]) == pytest.approx(answer["user_score"])
            assert float(row["bot_score"]) == pytest.approx(answer["bot_score"])

        # Every game still open resumes at the round after its last stored one.
        last_stored: dict[str, int] = {}
        for game_id, step in stored:
            last_stored[game_id] = max(step, last_stored.get(game_id, 0))
        open_games = [g for g in {g for g, _ in told} if g not in acknowledged.finished]
        assert open_games, "the kill should have caught games in the middle"
        with httpx.Client(base_url=restarted.url, timeout=10) as client:
            for game_id in open_games:
                state = client.get(f"/games/{game_id}")
                assert state.status_code == 200, state.text
                if state.json()["status"] == "finished":
                    continue  # its last round was stored but its answer was lost
                next_round = last_stored[game_id] + 1
                answer = client.post(
                    "/play",
                    json={"game_id": game_id, "user_move": "rock", "round": next_round},
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["round"] == next_round
    finally:
        restarted.stop()
