"""A slow database delays only the requests that need it (SPEC §9): with PostgreSQL stuck behind
a lock, game starts and moves wait, while `/healthz` and the pages keep answering — every
database call of the web process runs off the event loop.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess

pytestmark = pytest.mark.postgres

ADMIN_TOKEN = "slow-database-admin-token-0123456789"


def test_a_locked_database_holds_up_only_the_requests_that_use_it(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    database_url = postgres_server.create_database("slow_database")
    env = {
        "DATA_PATH": str(tmp_path),
        "DATABASE_URL": database_url,
        "RPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    with ServerProcess(env, log_path=tmp_path / "server.log") as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            started = client.post("/start_game", json={"player_name": "Ann", "policy": "logan"})
            assert started.status_code == 200, started.text
            game_id = started.json()["game_id"]

        engine = create_engine(database_url)
        answers: dict[str, httpx.Response] = {}
        try:
            with engine.connect() as conn:
                transaction = conn.begin()
                conn.execute(text("LOCK TABLE games IN ACCESS EXCLUSIVE MODE"))

                def stuck(name: str, path: str, body: dict[str, object]) -> None:
                    answers[name] = httpx.post(f"{server.url}{path}", json=body, timeout=60)

                waiting = [
                    threading.Thread(
                        target=stuck,
                        args=("start", "/start_game", {"player_name": "Bo", "policy": "brian"}),
                    ),
                    threading.Thread(
                        target=stuck,
                        args=("play", "/play", {"game_id": game_id, "user_move": "rock"}),
                    ),
                ]
                for thread in waiting:
                    thread.start()
                # The requests are inside the server, one waiting for the lock in PostgreSQL ...
                with engine.connect() as watcher:
                    for _ in range(200):
                        blocked = watcher.execute(
                            text(
                                "SELECT count(*) FROM pg_stat_activity "
                                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                            )
                        ).scalar_one()
                        if blocked >= 1:
                            break
                        threading.Event().wait(0.05)
                    assert blocked >= 1, "the requests never reached the database"
                # ... and the process still answers everything that needs no database.
                with httpx.Client(base_url=server.url, timeout=3) as client:
                    for path in ("/healthz", "/policies", "/", "/play"):
                        response = client.get(path)
                        assert response.status_code in (200, 405), (path, response.status_code)
                    assert client.get("/healthz").json() == {"status": "ok"}
                assert answers == {}, "nothing may finish while the lock is held"
                transaction.rollback()
            for thread in waiting:
                thread.join(timeout=30)
        finally:
            engine.dispose()
    assert answers["start"].status_code == 200, answers["start"].text
    assert answers["play"].status_code == 200, answers["play"].text
