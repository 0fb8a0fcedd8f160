"""/play latency against the framework floor (/healthz), on one real server process, in one run.

    .venv/bin/python benchmarks/play_latency.py [--requests N] [--clients 8]
        [--database-url URL] [--out FILE.json] [--wrk]

Starts ``rps migrate`` + ``rps serve --workers 1`` (uvloop, httptools) on a fresh temporary
DATA_PATH (SQLite, or the PostgreSQL database named by ``--database-url``), then, with the same
clients throughout:

* warm-up: a few hundred /healthz and /play requests, sequential and concurrent;
* sequential (one keep-alive ``httpx.Client``): /healthz and /play interleaved, N of each; then
  N /healthz alone, the /start_game calls for the next phase alone, and N /play alone;
* concurrent (``--clients`` asyncio tasks, one ``httpx.AsyncClient`` and one connection each):
  the same four phases, the N requests split over the clients.

For every phase and endpoint it reports the median, p90 and p99 latency, the throughput, and
``median(/play) ÷ median(/healthz)``: how many times the framework floor a game round costs.
Server CPU (utime + stime of the server process from /proc/<pid>/stat) and the client's own CPU
(time.process_time) are read before and after each phase and divided by the requests of the
phase; the single-endpoint phases give the server CPU per /healthz, per /start_game and per
/play directly. In the interleaved phases a finished game is replaced by an inline /start_game
call: it is timed as /start_game (never as a /play sample) and counts in the phase's requests.

After the server stops, ``rps simulate --games 1000 --seed 1`` runs as a subprocess on another
fresh DATA_PATH (same database choice) for the in-process gameplay throughput. With ``--wrk``
and ``wrk`` on PATH, ``wrk -t1 -c8 -d10s`` also runs against /healthz and against /play (a Lua
script cycling over pre-started games), with the server's own latency histogram read around
it. Nothing here asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.support.limits import UNREACHED_LIMITS  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
MOVES = ("rock", "paper", "scissors")
HEALTHZ, PLAY, START = "/healthz", "/play", "/start_game"
MIN_ROUNDS = 11  # most games last 11-20 rounds; a one-sided one can end after 5 (then: 409)
console = Console()
if not console.is_terminal:  # piped or redirected: keep the tables readable
    console = Console(width=160)


# --------------------------------------------------------------------------------------------
# Measuring


def server_cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of the processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # The command name is in parentheses and may hold spaces: split after it.
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU time of every process on the machine (user, nice, system, irq, softirq), in seconds."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return math.nan
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[1:8])
    return (user + nice + system + irq + softirq) / CLK_TCK


def mapped_libraries(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def quantile(sorted_xs: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_xs:
        return math.nan
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


@dataclass
class Recorder:
    """Latencies (seconds) and status codes per endpoint."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def add(self, endpoint: str, seconds: float, status: int) -> None:
        self.samples.setdefault(endpoint, []).append(seconds)
        self.statuses.setdefault(endpoint, Counter())[status] += 1

    def merge(self, other: Recorder) -> None:
        for endpoint, xs in other.samples.items():
            self.samples.setdefault(endpoint, []).extend(xs)
        for endpoint, counts in other.statuses.items():
            self.statuses.setdefault(endpoint, Counter()).update(counts)


@dataclass
class Snapshot:
    wall: float
    server_cpu: float
    client_cpu: float
    machine_busy: float

    @classmethod
    def take(cls, pids: list[int]) -> Snapshot:
        return cls(
            time.perf_counter(),
            server_cpu_seconds(pids),
            time.process_time(),
            machine_busy_seconds(),
        )


def endpoint_stats(xs: list[float], wall_s: float) -> dict[str, float]:
    s = sorted(xs)
    return {
        "n": len(s),
        "median_ms": quantile(s, 0.5) * 1e3,
        "p90_ms": quantile(s, 0.9) * 1e3,
        "p99_ms": quantile(s, 0.99) * 1e3,
        "mean_ms": statistics.fmean(s) * 1e3 if s else math.nan,
        "max_ms": s[-1] * 1e3 if s else math.nan,
        "req_per_s": len(s) / wall_s if wall_s > 0 else math.nan,
    }


