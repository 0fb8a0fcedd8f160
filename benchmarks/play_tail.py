"""/play tail latency under wrk, run after run: wrk's p99 beside the server's own, and /healthz's.

    .venv/bin/python benchmarks/play_tail.py [--runs 3] [--duration 20] [--workers 1]
        [--database-url URL] [--models] [--wrk-core 1] [--server-core 0] [--connections 8]
        [--out FILE.json]

Starts ``rps serve --workers N`` (uvloop, httptools) on a fresh DATA_PATH (SQLite, or the
PostgreSQL database named by ``--database-url``; with ``--models`` the 12 bootstrap models first,
so rounds 4+ are model rounds), pre-starts enough games that none runs out, then runs wrk
(one thread pinned with taskset to ``--wrk-core``, ``--connections`` keep-alive connections)
against /healthz once, then against /play ``--runs`` times back to back. For each run it
prints wrk's p50/p90/p99/max and requests per second, the bucket of the server's own request
histogram (``rps_http_request_duration_seconds``) that holds its p99, the share of requests the
server itself spent over 50 ms on, and the server's CPU per request beside the whole machine's
(server, database and wrk). /healthz, the framework's floor, is the baseline of the same
session. Nothing here asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from benchmarks.play_latency import (  # noqa: E402
    MIN_ROUNDS,
    WRK_DONE,
    WRK_PLAY,
    Snapshot,
    bootstrap_models,
    machine_info,
    server_buckets,
    server_side_tail,
)
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.support.limits import UNREACHED_LIMITS  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

from rps.persistence.game_repository import LIVE_GAMES_KEPT  # noqa: E402

console = Console(stderr=True)


def wrk_run(
    wrk: list[str], url: str, path: str, script: Path, pids: list[int], args: argparse.Namespace
) -> dict[str, Any]:
    cmd = [
        *wrk,
        "-t1",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-s",
        str(script),
        f"{url}{path}",
    ]
    before, histogram_before = Snapshot.take(pids), server_buckets(url, path)
    statuses_before = server_statuses(url, path)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    after, histogram_after = Snapshot.take(pids), server_buckets(url, path)
    statuses_after = server_statuses(url, path)
    figures: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            figures = json.loads(line[len("WRK_JSON ") :])
    if not figures:
        raise RuntimeError(f"wrk gave no figures: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    figures["req_per_s"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["server_cpu_ms_per_request"] = (
        (after.server_cpu - before.server_cpu) / figures["requests"] * 1e3
    )
    # Every process on the machine (the server, the database, wrk): with all cores busy, the
    # rate is this budget divided by it.
    figures["machine_cpu_ms_per_request"] = (
        (after.machine_busy - before.machine_busy) / figures["requests"] * 1e3
    )
    figures.update(server_side_tail(histogram_before, histogram_after))
    # What the non-2xx answers were, by status, as the server counted them.
    figures["server_non_2xx"] = {
        code: n
        for code in sorted(statuses_after)
        if not code.startswith("2")
        and (n := statuses_after[code] - statuses_before.get(code, 0.0)) > 0
    }
    figures["command"] = " ".join(cmd)
    return figures


def server_statuses(url: str, route: str) -> dict[str, float]:
    """The server's answers to ``route`` so far, by status code (every worker's)."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "rps_http_requests_total" and sample.labels.get("route") == route:
                code = sample.labels.get("status", "?")
                counts[code] = counts.get(code, 0.0) + sample.value
    return counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="wrk runs against /play, back to back")
    ap.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    ap.add_argument("--workers", type=int, default=1, help="rps serve worker processes")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a temp DATA_PATH)")
    ap.add_argument("--models", action="store_true", help="bootstrap the 12 models first")
    ap.add_argument("--wrk-core", type=int, default=1, help="the core wrk's thread is pinned to")
    ap.add_argument(
        "--server-core",
        type=int,
        default=None,
        help="pin every thread of the server's processes to this core (default: unpinned)",
    )
    ap.add_argument(
        "--rate",
        type=int,
        default=3000,
        help="rounds/s to size the game pool for (capped at what a process keeps in memory)",
    )
    ap.add_argument("--policy", default="brian")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument("--server-log", type=Path, help="keep the server's log here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        console.print("wrk is not installed (apt-get install wrk)")
        return 2
    wrk = [wrk_path]
    if shutil.which("taskset"):
        wrk = ["taskset", "-c", str(args.wrk_core), wrk_path]
    report: dict[str, Any] = {"machine": machine_info(), "args": vars(args) | {"out": None}}
    with tempfile.TemporaryDirectory(prefix="rps-tail-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        env = {
            "DATA_PATH": str(data),
            "DATABASE_URL": args.database_url or f"sqlite:///{data / 'rps.db'}",
            "LOG_LEVEL": "WARNING",
            # One address drives all the load: limits counted, out of reach.
            **UNREACHED_LIMITS,
        }
        if args.models:
            console.print("bootstrapping the 12 models …")
            bootstrap_models(env)
        log_path = args.server_log or Path(tmp) / "server.log"
        server = ServerProcess(env, workers=args.workers, log_path=log_path)
        server.start()
        try:
            pids = server.pids()
            if args.server_core is not None:
                for pid in pids:
                    subprocess.run(
                        ["taskset", "-apc", str(args.server_core), str(pid)],
                        check=True,
                        capture_output=True,
                    )
            # Enough games that none finishes during the runs, but no more than a process keeps
            # in memory: cycling over more, every round would read its game from the database
            # and rebuild its state.
            wanted = math.ceil(args.runs * args.duration * args.rate / MIN_ROUNDS)
            games = min(wanted, int(LIVE_GAMES_KEPT * 0.95))
            if games < wanted:
                console.print(
                    f"[yellow]{games} games (a process keeps {LIVE_GAMES_KEPT} in memory): "
                    f"some may finish above {games * MIN_ROUNDS // (args.runs * args.duration)} "
                    "rounds/s (their rounds show as 409 under non-2xx)[/]"
                )
            console.print(f"pre-starting {games} games …")
            with httpx.Client(base_url=server.url, timeout=30) as client:
                ids = [
                    client.post("/start_game", json={"policy": args.policy}).json()["game_id"]
                    for _ in range(games)
                ]
            healthz = Path(tmp) / "healthz.lua"
            healthz.write_text(WRK_DONE)
            play = Path(tmp) / "play.lua"
            listed = ", ".join(json.dumps(g) for g in ids)
            play.write_text(
                WRK_PLAY % {"games": listed, "threads": 1, "seed": args.seed} + WRK_DONE
            )
            console.print(f"wrk /healthz, then {args.runs} × /play, {args.duration} s each …")
            runs = [
                {
                    "endpoint": "/healthz",
                    **wrk_run(wrk, server.url, "/healthz", healthz, pids, args),
                }
            ]
            for _ in range(args.runs):
                runs.append(
                    {"endpoint": "/play", **wrk_run(wrk, server.url, "/play", play, pids, args)}
                )
        finally:
            server.stop()
    report["runs"] = runs
    table = Table(
        title=f"wrk, 1 thread on core {args.wrk_core}, {args.connections} connections, "
        f"{args.workers} worker(s), {'PostgreSQL' if args.database_url else 'SQLite'}"
        f"{', 12 models' if args.models else ''}"
    )
    for column in (
        "endpoint",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "server p99 ≤ ms",
        "server > 50 ms",
        "server CPU ms/req",
        "machine CPU ms/req",
        "non-2xx",
    ):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            run["endpoint"],
            f"{run['req_per_s']:.0f}",
            f"{run['p50_us'] / 1e3:.2f}",
            f"{run['p90_us'] / 1e3:.2f}",
            f"{run['p99_us'] / 1e3:.2f}",
            f"{run['max_us'] / 1e3:.1f}",
            f"{run.get('server_p99_at_most_ms', float('nan')):g}",
            f"{run.get('server_share_over_50ms', 0.0):.4%}",
            f"{run['server_cpu_ms_per_request']:.3f}",
            f"{run['machine_cpu_ms_per_request']:.3f}",
            f"{run['non_2xx_3xx']:.0f}"
            + "".join(f" ({n:.0f}×{code})" for code, n in run.get("server_non_2xx", {}).items()),
        )
    Console(width=200).print(table)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
