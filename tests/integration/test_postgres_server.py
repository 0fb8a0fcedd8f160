"""Self-test of the throwaway PostgreSQL server the other repository tests run against."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_server_starts_serves_sqlalchemy_and_stops() -> None:
    server = PostgresServer()
    t0 = time.monotonic()
    server.start()
    try:
        print(f"PostgreSQL from {server.bin_dir} up in {time.monotonic() - t0:.2f}s: {server.url}")
        assert server.url.startswith("postgresql+psycopg://")
        assert _port_open(server.port)

        engine = create_engine(server.url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE thing (id integer PRIMARY KEY, name text NOT NULL)"))
            conn.execute(text("INSERT INTO thing VALUES (1, 'rock')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM thing WHERE id = 1")).scalar_one() == "rock"
            assert conn.execute(text("SHOW fsync")).scalar_one() == "off"
        engine.dispose()

        other_url = server.create_database("second_db")
        assert other_url.endswith("/second_db")
        other = create_engine(other_url)
        with other.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one() == "second_db"
            # a separate database: the table made above is not there
            assert conn.execute(text("SELECT to_regclass('thing')")).scalar_one() is None
        other.dispose()
    finally:
        base_dir, port = server.base_dir, server.port
        t1 = time.monotonic()
        server.stop()
        print(f"stopped in {time.monotonic() - t1:.2f}s")

    assert not _port_open(port)
    assert base_dir is not None
    assert not base_dir.exists()
    server.stop()  # idempotent