def phase_result(
    name: str, mode: str, clients: int, rec: Recorder, before: Snapshot, after: Snapshot
) -> dict[str, Any]:
    wall = after.wall - before.wall
    total = sum(len(xs) for xs in rec.samples.values())
    endpoints = {e: endpoint_stats(xs, wall) for e, xs in rec.samples.items()}
    ratio = math.nan
    if HEALTHZ in endpoints and PLAY in endpoints:
        ratio = endpoints[PLAY]["median_ms"] / endpoints[HEALTHZ]["median_ms"]
    server_cpu = after.server_cpu - before.server_cpu
    client_cpu = after.client_cpu - before.client_cpu
    # Whatever else ran during the phase (other processes): a noise indicator.
    others_cpu = max(0.0, after.machine_busy - before.machine_busy - server_cpu - client_cpu)
    return {
        "phase": name,
        "mode": mode,
        "clients": clients,
        "wall_s": wall,
        "requests": total,
        "req_per_s": total / wall if wall > 0 else math.nan,
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_request": server_cpu / total * 1e3 if total else math.nan,
        "client_cpu_s": client_cpu,
        "client_cpu_ms_per_request": client_cpu / total * 1e3 if total else math.nan,
        "server_cpu_percent": server_cpu / wall * 100 if wall > 0 else math.nan,
        "others_cpu_percent": others_cpu / wall * 100 if wall > 0 else math.nan,
        "play_over_healthz_median": ratio,
        "endpoints": endpoints,
        "non_200": {
            e: {str(code): n for code, n in counts.items() if code != 200}
            for e, counts in rec.statuses.items()
            if any(code != 200 for code in counts)
        },
    }


# --------------------------------------------------------------------------------------------
# Games


