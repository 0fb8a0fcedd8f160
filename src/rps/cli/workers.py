"""``rps serve --workers N``: N server processes, each listening on the port with a socket of
its own (``SO_REUSEPORT``), so the kernel spreads new connections across them.

With one socket shared by every worker (uvicorn's own ``--workers``), whichever worker wakes
first accepts every connection waiting: a client that opens its connections at once, a load
balancer or wrk, lands them all on one process, which then does all the work on one core while
the others idle (measured with ``benchmarks/play_tail.py --workers 2``: runs at ~700 rounds/s
with the connections on one worker, ~1,200 when they were split).

The parent holds the port (a bound socket that never listens, so a taken port fails at once),
starts the workers, starts another when one dies, and on SIGINT or SIGTERM stops them all,
each finishing the requests it has (uvicorn's graceful shutdown).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 2048
STARTUP_FAILURE = 3  # uvicorn's exit code for an app that failed to start
_STOP_SECONDS = 30.0


def reuse_port_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run_worker(host: str, port: int, options: dict[str, Any]) -> None:
    """One worker process: its own listening socket, one uvicorn server on it."""
    import uvicorn

    sock = bound_socket(host, port)
    sock.listen(LISTEN_BACKLOG)
    uvicorn.Server(uvicorn.Config(**options)).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Run ``workers`` worker processes until SIGINT or SIGTERM; returns the exit code."""
    holder = bound_socket(host, port)  # OSError (address in use) before any worker starts
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stopping.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }

    def start() -> BaseProcess:
        process = context.Process(target=run_worker, args=(host, port, options), name="rps-worker")
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    log.info("started %d workers on %s:%d: %s", workers, host, port, [p.pid for p in processes])
    code = 0
    try:
        while not stopping.wait(0.5):
            for i, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("worker %s could not start the app; stopping", process.pid)
                    code = STARTUP_FAILURE
                    stopping.set()
                    break
                log.warning(
                    "worker %s exited with %s; starting another", process.pid, process.exitcode
                )
                processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests it has
        for process in processes:
            process.join(_STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        holder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
