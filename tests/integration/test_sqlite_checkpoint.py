"""SQLite's write-ahead log is copied back by a background thread, never inside a round's commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from rps.persistence.database import Database, migrate


def _wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_commits_leave_checkpoints_to_the_background_thread(tmp_path: Path):
    path = tmp_path / "rps.db"
    db = Database(f"sqlite:///{path}")
    assert db.checkpointer is not None
    db.checkpointer._interval = 0.05  # short, so the test sees several passes
    migrate(db)
    with db.engine.connect() as conn:
        # The auto-checkpoint stays only as a far-off backstop.
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 20_000
    size_before = path.stat().st_size
    for i in range(200):
        with db.raw_write() as cursor:
            cursor.execute(
                "INSERT INTO training_runs (started_at, status, trigger, models_trained, "
                "models_registered, details) "
                "VALUES ('2026-01-01 00:00:00.000000', 'ok', :t, 0, 0, :d)",
                {"t": f"t{i}", "d": "x" * 2000},
            )
    # ~400 kB went into the log; only a checkpoint copies it into the database file itself,
    # and nothing but the thread checkpoints below 20,000 pages.
    assert _wait_for(lambda: path.stat().st_size >= size_before + 300_000)
    # The file can grow while a pass is still copying, before the pass is counted.
    assert _wait_for(lambda: db.checkpointer.passes >= 1)
    thread = db.checkpointer._thread
    assert thread is not None
    db.dispose()
    assert not thread.is_alive()
    # A second process reading the file sees all the rows.
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT count(*) FROM training_runs").fetchone()[0] == 200
    reader.close()


def test_no_checkpoint_thread_until_something_is_written(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'rps.db'}")
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert db.checkpointer is not None
    assert db.checkpointer._thread is None
    db.dispose()


def test_postgresql_has_no_checkpointer():
    db = Database("postgresql+psycopg://u:p@127.0.0.1:1/none")
    assert db.checkpointer is None
    db.dispose()