class GamePool:
    """A few active games played round-robin, refilled from pre-started spares or new games."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.next_round: dict[str, int] = {}
        self.order: deque[str] = deque()
        self.spares: deque[str] = deque()

    @property
    def missing(self) -> int:
        return self.size - len(self.order)

    def add(self, game_id: str) -> None:
        self.next_round[game_id] = 1
        self.order.append(game_id)

    def pick(self) -> tuple[str, int]:
        game_id = self.order[0]
        self.order.rotate(-1)
        return game_id, self.next_round[game_id]

    def played(self, game_id: str, finished: bool) -> None:
        if finished:
            self.drop(game_id)
        else:
            self.next_round[game_id] += 1

    def drop(self, game_id: str) -> None:
        del self.next_round[game_id]
        self.order.remove(game_id)


class SyncDriver:
    """One keep-alive HTTP/1.1 client; every call times one request."""

    def __init__(self, client: httpx.Client, pool: GamePool, policy: str, rng: random.Random):
        self.client, self.pool, self.policy, self.rng = client, pool, policy, rng
        self.rec = Recorder()

    def start(self) -> str:
        t0 = time.perf_counter()
        r = self.client.post(START, json={"policy": self.policy})
        self.rec.add(START, time.perf_counter() - t0, r.status_code)
        r.raise_for_status()
        game_id: str = r.json()["game_id"]
        return game_id

    def prestart(self) -> None:
        self.pool.spares.append(self.start())

    def healthz(self) -> None:
        t0 = time.perf_counter()
        r = self.client.get(HEALTHZ)
        self.rec.add(HEALTHZ, time.perf_counter() - t0, r.status_code)

    def play(self) -> None:
        while self.pool.missing > 0:
            self.pool.add(self.pool.spares.popleft() if self.pool.spares else self.start())
        game_id, round_no = self.pool.pick()
        body = {"game_id": game_id, "user_move": self.rng.choice(MOVES), "round": round_no}
        t0 = time.perf_counter()
        r = self.client.post(PLAY, json=body)
        self.rec.add(PLAY, time.perf_counter() - t0, r.status_code)
        if r.status_code == 200:
            self.pool.played(game_id, r.json()["finished"])
        else:
            self.pool.drop(game_id)

    def run(self, kinds: list[str], n: int) -> None:
        calls = [getattr(self, k) for k in kinds]
        for _ in range(n):
            for call in calls:
                call()


class AsyncDriver:
    """One ``httpx.AsyncClient`` holding one keep-alive connection, with its own games."""

    def __init__(self, url: str, pool: GamePool, policy: str, rng: random.Random):
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.client = httpx.AsyncClient(base_url=url, limits=limits, timeout=30)
        self.pool, self.policy, self.rng = pool, policy, rng
        self.rec = Recorder()

    async def start(self) -> str:
        t0 = time.perf_counter()
        r = await self.client.post(START, json={"policy": self.policy})
        self.rec.add(START, time.perf_counter() - t0, r.status_code)
        r.raise_for_status()
        game_id: str = r.json()["game_id"]
        return game_id

    async def prestart(self) -> None:
        self.pool.spares.append(await self.start())

    async def healthz(self) -> None:
        t0 = time.perf_counter()
        r = await self.client.get(HEALTHZ)
        self.rec.add(HEALTHZ, time.perf_counter() - t0, r.status_code)

    async def play(self) -> None:
        while self.pool.missing > 0:
            self.pool.add(self.pool.spares.popleft() if self.pool.spares else await self.start())
        game_id, round_no = self.pool.pick()
        body = {"game_id": game_id, "user_move": self.rng.choice(MOVES), "round": round_no}
        t0 = time.perf_counter()
        r = await self.client.post(PLAY, json=body)
        self.rec.add(PLAY, time.perf_counter() - t0, r.status_code)
        if r.status_code == 200:
            self.pool.played(game_id, r.json()["finished"])
        else:
            self.pool.drop(game_id)

    async def run(self, kinds: list[str], n: int) -> None:
        calls = [getattr(self, k) for k in kinds]
        for _ in range(n):
            for call in calls:
                await call()


def games_for(plays: int, pool_size: int) -> int:
    """Pre-started games enough for ``plays`` rounds with no inline /start_game."""
    return math.ceil(plays / MIN_ROUNDS) + pool_size


# --------------------------------------------------------------------------------------------
# Phases


def sequential_phases(
    url: str, pids: list[int], n: int, warmup: int, pool_size: int, policy: str, seed: int
) -> list[dict[str, Any]]:
    results = []
    with httpx.Client(base_url=url, timeout=30) as client:  # HTTP/1.1, keep-alive
        driver = SyncDriver(client, GamePool(pool_size), policy, random.Random(seed))

        def phase(name: str, kinds: list[str], count: int) -> None:
            driver.rec = Recorder()
            before = Snapshot.take(pids)
            driver.run(kinds, count)
            after = Snapshot.take(pids)
            results.append(phase_result(name, "sequential", 1, driver.rec, before, after))

        driver.run(["healthz", "play"], warmup)  # warm-up, not reported
        phase("interleaved", ["healthz", "play"], n)
        phase("/healthz only", ["healthz"], n)
        phase("/start_game only", ["prestart"], games_for(n, pool_size))
        phase("/play only", ["play"], n)
    return results


async def concurrent_phases(
    url: str,
    pids: list[int],
    n: int,
    warmup: int,
    clients: int,
    pool_size: int,
    policy: str,
    seed: int,
) -> list[dict[str, Any]]:
    drivers = [
        AsyncDriver(url, GamePool(pool_size), policy, random.Random(seed + 1 + i))
        for i in range(clients)
    ]
    shares = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    results = []

    async def phase(name: str | None, kinds: list[str], counts: list[int]) -> None:
        for d in drivers:
            d.rec = Recorder()
        before = Snapshot.take(pids)
        await asyncio.gather(*(d.run(kinds, c) for d, c in zip(drivers, counts, strict=True)))
        after = Snapshot.take(pids)
        if name is not None:
            rec = Recorder()
            for d in drivers:
                rec.merge(d.rec)
            results.append(phase_result(name, "concurrent", clients, rec, before, after))

    try:
        per_client_warmup = max(1, math.ceil(warmup / clients))
        await phase(None, ["healthz", "play"], [per_client_warmup] * clients)
        await phase("interleaved", ["healthz", "play"], shares)
        await phase("/healthz only", ["healthz"], shares)
        await phase("/start_game only", ["prestart"], [games_for(s, pool_size) for s in shares])
        await phase("/play only", ["play"], shares)
    finally:
        for d in drivers:
            await d.client.aclose()
    return results


def run_async(coro: Any, client_loop: str) -> Any:
    if client_loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


# --------------------------------------------------------------------------------------------
# wrk

WRK_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"non_2xx_3xx":%.0f,' ..
    '"connect_errors":%.0f,"read_errors":%.0f,"write_errors":%.0f,"timeouts":%.0f,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"mean_us":%.1f,"max_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""

WRK_PLAY = r"""
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local games = { %(games)s }
local moves = { "rock", "paper", "scissors" }
local headers = { ["Content-Type"] = "application/json" }
local i = 0

