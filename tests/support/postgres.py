"""A throwaway PostgreSQL server for the test suite.

The tests start and stop it themselves: ``initdb`` into a temporary directory, ``pg_ctl start``
on a free TCP port on 127.0.0.1 with trust authentication and fsync off, ``pg_ctl stop -m fast``
and delete the directory at the end.

``initdb`` and ``postgres`` refuse to run as root, so when the tests run as root (CI) every server
command runs as the ``postgres`` system user created by the Debian package, and the temporary
directory is handed to that user. As any other user the server runs as that user.

Binaries come from ``$PG_BIN_DIR`` if set, else the highest ``/usr/lib/postgresql/<ver>/bin``
(Debian), else ``PATH``.

A crashed run must not leave a server behind: ``stop()`` is registered with ``atexit``, and a small
watchdog process stops the server and removes its directory if the test process dies without
calling ``stop()`` (even on SIGKILL, which skips ``atexit``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
SERVER_USER_WHEN_ROOT = "postgres"
SUPERUSER = "postgres"  # the database role initdb creates; trust auth, no password
READY_TIMEOUT_S = 20.0

# Runs in a separate process: blocks until the test process exits (its end of the stdin pipe
# closes, however it died), then stops the server and removes the directory. stop() kills it
# first, so it only acts when stop() never ran.
_WATCHDOG = """
import json, shutil, subprocess, sys
cfg = json.loads(sys.argv[1])
sys.stdin.buffer.read()
subprocess.run(cfg["cmd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **cfg["as_user"])
shutil.rmtree(cfg["dir"], ignore_errors=True)
"""


class PostgresNotFoundError(RuntimeError):
    """No PostgreSQL server binaries (or no user to run them as) on this machine."""


def find_bin_dir() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    override = os.environ.get("PG_BIN_DIR")
    if override:
        candidates = [Path(override)]
    else:
        debian = [d for d in DEBIAN_PG_ROOT.glob("*/bin") if d.parent.name.isdigit()]
        candidates = sorted(debian, key=lambda d: int(d.parent.name), reverse=True)
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for bin_dir in candidates:
        if all(os.access(bin_dir / name, os.X_OK) for name in REQUIRED_BINARIES):
            return bin_dir
    where = f"PG_BIN_DIR={override}" if override else f"{DEBIAN_PG_ROOT}/*/bin or PATH"
    raise PostgresNotFoundError(
        f"PostgreSQL server binaries ({', '.join(REQUIRED_BINARIES)}) not found in {where}. "
        "Install the Debian package `postgresql` (e.g. `apt-get install -y postgresql`, "
        "or `scripts/ensure-system-packages.sh postgresql`) or set PG_BIN_DIR to the directory "
        "that contains them."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server in a temporary directory. ``start()``, use ``url``, ``stop()``."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self.host = "127.0.0.1"
        self.port = 0
        self.user = SUPERUSER
        self.dbname = "postgres"
        self.base_dir: Path | None = None
        self._as_user: dict[str, Any] = {}
        self._watchdog: subprocess.Popen[bytes] | None = None

    # -- public API ------------------------------------------------------------------------

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server's default database."""
        if self.base_dir is None:
            raise RuntimeError("PostgresServer is not running; call start() first")
        return self.url_for(self.dbname)

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "postgres.log"

    def start(self) -> PostgresServer:
        if self.base_dir is not None:
            return self
        self._as_user = self._run_as()
        self.base_dir = self._make_base_dir()
        atexit.register(self.stop)
        try:
            self._cmd(
                "initdb",
                *("-D", str(self.data_dir), "-U", self.user, "--auth=trust"),
                *("-E", "UTF8", "--no-locale", "--no-sync"),
            )
            (self.base_dir / "sock").mkdir()
            if self._as_user:
                os.chown(self.base_dir / "sock", self._as_user["user"], self._as_user["group"])
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(
                    "\n# test server\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.base_dir / 'sock'}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 200\n"
                )
            self._start_watchdog()
            # A free port can be taken between picking it and binding it (xdist workers start
            # servers at the same time); pg_ctl -w notices the dead postmaster, so just retry.
            for attempt in range(3):
                self.port = _free_port()
                started = self._cmd(
                    "pg_ctl",
                    *("start", "-D", str(self.data_dir), "-l", str(self.log_file)),
                    *("-o", f"-p {self.port}", "-w", "-t", str(int(READY_TIMEOUT_S))),
                    check=attempt == 2,
                )
                if started.returncode == 0:
                    break
            self._wait_ready()
        except BaseException:
            log = self._log_tail()
            self.stop()
            if log:
                sys.stderr.write(f"--- PostgreSQL log ---\n{log}\n")
            raise
        return self

    def stop(self) -> None:
        """Stop the server and delete its directory. Safe to call more than once."""
        if self.base_dir is None:
            return
        atexit.unregister(self.stop)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            if self._watchdog.stdin is not None:
                self._watchdog.stdin.close()
            self._watchdog = None
        if (self.data_dir / "postmaster.pid").exists():
            args = ("stop", "-D", str(self.data_dir), "-w", "-t", "20")
            fast = self._cmd("pg_ctl", *args, "-m", "fast", check=False)
            if fast.returncode != 0:
                self._cmd("pg_ctl", *args, "-m", "immediate", check=False)
        shutil.rmtree(self.base_dir, ignore_errors=True)
        self.base_dir = None

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def connect(self, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        """A plain psycopg connection (for setup code that does not want SQLAlchemy)."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=dbname or self.dbname,
            connect_timeout=5,
            **kwargs,
        )

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _run_as(self) -> dict[str, Any]:
        """subprocess kwargs that drop to the postgres user when we are root, else nothing."""
        if os.geteuid() != 0:
            return {}
        try:
            pw = pwd.getpwnam(SERVER_USER_WHEN_ROOT)
        except KeyError:
            raise PostgresNotFoundError(
                "Running as root, so PostgreSQL must run as the `postgres` system user, which "
                "does not exist. Install the Debian package `postgresql` "
                "(e.g. `apt-get install -y postgresql`), or run the tests as a non-root user."
            ) from None
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _make_base_dir(self) -> Path:
        bases = [tempfile.gettempdir()]
        if self._as_user:
            bases.append("/tmp")  # $TMPDIR may sit under a directory the postgres user can't enter
        for base in bases:
            path = Path(tempfile.mkdtemp(prefix="rps-pgtest-", dir=base))
            if not self._as_user:
                return path
            os.chown(path, self._as_user["user"], self._as_user["group"])
            if subprocess.run(["test", "-w", str(path)], check=False, **self._as_user).returncode:
                shutil.rmtree(path)
                continue
            return path
        raise PostgresNotFoundError(
            f"the `postgres` user cannot write to a temporary directory under {bases}"
        )

    def _cmd(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if self._as_user:
            pw = pwd.getpwuid(self._as_user["user"])
            env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name)
        result = subprocess.run(
            [str(self.bin_dir / name), *args],
            cwd=self.base_dir,  # the postgres user may not be allowed into our working directory
            env=env,
            capture_output=True,
            text=True,
            check=False,
            **self._as_user,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{name} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def _start_watchdog(self) -> None:
        cfg = {
            "cmd": [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast"],
            "as_user": self._as_user,
            "dir": str(self.base_dir),
        }
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.base_dir,
            start_new_session=True,  # a Ctrl-C to the test run must not kill it first
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with self.connect() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _log_tail(self, lines: int = 30) -> str:
        if self.base_dir is None:
            return ""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        return ""
