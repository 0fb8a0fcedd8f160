"""Engine construction, SQLite pragmas, write serialisation and migrations."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url

from rps.persistence.schema_check import (
    MIGRATIONS_DIR,
    SchemaMismatch,
    SchemaStatus,
    alembic_config,
    code_revision,
    inspect_schema,
    migration_scripts,
    record_compatibility,
)
from rps.persistence.tables import metadata

log = logging.getLogger(__name__)
# Any constant works; it only has to be the same in every process that migrates this database.
_PG_MIGRATION_LOCK_KEY = 0x5250_535F_4D4C
# The same for alias moves (SPEC §7): training's shadow updates, promotion and `rps alias`.
_PG_ALIAS_LOCK_KEY = 0x5250_535F_414C


class AliasLockTimeout(RuntimeError):
    """Another process held the alias-move lock for longer than the caller would wait."""


class AliasLock:
    """The one lock around every alias move, across processes and hosts that share a database.

    PostgreSQL: a session advisory lock on a dedicated connection. SQLite: an exclusive
    ``flock`` on a file beside the database (every process using the file shares its directory).
    Re-entrant within a thread, so a promotion run that calls a manual move's code path does not
    wait for itself. Held only around reading and moving aliases, never around training.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()
        self._thread_lock = threading.Lock()
        self.path: Path | None = None
        if db.is_sqlite and db.write_lock is not None:
            self.path = Path(str(db.write_lock.path).removesuffix(".write-lock") + ".alias-lock")

    @contextlib.contextmanager
    def hold(self, timeout: float = 600.0, poll: float = 0.05) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        deadline = time.monotonic() + timeout
        with self._acquire(deadline, poll):
            self._local.depth = 1
            try:
                yield
            finally:
                self._local.depth = 0

    @contextlib.contextmanager
    def _acquire(self, deadline: float, poll: float) -> Iterator[None]:
        if not self._thread_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise AliasLockTimeout("another thread holds the alias-move lock")
        try:
            if self._db.is_sqlite:
                with self._file_lock(deadline, poll):
                    yield
            else:
                with self._advisory_lock(deadline, poll):
                    yield
        finally:
            self._thread_lock.release()

    @contextlib.contextmanager
    def _file_lock(self, deadline: float, poll: float) -> Iterator[None]:
        if self.path is None:  # an in-memory database lives in one process: the thread lock is it
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise AliasLockTimeout(
                            f"another process holds the alias-move lock ({self.path})"
                        ) from None
                    time.sleep(poll)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _advisory_lock(self, deadline: float, poll: float) -> Iterator[None]:
        with self._db.engine.connect() as conn:
            while True:
                got = conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_ALIAS_LOCK_KEY}
                ).scalar()
                conn.commit()
                if got:
                    break
                if time.monotonic() >= deadline:
                    raise AliasLockTimeout("another process holds the alias-move lock")
                time.sleep(poll)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_ALIAS_LOCK_KEY})
                conn.commit()


class WriteLock:
    """Serialises writers: a thread lock, plus a file lock shared by every process on the host.

    SQLite allows one writer at a time; letting writers collide makes its busy-retry backoff add
    0.3–1 s tail latencies, so the app queues them itself. PostgreSQL needs no lock (``None``).
    """

    def __init__(self, lock_path: Path) -> None:
        self._thread_lock = threading.Lock()
        self.path = lock_path
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# A commit that pushes SQLite's write-ahead log past its auto-checkpoint size copies the log
# back into the database and fsyncs, inside that commit: a few milliseconds every couple of
# hundred rounds, the whole p99 of /play. The app instead checkpoints from a background thread
# (sqlite3 releases the GIL while it works), and the auto-checkpoint stays only as a backstop
# far above what the thread lets the log reach, in case the thread cannot keep up.
_AUTOCHECKPOINT_BACKSTOP_PAGES = 20_000  # ~80 MB of log
# Short, frequent passes. A round writes 8-16 pages to the log (the game row, the round and
# its four alias predictions, and their index leaves), so at 1,200 rounds/s a 0.5 s pass copied
# and fsynced 8,000-20,000 pages in 30-50 ms, and commits landing meanwhile stalled 10-80 ms
# behind that fsync; with one event loop and eight requests in flight, that set wrk's p99.
# Measured with benchmarks/play_tail.py (one worker, 12 models, 20 s): p99 63 ms at 2 s,
# 33 ms at 0.5 s, 24 ms at 0.1 s, 24-27 ms at 0.05-0.02 s with 8-16 % less throughput.
CHECKPOINT_INTERVAL_S = 0.1