function init(args)
  -- Threads start half the list apart so two connections rarely play the same game at once.
  i = (tid or 0) * math.floor(#games / %(threads)d)
  math.randomseed(%(seed)d + (tid or 0))
end

function request()
  i = i + 1
  local body = '{"game_id":"' .. games[(i %% #games) + 1] .. '","user_move":"' ..
    moves[math.random(1, 3)] .. '"}'
  return wrk.format("POST", "/play", headers, body)
end
"""


def server_buckets(url: str, route: str) -> dict[float, float]:
    """The server's own request-duration histogram for ``route``: upper bound → count."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = re.compile(
        r"^rps_http_request_duration_seconds_bucket\{(?P<labels>[^}]*)\} (?P<value>\S+)$",
        re.MULTILINE,
    )
    buckets: dict[float, float] = {}
    for m in pattern.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group("labels")))
        if labels.get("route") == route:
            bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + float(m.group("value"))
    return buckets


def server_side_tail(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """From the histogram's growth over a run: the bucket holding the server-side p99, and the
    share of requests the server itself spent more than 50 ms on."""
    delta = {b: after.get(b, 0.0) - before.get(b, 0.0) for b in after}
    total = delta.get(math.inf, 0.0)
    if total <= 0:
        return {}
    p99_bound = next((b for b in sorted(delta) if delta[b] >= 0.99 * total), math.inf)
    over_50ms = 1.0 - delta.get(0.05, total) / total
    return {"server_p99_at_most_ms": p99_bound * 1e3, "server_share_over_50ms": over_50ms}


def run_wrk(
    wrk: str,
    url: str,
    pids: list[int],
    game_ids: list[str],
    threads: int,
    connections: int,
    duration_s: int,
    workdir: Path,
    seed: int,
) -> list[dict[str, Any]]:
    healthz_script = workdir / "wrk_healthz.lua"
    healthz_script.write_text(WRK_DONE)
    play_script = workdir / "wrk_play.lua"
    listed = ", ".join(json.dumps(g) for g in game_ids)
    play_script.write_text(
        WRK_PLAY % {"games": listed, "threads": threads, "seed": seed} + WRK_DONE
    )
    results = []
    for name, script in ((HEALTHZ, healthz_script), (PLAY, play_script)):
        cmd = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration_s}s",
            "--latency",
            "-s",
            str(script),
            f"{url}{name}",
        ]
        before = Snapshot.take(pids)
        histogram_before = server_buckets(url, name)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        after = Snapshot.take(pids)
        histogram_after = server_buckets(url, name)
        match = re.search(r"^WRK_JSON (\{.*\})$", proc.stdout, re.MULTILINE)
        figures: dict[str, Any] = json.loads(match.group(1)) if match else {}
        if figures:
            figures["req_per_s"] = figures["requests"] / (figures["duration_us"] / 1e6)
            server_cpu = after.server_cpu - before.server_cpu
            figures["server_cpu_s"] = server_cpu
            figures["server_cpu_ms_per_request"] = server_cpu / figures["requests"] * 1e3
            figures.update(server_side_tail(histogram_before, histogram_after))
        results.append(
            {
                "endpoint": name,
                "command": " ".join(cmd),
                "returncode": proc.returncode,
                "figures": figures,
                "stdout": proc.stdout,
                "stderr": proc.stderr,
            }
        )
    return results


