"""`rps serve --workers N`: every worker takes connections, even when a client opens them all at
once; a worker that dies is replaced; a taken port is refused at once."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import ServerProcess, free_port

TOKEN = "workers-token-0123456789abcdef"


def _connection_owners(pids: list[int], port: int) -> dict[int, int]:
    """How many established connections to ``port`` each of ``pids`` holds (from /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED, server side
                inodes.add(fields[9])
    owners: dict[int, int] = {}
    for pid in pids:
        count = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            found = re.fullmatch(r"socket:\[(\d+)\]", target)
            if found and found.group(1) in inodes:
                count += 1
        owners[pid] = count
    return owners


def _workers(server: ServerProcess) -> list[int]:
    """The worker processes (the parent's other child is multiprocessing's resource tracker)."""
    found = []
    for pid in server.pids()[1:]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.append(pid)
    return found


def _env(tmp_path: Path) -> dict[str, str]:
    return {"DATA_PATH": str(tmp_path), "RPS_ADMIN_TOKEN": TOKEN, "LOG_LEVEL": "WARNING"}


def test_connections_opened_at_once_are_spread_over_every_worker(tmp_path: Path) -> None:
    with ServerProcess(_env(tmp_path), workers=2) as server:
        workers = _workers(server)
        assert len(workers) == 2
        connections = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(32)]
        try:
            for conn in connections:  # one request each, so every connection is accepted
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for conn in connections:
                assert conn.recv(4096).startswith(b"HTTP/1.1 200")
            owners = _connection_owners(workers, server.port)
        finally:
            for conn in connections:
                conn.close()
        assert sum(owners.values()) == 32
        assert all(count > 0 for count in owners.values()), owners


def test_a_worker_that_dies_is_replaced_and_the_server_keeps_answering(tmp_path: Path) -> None:
    with ServerProcess(_env(tmp_path), workers=2) as server:
        first, second = _workers(server)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = _workers(server)
            if len(now) == 2 and first not in now:
                break
            time.sleep(0.2)
        now = _workers(server)
        assert second in now
        assert len(now) == 2
        assert first not in now
        while time.monotonic() < deadline:  # the new worker answers once its app has started
            answers = [httpx.get(f"{server.url}/ready", timeout=5) for _ in range(8)]
            if all(answer.status_code == 200 for answer in answers):
                break
            time.sleep(0.2)
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_a_port_in_use_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    env = {**os.environ, **_env(tmp_path)}
    rps = [sys.executable, "-m", "rps.cli.main"]
    subprocess.run([*rps, "migrate"], env=env, check=True, capture_output=True)
    taken = socket.socket()
    taken.bind(("127.0.0.1", free_port()))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*rps, "serve", "--workers", "2", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        taken.close()
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