class Checkpointer:
    """A daemon thread that runs a PASSIVE WAL checkpoint every ``interval`` seconds.

    PASSIVE never waits for readers or writers (nor calls the busy handler), so it cannot stall
    a round; whatever it cannot copy yet, the next pass does.
    """

    def __init__(self, connect: Any, interval: float = CHECKPOINT_INTERVAL_S) -> None:
        self._connect = connect
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.passes = 0

    def ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        connection = None
        while not self._stop.wait(self._interval):
            try:
                if connection is None:
                    connection = self._connect()
                cursor = connection.cursor()
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
                cursor.close()
                self.passes += 1
            except Exception:
                log.warning("background WAL checkpoint failed; retrying", exc_info=True)
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.close()
                connection = None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Database:
    """The engine and, for SQLite, the write lock; built from a URL, connects lazily."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        self.write_lock: WriteLock | None = None
        self._hot: Any = None
        self._hot_lock = threading.Lock()
        self.checkpointer: Checkpointer | None = None
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                self.write_lock = WriteLock(Path(database + ".write-lock"))
                self.checkpointer = Checkpointer(lambda: sqlite3.connect(database, timeout=30))
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            if self.checkpointer is not None:
                event.listen(self.engine, "connect", _defer_checkpoints)
        self.alias_lock = AliasLock(self)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a transaction for writing; commits on success, rolls back on error."""
        if self.checkpointer is not None:
            self.checkpointer.ensure_started()
        lock = self.write_lock.hold() if self.write_lock else contextlib.nullcontext()
        with lock, self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def raw_write(self) -> Iterator[Any]:
        """A DBAPI cursor in a transaction, for the few hot-path statements whose SQL is fixed.

        SQLAlchemy's statement machinery and a pool checkout (with its rollback on return) cost
        more than SQLite takes to run the statements, so the gameplay hot path keeps one
        connection of its own per process and issues its writes on it directly, one
        transaction at a time (``paramstyle`` tells how to write the placeholders).
        """
        with self._hot_cursor(autocommit=False) as cursor:
            yield cursor

    @contextlib.contextmanager
    def raw_statement(self) -> Iterator[Any]:
        """Like ``raw_write``, for exactly one statement that commits on its own: on
        PostgreSQL the connection is in autocommit mode, so a data-modifying ``WITH`` does all
        of a round's writes atomically in one round trip (no BEGIN and COMMIT of its own)."""
        with self._hot_cursor(autocommit=True) as cursor:
            yield cursor

    @contextlib.contextmanager
    def _hot_cursor(self, *, autocommit: bool) -> Iterator[Any]:
        if self.checkpointer is not None:
            self.checkpointer.ensure_started()
        lock = self.write_lock.hold() if self.write_lock else self._hot_lock
        with lock:
            if self._hot is None:
                self._hot = self.engine.raw_connection()
            connection = self._hot
            if not self.is_sqlite and connection.driver_connection.autocommit != autocommit:
                connection.driver_connection.autocommit = autocommit
            cursor = connection.cursor()
            try:
                yield cursor
                if not autocommit:
                    connection.commit()
            except self.engine.dialect.dbapi.IntegrityError:  # type: ignore[union-attr]
                if not autocommit:
                    connection.rollback()
                raise
            except BaseException:
                # Anything else may have left the connection unusable: start afresh next time.
                self._hot = None
                with contextlib.suppress(Exception):
                    connection.invalidate()
                raise
            finally:
                with contextlib.suppress(Exception):
                    cursor.close()

    @property
    def paramstyle(self) -> str:
        return str(self.engine.dialect.paramstyle)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not reachable" to a health check
            log.warning("database ping failed", exc_info=True)
            return False
        return True

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        if self._hot is not None:
            with contextlib.suppress(Exception):
                if not self.is_sqlite:  # back to the pool as SQLAlchemy lent it
                    self._hot.driver_connection.autocommit = False
                self._hot.close()
            self._hot = None
        self.engine.dispose()
        if self.write_lock:
            self.write_lock.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL keeps every committed transaction across an app crash (only an OS crash or
    # power loss can drop the last commits), at a fraction of FULL's fsync cost per round.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _defer_checkpoints(dbapi_conn: Any, _record: Any) -> None:
    """Leave checkpoints to the background thread (see ``Checkpointer``)."""
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_BACKSTOP_PAGES}")
    cursor.close()


def head_revision() -> str:
    return code_revision()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(
    db: Database, revision: str = "head", *, location: Path = MIGRATIONS_DIR
) -> tuple[str | None, str | None]:
    """Upgrade the schema to ``revision`` under a lock, so concurrent starters do not race, and
    record which code may serve the result (``rps.persistence.schema_check``).

    Returns (revision before, revision after). A database that a newer release migrated with
    changes this code is recorded to serve is left as it is; SchemaMismatch for one this code
    must not touch: the original's database, one with this platform's table names but no
    revision, or a revision this code does not know and may not serve.
    """
    if db.is_sqlite:
        lock = db.write_lock.hold() if db.write_lock else contextlib.nullcontext()
        with lock, db.engine.begin() as conn:
            return _upgrade(conn, revision, location, db.dialect)
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
        conn.commit()
        try:
            with conn.begin():
                return _upgrade(conn, revision, location, db.dialect)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
            conn.commit()


def _upgrade(
    conn: Connection, revision: str, location: Path, dialect: str
) -> tuple[str | None, str | None]:
    scripts = migration_scripts(location)
    found = inspect_schema(conn, scripts, dialect=dialect)
    if found.status is SchemaStatus.AHEAD:
        return found.database_revision, found.database_revision
    if found.status in (SchemaStatus.NEWER, SchemaStatus.LEGACY, SchemaStatus.FOREIGN):
        # Tables of another application beside ours are the operator's choice (migrating was
        # asked for); tables named like ours without a revision, or an unknown revision, are not.
        unrevisioned = found.status is SchemaStatus.FOREIGN and found.database_revision is None
        if not unrevisioned or set(inspect(conn).get_table_names()) & set(metadata.tables):
            raise SchemaMismatch(found)
    config = alembic_config(location)
    before = MigrationContext.configure(conn).get_current_revision()
    config.attributes["connection"] = conn
    command.upgrade(config, revision)
    after = MigrationContext.configure(conn).get_current_revision()
    record_compatibility(conn, scripts, after)
    return before, after