# --------------------------------------------------------------------------------------------
# rps simulate

SIMULATE_LINE = re.compile(r"(\d+) games, (\d+) rounds in ([\d.]+) s \(([\d.]+) games/s\)")


def run_simulate(games: int, seed: int, database_env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rps-bench-sim-") as tmp:
        env = {**os.environ, "DATA_PATH": tmp, "COLUMNS": "200"}
        env["DATABASE_URL"] = database_env.get("DATABASE_URL") or f"sqlite:///{tmp}/rps.db"
        cmd = [
            sys.executable,
            "-m",
            "rps.cli.main",
            "simulate",
            "--games",
            str(games),
            "--seed",
            str(seed),
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    match = SIMULATE_LINE.search(proc.stderr)
    result: dict[str, Any] = {
        "command": " ".join(["python", *cmd[1:]]),
        "returncode": proc.returncode,
        "subprocess_wall_s": wall,
    }
    if match:
        n_games, rounds, seconds = int(match[1]), int(match[2]), float(match[3])
        result.update(
            games=n_games,
            rounds=rounds,
            reported_s=seconds,
            games_per_s=n_games / seconds if seconds > 0 else math.nan,
            rounds_per_s=rounds / seconds if seconds > 0 else math.nan,
            line=match[0],
        )
    else:
        result["stderr_tail"] = proc.stderr[-2000:]
    return result


# --------------------------------------------------------------------------------------------
# Reporting


def package_versions(names: Iterable[str]) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "-"
    return found


def machine_info() -> dict[str, Any]:
    cpu_model = "-"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "load_average_before": os.getloadavg(),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "clock_ticks_per_s": CLK_TCK,
        "packages": package_versions(
            ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "httpx", "sqlalchemy"]
        ),
    }


def finite(value: Any) -> Any:
    """NaN → None, so the JSON output is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def fmt(x: float, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def print_load(machine: dict[str, Any], busy_note: str) -> None:
    """The load average before and after a run, and ``busy_note`` if it started busy."""
    load_before = ", ".join(f"{x:.2f}" for x in machine["load_average_before"])
    load_after = ", ".join(f"{x:.2f}" for x in machine["load_average_after"])
    console.print(f"[bold]load average[/] (1, 5, 15 min): before {load_before}; after {load_after}")
    if machine["load_average_before"][0] > 0.5:
        console.print(f"[yellow]note[/]: {busy_note}")


def print_report(report: dict[str, Any]) -> None:
    m, s, c = report["machine"], report["server"], report["client"]
    console.print(
        f"[bold]machine[/]: nproc {m['nproc']} ({m['cpu_model']}), Python {m['python']}, "
        f"{m['platform']}"
    )
    console.print("[bold]packages[/]: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    console.print(
        f"[bold]server[/]: rps serve, workers={s['workers']}, loop {s['loop']} "
        f"(mapped: {s['uvloop_mapped']}), http {s['http']} (mapped: {s['httptools_mapped']}), "
        f"database {s['database']} ({s['database_url']}), pids {s['pids']}"
    )
    console.print(
        f"[bold]client[/]: sequential httpx.Client (HTTP/1.1 keep-alive); concurrent "
        f"{c['clients']} × httpx.AsyncClient (1 connection each) on {c['loop']}; "
        f"policy {c['policy']}; {c['requests']} requests per endpoint per phase; "
        f"warm-up {c['warmup']} of each"
    )
    print_load(
        m,
        "the machine was not idle before the run; other processes compete with the server "
        "and the client, so expect noisy tails",
    )
    if s["database"] != "sqlite":
        console.print(
            "[yellow]note[/]: server CPU is the rps process only; the database server's own CPU "
            "shows up under others' CPU %"
        )
    if m["nproc"] <= 2:
        console.print(
            f"[yellow]note[/]: {m['nproc']} CPUs shared by the server and the Python client, "
            "so throughput is bounded by both"
        )

    lat = Table(title="latency per phase and endpoint", title_justify="left")
    for col in ("mode", "phase", "endpoint", "n", "median ms", "p90 ms", "p99 ms", "req/s"):
        lat.add_column(col, justify="left" if col in ("mode", "phase", "endpoint") else "right")
    for p in report["phases"]:
        for endpoint, e in p["endpoints"].items():
            label = endpoint
            if endpoint == START and p["phase"] != "/start_game only":
                label = f"{START} (inline)"
            lat.add_row(
                p["mode"],
                p["phase"],
                label,
                str(e["n"]),
                fmt(e["median_ms"], 3),
                fmt(e["p90_ms"], 3),
                fmt(e["p99_ms"], 3),
                fmt(e["req_per_s"], 0),
            )
        lat.add_section()
    console.print(lat)

    ph = Table(
        title="per phase (all requests of the phase, inline /start_game included)",
        title_justify="left",
        caption="CPU % is of one CPU over the phase's wall time; others' = every other process "
        "on the machine (high values mean the figures of that phase are noisy)",
        caption_justify="left",
    )
    for col in (
        "mode",
        "phase",
        "requests",
        "wall s",
        "req/s",
        "server CPU ms/req",
        "client CPU ms/req",
        "server CPU %",
        "others' CPU %",
        "median /play ÷ /healthz",
        "non-200",
    ):
        ph.add_column(col, justify="left" if col in ("mode", "phase", "non-200") else "right")
    for p in report["phases"]:
        ph.add_row(
            p["mode"],
            p["phase"],
            str(p["requests"]),
            fmt(p["wall_s"]),
            fmt(p["req_per_s"], 0),
            fmt(p["server_cpu_ms_per_request"], 3),
            fmt(p["client_cpu_ms_per_request"], 3),
            fmt(p["server_cpu_percent"], 0),
            fmt(p["others_cpu_percent"], 0),
            fmt(p["play_over_healthz_median"]),
            json.dumps(p["non_200"]) if p["non_200"] else "",
        )
    console.print(ph)

    d = Table(title="server CPU per request (single-endpoint phases)", title_justify="left")
    for col in (
        "mode",
        "/healthz ms",
        "/start_game ms",
        "/play ms",
        "/play ÷ /healthz CPU",
        "/play − /healthz ms",
        "median /play ÷ /healthz (isolated)",
    ):
        d.add_column(col, justify="left" if col == "mode" else "right")
    for mode, row in report["server_cpu_per_request"].items():
        d.add_row(
            mode,
            fmt(row["healthz_ms"], 3),
            fmt(row["start_game_ms"], 3),
            fmt(row["play_ms"], 3),
            fmt(row["play_over_healthz"]),
            fmt(row["play_minus_healthz_ms"], 3),
            fmt(row["median_ratio_isolated"]),
        )
    console.print(d)

    sim = report.get("simulate")
    if sim:
        if "games_per_s" in sim:
            console.print(
                f"[bold]rps simulate[/] (in-process, {report['server']['database']}): "
                f"{sim['line']} → {fmt(sim['games_per_s'], 0)} games/s, "
                f"{fmt(sim['rounds_per_s'], 0)} rounds/s; subprocess wall "
                f"{fmt(sim['subprocess_wall_s'])} s (interpreter start + migrate included)"
            )
        else:
            console.print(
                f"[red]rps simulate failed[/] (exit {sim['returncode']}): "
                f"{sim.get('stderr_tail', '')}"
            )

    wrk = report.get("wrk")
    if wrk is not None:
        if wrk.get("skipped"):
            console.print(f"[bold]wrk[/]: skipped — {wrk['skipped']}")
        else:
            w = Table(
                title=f"wrk ({wrk['games']} pre-started games for /play)", title_justify="left"
            )
            for col in (
                "endpoint",
                "requests",
                "req/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "non-2xx/3xx",
                "socket errors",
                "server CPU ms/req",
                "server p99 ≤ ms",
                "server > 50 ms",
            ):
                w.add_column(col, justify="left" if col == "endpoint" else "right")
            for run in wrk["runs"]:
                f = run["figures"]
                if not f:
                    w.add_row(run["endpoint"], f"wrk failed (exit {run['returncode']})")
                    continue
                errors = f["connect_errors"] + f["read_errors"] + f["write_errors"] + f["timeouts"]
                w.add_row(
                    run["endpoint"],
                    str(int(f["requests"])),
                    fmt(f["req_per_s"], 0),
                    fmt(f["p50_us"] / 1e3, 3),
                    fmt(f["p90_us"] / 1e3, 3),
                    fmt(f["p99_us"] / 1e3, 3),
                    str(int(f["non_2xx_3xx"])),
                    str(int(errors)),
                    fmt(f["server_cpu_ms_per_request"], 3),
                    fmt(f.get("server_p99_at_most_ms"), 1),
                    f"{f['server_share_over_50ms']:.2%}" if "server_share_over_50ms" in f else "-",
                )
            console.print(w)
            console.print(
                "server p99 ≤ ms: the histogram bucket (rps_http_request_duration_seconds) that "
                "holds the server's own p99; server > 50 ms: share of requests the server itself "
                "spent more than 50 ms on (wrk's figures add the client's and the kernel's time)"
            )


def cpu_summary(phases: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for mode in ("sequential", "concurrent"):
        by_name = {p["phase"]: p for p in phases if p["mode"] == mode}
        if not by_name:
            continue
        h = by_name["/healthz only"]["server_cpu_ms_per_request"]
        s = by_name["/start_game only"]["server_cpu_ms_per_request"]
        # /play only may hold a few inline /start_game calls if games ran out (normally none).
        play_phase = by_name["/play only"]
        inline = play_phase["endpoints"].get(START, {}).get("n", 0)
        n_play = play_phase["endpoints"][PLAY]["n"]
        pl = (play_phase["server_cpu_s"] * 1e3 - inline * s) / n_play
        out[mode] = {
            "healthz_ms": h,
            "start_game_ms": s,
            "play_ms": pl,
            "play_over_healthz": pl / h if h > 0 else math.nan,
            "play_minus_healthz_ms": pl - h,
            "median_ratio_isolated": play_phase["endpoints"][PLAY]["median_ms"]
            / by_name["/healthz only"]["endpoints"][HEALTHZ]["median_ms"],
        }
    return out


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="requests per endpoint per phase")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients")
    ap.add_argument("--warmup", type=int, default=300, help="warm-up requests of each kind")
    ap.add_argument("--pool", type=int, default=4, help="active games per client")
    ap.add_argument("--policy", default="brian", help="bot policy of the games")
    ap.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a temp DATA_PATH)")
    ap.add_argument("--client-loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--simulate-games", type=int, default=1000, help="0 skips rps simulate")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wrk", action="store_true", help="also run wrk if it is installed")
    ap.add_argument("--wrk-duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        help="wrk threads for the 8 connections (on 2 cores, 1 leaves the server a core)",
    )
    ap.add_argument(
        "--wrk-games",
        type=int,
        default=None,
        help="games pre-started for wrk (default: enough that none finishes at 3,000 rounds/s)",
    )
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument(
        "--models",
        action="store_true",
        help="bootstrap the 12 models first (as `rps up` does) so /play rounds 4+ are model "
        "rounds: 4 ONNX predictions, EV and the shadow rows in the round's transaction",
    )
    return ap.parse_args(argv)


def bootstrap_models(env: dict[str, str]) -> None:
    """Persona games, the 12 bootstrap models, published to the cache: `rps up`'s first start."""
    started = time.perf_counter()
    script = (
        "from rich.console import Console\n"
        "from rps.cli.up import bootstrap_models\n"
        "from rps.bootstrap import migrate_database\n"
        "from rps.settings import get_settings\n"
        "migrate_database(get_settings())\n"
        "bootstrap_models(get_settings(), Console(stderr=True))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    console.print(f"bootstrapped 12 models in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {"machine": machine_info()}
    with tempfile.TemporaryDirectory(prefix="rps-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        database_url = args.database_url or f"sqlite:///{data / 'rps.db'}"
        env = {
            "DATA_PATH": str(data),
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
            # All load comes from one address: the limits are counted (their cost is in the
            # figures) but set out of reach.
            **UNREACHED_LIMITS,
        }
        log_path = Path(tmp) / "server.log"
        if args.models:
            bootstrap_models(env)
        server = ServerProcess(env, workers=1, log_path=log_path)
        console.print(f"starting rps serve on {server.url} (DATA_PATH {data}) …")
        try:
            server.start()
        except Exception:
            if log_path.exists():
                console.print(log_path.read_text()[-4000:])
            raise
        try:
            pids = server.pids()
            info = httpx.get(f"{server.url}/info", timeout=10).json()
            maps = mapped_libraries(pids[-1])
            report["server"] = {
                "workers": 1,
                "loop": "uvloop",
                "http": "httptools",
                "uvloop_mapped": "uvloop" in maps,
                "httptools_mapped": "httptools" in maps,
                # /info shows public facts only (no database, no URLs): the run knows its own.
                "database": "postgresql" if args.database_url else "sqlite",
                "database_url": "given by --database-url" if args.database_url else "sqlite (temp)",
                "pids": pids,
                "version": info.get("version"),
            }
            report["client"] = {
                "clients": args.clients,
                "loop": args.client_loop,
                "policy": args.policy,
                "requests": args.requests,
                "warmup": args.warmup,
                "pool": args.pool,
            }
            console.print("sequential phases …")
            phases = sequential_phases(
                server.url, pids, args.requests, args.warmup, args.pool, args.policy, args.seed
            )
            console.print(f"concurrent phases ({args.clients} clients) …")
            phases += run_async(
                concurrent_phases(
                    server.url,
                    pids,
                    args.requests,
                    args.warmup,
                    args.clients,
                    args.pool,
                    args.policy,
                    args.seed,
                ),
                args.client_loop,
            )
            report["phases"] = phases
            report["server_cpu_per_request"] = cpu_summary(phases)

            if args.wrk:
                wrk = shutil.which("wrk")
                if wrk is None:
                    report["wrk"] = {"skipped": "wrk is not installed (command -v wrk failed)"}
                else:
                    if args.wrk_games is None:
                        # Rounds go round-robin over the games; a game may end from round 11.
                        args.wrk_games = max(2000, math.ceil(args.wrk_duration * 3000 / MIN_ROUNDS))
                    console.print(f"wrk: pre-starting {args.wrk_games} games …")
                    with httpx.Client(base_url=server.url, timeout=30) as client:
                        game_ids = [
                            client.post(START, json={"policy": args.policy}).json()["game_id"]
                            for _ in range(args.wrk_games)
                        ]
                    console.print(
                        f"wrk: 2 × {args.wrk_duration} s, {args.wrk_threads} thread(s), "
                        "8 connections …"
                    )
                    report["wrk"] = {
                        "games": len(game_ids),
                        "runs": run_wrk(
                            wrk,
                            server.url,
                            pids,
                            game_ids,
                            threads=args.wrk_threads,
                            connections=8,
                            duration_s=args.wrk_duration,
                            workdir=Path(tmp),
                            seed=args.seed,
                        ),
                    }
        finally:
            server.stop()

    if args.simulate_games > 0:
        console.print(f"rps simulate --games {args.simulate_games} …")
        db_env = {"DATABASE_URL": args.database_url} if args.database_url else {}
        report["simulate"] = run_simulate(args.simulate_games, args.seed, db_env)

    report["machine"]["load_average_after"] = os.getloadavg()
    console.print()
    print_report(report)
    if args.out:
        args.out.write_text(json.dumps(finite(report), indent=2, default=str) + "\n")
        console.print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
