"""/play latency with a small against a large stored history (10k against 1M rounds), one run.

    .venv/bin/python benchmarks/play_scaling.py [--small 10000] [--large 1000000]
        [--requests 2000] [--rounds 3] [--policy brian] [--out FILE.json] [--keep]

Does a game round get slower as the database fills up? The benchmark builds two SQLite
``DATA_PATH``s that differ only in how much history they hold, serves each with its own
``rps serve --workers 1`` and plays the same load against both:

1. Bootstrap once, as ``benchmarks/play_latency.py --models`` does (persona games, the 12
   bootstrap models, published to the serving cache), then copy that ``DATA_PATH``: both servers
   load the same models from their own copy of ``model-cache/``.
2. Fill each ``rps.db`` with synthetic finished games up to ``--small`` and ``--large`` stored
   rounds: games played by the real rules (``rps.domain.game.Game``; 11–20 rounds, ~14 on
   average), rounds 1–3 from a drawn opening, rounds 4+ as model rounds with the four
   ``alias_predictions`` rows each, timestamps spread over the past half year. Rows go in with
   ``sqlite3.executemany`` in large transactions, with the column layout of
   ``rps.persistence.tables`` (checked against the migrated schema first).
3. ``EXPLAIN QUERY PLAN`` (and the b-trees each statement's bytecode opens) for the statements
   of ``rps.persistence.game_repository`` on the large database: is any of them a scan?
4. Start both servers (``MODEL_POLL_SECONDS=0``) and keep them running. Each gets a warm-up,
   then ``--rounds`` measurement rounds alternate between them (small, large, small, large …) so
   that whatever else the machine does lands on both alike. A measurement is ``--requests``
   /healthz and /play interleaved on one keep-alive ``httpx.Client`` (games pre-started outside
   the timing, 4 played round-robin), then as many /healthz alone: the server CPU of that phase
   gives the /healthz share to take out of the interleaved phase, leaving server CPU per /play.

It prints per-round and pooled median / p90 / p99 of /play and /healthz, ``/play ÷ /healthz``,
server CPU per /play, and the ratio median /play (large) ÷ median /play (small). The /healthz
ratio between the two servers is the control: neither touches history, so how far it strays
from 1.00 is the noise floor of the comparison. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from benchmarks.play_latency import (  # noqa: E402
    CLK_TCK,
    HEALTHZ,
    MOVES,
    PLAY,
    START,
    GamePool,
    Recorder,
    Snapshot,
    SyncDriver,
    bootstrap_models,
    console,
    finite,
    fmt,
    games_for,
    machine_info,
    phase_result,
    print_load,
    quantile,
)
from rich.table import Table  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.dialects import sqlite as sqlite_dialect  # noqa: E402
from tests.support.limits import UNREACHED_LIMITS  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

from rps.domain.game import Game  # noqa: E402
from rps.domain.move import Move  # noqa: E402
from rps.domain.openings import draw_opening  # noqa: E402
from rps.domain.policy import Alias, Policy  # noqa: E402
from rps.persistence import game_repository as repo  # noqa: E402
from rps.persistence.tables import alias_predictions, games, rounds  # noqa: E402

POOL_SIZE = 4  # active games played round-robin by the client
PHASE_WARMUP = 100  # unreported /healthz + /play pairs before each measurement
HISTORY_DAYS = 180  # synthetic games are spread over this many past days
GAMES_PER_TRANSACTION = 2_000  # ~28k rounds and ~100k alias_predictions rows per commit
FILL_CACHE_KIB = 262_144  # the fill connection's page cache (the indexes of 1M rounds fit)
COUNTERFACTUALS = ("win", "lose", "draw")


def size_label(n: int) -> str:
    """10000 → 10k, 1000000 → 1M."""
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if n >= scale and n % (scale // 10) == 0:
            text = f"{n / scale:.1f}".removesuffix(".0")
            return f"{text}{unit}"
    return str(n)


# --------------------------------------------------------------------------------------------
# Synthetic history


def sqlite_timestamp(epoch_s: float) -> str:
    """The text the app stores for a UTC timestamp on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


GAME_FIELDS = (
    "id", "session_id", "player_name", "policy", "model_type", "bot_model_alias", "model_version",
    "difficulty_mode", "is_test", "opening_name", "opening_seq", "user_score", "bot_score",
    "winner", "created_at", "finished_at", "source", "rounds_played",
)  # fmt: skip
ROUND_FIELDS = repo._ROUND_FIELDS
ALIAS_FIELDS = repo._ALIAS_FIELDS


def check_layout(conn: sqlite3.Connection) -> None:
    """The fill's column lists must be the migrated tables' columns (less autoincrement ids)."""
    for table, fields in ((games, GAME_FIELDS), (rounds, ROUND_FIELDS)):
        migrated = {row[1] for row in conn.execute(f"PRAGMA table_info({table.name})")}
        declared = {c.name for c in table.columns}
        expected = declared - ({"id"} if table is rounds else set())
        if set(fields) != expected or not expected <= migrated:
            raise SystemExit(f"{table.name}: fill columns {sorted(fields)} ≠ {sorted(expected)}")
    migrated = {row[1] for row in conn.execute("PRAGMA table_info(alias_predictions)")}
    expected = {c.name for c in alias_predictions.columns} - {"id"}
    if set(ALIAS_FIELDS) != expected or not expected <= migrated:
        raise SystemExit(f"alias_predictions: fill columns {sorted(ALIAS_FIELDS)} ≠ {expected}")


@dataclass
class HistoryChunk:
    games: list[tuple[Any, ...]] = field(default_factory=list)
    rounds: list[tuple[Any, ...]] = field(default_factory=list)
    predictions: list[tuple[Any, ...]] = field(default_factory=list)


class HistoryMaker:
    """Finished games played by the real rules, with their rounds and alias predictions."""

    def __init__(self, rng: random.Random, n_games: int, end_epoch_s: float) -> None:
        self.rng = rng
        self.n_games = n_games
        self.start_s = end_epoch_s - HISTORY_DAYS * 86_400
        self.step_s = HISTORY_DAYS * 86_400 / max(n_games, 1)
        self.moves = list(Move)
        self.policies = list(Policy)
        self.versions = {a.value: str(i + 1) for i, a in enumerate(Alias)}
        self.run_ids = {a.value: uuid.UUID(int=rng.getrandbits(128)).hex for a in Alias}
        # Model output as the app stores it (full-precision floats), drawn from a pool.
        self.probabilities = [self._probability_text() for _ in range(997)]
        self.players = [f"player{i:04d}" for i in range(5_000)]
        self.index = 0

    def _probability_text(self) -> str:
        raw = [self.rng.random() + 0.05 for _ in range(3)]
        total = sum(raw)
        return repo.probabilities_json(tuple(x / total for x in raw))

    def game(self, chunk: HistoryChunk) -> int:
        """Append one finished game to ``chunk``; returns its number of rounds."""
        rng = self.rng
        game_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        policy = rng.choice(self.policies)
        family = policy.family.value
        alias = Alias.PRODUCTION.value if rng.random() < 0.5 else Alias.B.value
        opening = draw_opening(rng)
        opening_moves = opening.resolve(game_id)
        created_s = self.start_s + self.index * self.step_s + rng.random() * self.step_s * 0.5
        self.index += 1
        game = Game(game_id)
        stamp = ""
        while not game.finished:
            step = game.next_round_no
            bot_move = opening_moves[step - 1] if step <= 3 else rng.choice(self.moves)
            user_move = rng.choice(self.moves)
            played = game.play(user_move, bot_move)
            stamp = sqlite_timestamp(created_s + step * 2.7)
            values = played.values
            model_round = step > 3
            chunk.rounds.append(
                (
                    game_id, step, user_move.value, bot_move.value, played.outcome.value,
                    played.user_delta / 10, played.bot_delta / 10,
                    played.user_score / 10, played.bot_score / 10,
                    values.rock / 10, values.paper / 10, values.scissors / 10,
                    "model" if model_round else "opening",
                    alias if model_round else None,
                    self.versions[alias] if model_round else None,
                    self.run_ids[alias] if model_round else None,
                    None,
                    rng.choice(self.probabilities) if model_round else None,
                    stamp,
                )
            )  # fmt: skip
            if model_round:
                for scoring_alias in Alias:
                    predicted = rng.choice(self.moves)
                    chunk.predictions.append(
                        (
                            game_id, step, family, scoring_alias.value,
                            self.versions[scoring_alias.value], predicted.value,
                            rng.choice(self.probabilities), int(predicted is user_move),
                            rng.choice(COUNTERFACTUALS), stamp,
                        )
                    )  # fmt: skip
        winner = game.winner
        assert winner is not None
        player = rng.choice(self.players)
        chunk.games.append(
            (
                game_id, uuid.UUID(int=rng.getrandbits(128)).hex, player, policy.value, family,
                alias, self.versions[alias], "normal", 0, opening.name.value,
                ",".join(m.value for m in opening_moves), game.user_score / 10,
                game.bot_score / 10, winner.value, sqlite_timestamp(created_s), stamp, "human",
                len(game.rounds),
            )
        )  # fmt: skip
        return len(game.rounds)


def insert_sql(table: str, fields: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(fields)}) VALUES ({', '.join('?' for _ in fields)})"


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("games", "rounds", "alias_predictions")
    }


def database_bytes(db_path: Path) -> int:
    return sum(
        p.stat().st_size for p in (db_path, Path(f"{db_path}-wal")) if p.exists()
    )  # the log is empty after the fill's checkpoint, but a later read may see one


def fill_history(db_path: Path, target_rounds: int, seed: int) -> dict[str, Any]:
    """Add synthetic finished games until ``db_path`` holds ~``target_rounds`` rounds."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        check_layout(conn)
        before = table_counts(conn)
        missing = max(0, target_rounds - before["rounds"])
        # Fill-only settings: no fsync and a large page cache; the app's own connections set
        # their pragmas (WAL, synchronous=NORMAL) when they connect.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute(f"PRAGMA cache_size=-{FILL_CACHE_KIB}")
        maker = HistoryMaker(random.Random(seed), max(1, missing // 14), time.time() - 3_600)
        sql_games = insert_sql("games", GAME_FIELDS)
        sql_rounds = insert_sql("rounds", ROUND_FIELDS)
        sql_predictions = insert_sql("alias_predictions", ALIAS_FIELDS)
        started = time.perf_counter()
        made = 0
        while made < missing:
            chunk = HistoryChunk()
            for _ in range(GAMES_PER_TRANSACTION):
                made += maker.game(chunk)
                if made >= missing:
                    break
            conn.execute("BEGIN")
            conn.executemany(sql_games, chunk.games)
            conn.executemany(sql_rounds, chunk.rounds)
            conn.executemany(sql_predictions, chunk.predictions)
            conn.execute("COMMIT")
        fill_s = time.perf_counter() - started
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        after = table_counts(conn)
    finally:
        conn.close()
    added = {t: after[t] - before[t] for t in after}
    return {
        "target_rounds": target_rounds,
        "before": before,
        "added": added,
        "counts": after,
        "fill_s": fill_s,
        "rows_per_s": sum(added.values()) / fill_s if fill_s > 0 else math.nan,
        "db_bytes": database_bytes(db_path),
    }


# --------------------------------------------------------------------------------------------
# Query plans of the hot path's statements


def _compiled(statement: Any) -> str:
    return str(statement.compile(dialect=sqlite_dialect.dialect()))


def hot_path_statements(game_id: str) -> list[tuple[str, str, Any]]:
    """(name, SQL, parameters) of every statement ``GameRepository`` runs for a game."""
    named_round = dict.fromkeys(ROUND_FIELDS) | {"game_id": game_id, "step_no": 5}
    named_alias = dict.fromkeys(ALIAS_FIELDS) | {"game_id": game_id, "step_no": 5}
    update = {
        "id": game_id,
        "expected_rounds": 4,
        "rounds_played": 5,
        "user_score": 1.0,
        "bot_score": 1.0,
        "winner": None,
        "finished_at": None,
    }
    game_insert = _compiled(insert(games).values({c.name: None for c in games.columns}))
    return [
        ("load: game select", _compiled(repo._SELECT_GAME), (game_id,)),
        ("load: rounds select by game_id", _compiled(repo._SELECT_ROUNDS), (game_id,)),
        ("append_round: compare-and-set UPDATE games", repo._UPDATE_GAME_SQL, update),
        ("append_round: INSERT rounds", repo._INSERT_ROUND_SQL, named_round),
        ("append_round: INSERT alias_predictions", repo._INSERT_ALIAS_SQL, named_alias),
        ("add_game (/start_game): INSERT games", game_insert, (None,) * len(games.columns)),
    ]


def query_plans(db_path: Path) -> list[dict[str, Any]]:
    """EXPLAIN QUERY PLAN per statement, and the tables and indexes its bytecode opens.

    Inserts have no query plan; the b-trees they open (every index they maintain, and with
    foreign keys on, the parent key they look up) show what they cost instead.
    """
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA foreign_keys=ON")  # as the app's connections have it
        roots = {
            page: (name, kind)
            for kind, name, page in conn.execute(
                "SELECT type, name, rootpage FROM sqlite_master WHERE rootpage > 0"
            )
        }
        game_id = conn.execute("SELECT id FROM games ORDER BY created_at DESC LIMIT 1").fetchone()
        plans = []
        for name, sql, params in hot_path_statements(game_id[0] if game_id else "x"):
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            opened: dict[str, str] = {}
            for row in conn.execute(f"EXPLAIN {sql}", params):
                opcode, p2 = row[1], row[3]
                if opcode in ("OpenRead", "OpenWrite") and p2 in roots:
                    btree, kind = roots[p2]
                    mode = "write" if opcode == "OpenWrite" else "read"
                    if opened.get(f"{btree} ({kind})") != "write":
                        opened[f"{btree} ({kind})"] = mode
            scans = [d for d in plan if d.startswith("SCAN")]
            plans.append(
                {
                    "statement": name,
                    "sql": sql,
                    "plan": plan,
                    "btrees_opened": [f"{b}: {m}" for b, m in opened.items()],
                    "scans": scans,
                }
            )
    finally:
        conn.close()
    return plans


# --------------------------------------------------------------------------------------------
# Measuring


class ScalingDriver(SyncDriver):
    """``SyncDriver`` that also counts how each /play was decided (opening, model, fallback)."""

    def __init__(self, client: httpx.Client, policy: str, rng: random.Random) -> None:
        super().__init__(client, GamePool(POOL_SIZE), policy, rng)
        self.sources: Counter[str] = Counter()
        self.plays_stored = 0

    def play(self) -> None:
        while self.pool.missing > 0:
            self.pool.add(self.pool.spares.popleft() if self.pool.spares else self.start())
        game_id, round_no = self.pool.pick()
        body = {"game_id": game_id, "user_move": self.rng.choice(MOVES), "round": round_no}
        t0 = time.perf_counter()
        r = self.client.post(PLAY, json=body)
        self.rec.add(PLAY, time.perf_counter() - t0, r.status_code)
        if r.status_code == 200:
            payload = r.json()
            self.sources[payload["model_info"]["probability_source"]] += 1
            self.plays_stored += 1
            self.pool.played(game_id, payload["finished"])
        else:
            self.pool.drop(game_id)

    def prestart_for(self, plays: int) -> None:
        """Start enough games outside the timing that ``plays`` rounds need no inline start."""
        while len(self.pool.spares) < games_for(plays, POOL_SIZE):
            self.prestart()


@dataclass
class Target:
    """One database, its running server and the client that measures it."""

    label: str
    data_path: Path
    fill: dict[str, Any]
    server: ServerProcess
    client: httpx.Client
    driver: ScalingDriver
    pids: list[int]
    start_s: float
    ready: dict[str, Any]

    @property
    def stored_rounds(self) -> int:
        return int(self.fill["counts"]["rounds"]) + self.driver.plays_stored


def server_system_seconds(pids: list[int]) -> float:
    """stime of the processes, in seconds: the kernel's share (reads, writes, fsync of pages)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                ticks += int(stat.read().rsplit(")", 1)[1].split()[12])
        except FileNotFoundError:
            continue
    return ticks / CLK_TCK


def measure(target: Target, n: int, round_no: int) -> dict[str, Any]:
    """One measurement: n /healthz + /play interleaved, then n /healthz alone for its CPU."""
    driver = target.driver
    driver.prestart_for(n + PHASE_WARMUP)
    driver.run(["healthz", "play"], PHASE_WARMUP)
    stored_at_start = target.stored_rounds
    sources_before = Counter(driver.sources)

    driver.rec = Recorder()
    system_before = server_system_seconds(target.pids)
    before = Snapshot.take(target.pids)
    driver.run(["healthz", "play"], n)
    after = Snapshot.take(target.pids)
    system_s = server_system_seconds(target.pids) - system_before
    mixed = phase_result("interleaved", "sequential", 1, driver.rec, before, after)
    play_samples = driver.rec.samples.get(PLAY, [])
    healthz_samples = driver.rec.samples.get(HEALTHZ, [])

    driver.rec = Recorder()
    before = Snapshot.take(target.pids)
    driver.run(["healthz"], n)
    after = Snapshot.take(target.pids)
    alone = phase_result("/healthz only", "sequential", 1, driver.rec, before, after)

    healthz_cpu_ms = alone["server_cpu_ms_per_request"]
    n_healthz = mixed["endpoints"][HEALTHZ]["n"]
    n_play = mixed["endpoints"][PLAY]["n"]
    inline_starts = mixed["endpoints"].get(START, {}).get("n", 0)
    play_cpu_ms = (mixed["server_cpu_s"] * 1e3 - n_healthz * healthz_cpu_ms) / n_play
    return {
        "round": round_no,
        "database": target.label,
        "stored_rounds_at_start": stored_at_start,
        "play": mixed["endpoints"][PLAY],
        "healthz": mixed["endpoints"][HEALTHZ],
        "play_over_healthz_median": mixed["play_over_healthz_median"],
        "server_cpu_ms_per_pair": mixed["server_cpu_s"] * 1e3 / max(1, min(n_healthz, n_play)),
        "server_cpu_ms_per_healthz": healthz_cpu_ms,
        "server_cpu_ms_per_play": play_cpu_ms,
        "server_system_cpu_ms_per_pair": system_s * 1e3 / max(1, min(n_healthz, n_play)),
        "others_cpu_percent": mixed["others_cpu_percent"],
        "wall_s": mixed["wall_s"],
        "inline_start_game": inline_starts,
        "non_200": mixed["non_200"],
        "play_sources": dict(driver.sources - sources_before),
        "samples_ms": {
            PLAY: [x * 1e3 for x in play_samples],
            HEALTHZ: [x * 1e3 for x in healthz_samples],
        },
    }


def pooled(results: list[dict[str, Any]], label: str) -> dict[str, Any]:
    mine = [r for r in results if r["database"] == label]
    out: dict[str, Any] = {"database": label, "rounds": len(mine)}
    for endpoint, key in ((PLAY, "play"), (HEALTHZ, "healthz")):
        xs = sorted(x for r in mine for x in r["samples_ms"][endpoint])
        out[key] = {
            "n": len(xs),
            "median_ms": quantile(xs, 0.5),
            "p90_ms": quantile(xs, 0.9),
            "p99_ms": quantile(xs, 0.99),
            "mean_ms": statistics.fmean(xs) if xs else math.nan,
        }
        out[f"{key}_round_medians_ms"] = [r[key]["median_ms"] for r in mine]
    out["play_over_healthz_median"] = out["play"]["median_ms"] / out["healthz"]["median_ms"]
    cpu = [r["server_cpu_ms_per_play"] for r in mine]
    out["server_cpu_ms_per_play"] = statistics.median(cpu) if cpu else math.nan
    system = [r["server_system_cpu_ms_per_pair"] for r in mine]
    out["server_system_cpu_ms_per_pair"] = statistics.median(system) if system else math.nan
    return out


def start_target(
    label: str, data_path: Path, fill: dict[str, Any], policy: str, seed: int
) -> Target:
    env = {
        "DATA_PATH": str(data_path),
        "DATABASE_URL": f"sqlite:///{data_path / 'rps.db'}",
        "LOG_LEVEL": "WARNING",
        "MODEL_POLL_SECONDS": "0",
        # All load comes from one address: limits counted but out of reach.
        **UNREACHED_LIMITS,
    }
    log_path = data_path.parent / f"server-{label}.log"
    server = ServerProcess(env, workers=1, log_path=log_path)
    console.print(f"starting rps serve for {label} on {server.url} …")
    t0 = time.perf_counter()
    try:
        server.start(timeout_s=120)
    except Exception:
        if log_path.exists():
            console.print(log_path.read_text()[-4000:])
        raise
    start_s = time.perf_counter() - t0
    client = httpx.Client(base_url=server.url, timeout=30)  # HTTP/1.1, keep-alive
    ready = client.get("/ready").json()
    driver = ScalingDriver(client, policy, random.Random(seed))
    return Target(label, data_path, fill, server, client, driver, server.pids(), start_s, ready)


# --------------------------------------------------------------------------------------------
# Reporting


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    console.print(
        f"[bold]machine[/]: nproc {m['nproc']} ({m['cpu_model']}), Python {m['python']}, "
        f"{m['platform']}"
    )
    print_load(
        m,
        "the machine was not idle; compare the /play ratio with the /healthz control ratio "
        "below before reading anything into it",
    )
    c = report["client"]
    console.print(
        f"[bold]client[/]: one httpx.Client per server (HTTP/1.1 keep-alive), sequential; "
        f"policy {c['policy']}; {c['requests']} /healthz + /play interleaved per measurement, "
        f"{c['rounds']} rounds alternating; warm-up {c['warmup']} pairs per server and "
        f"{PHASE_WARMUP} before each measurement"
    )
    console.print(f"[bold]bootstrap[/]: {fmt(report['bootstrap_s'], 1)} s (once, then copied)")

    f = Table(title="synthetic history", title_justify="left")
    for col in (
        "database",
        "rounds",
        "games",
        "alias_predictions",
        "added rows",
        "fill s",
        "rows/s",
        "rps.db MB",
        "server start s",
        "degraded",
    ):
        f.add_column(col, justify="left" if col in ("database", "degraded") else "right")
    for t in report["databases"]:
        fill = t["fill"]
        f.add_row(
            t["label"],
            str(fill["counts"]["rounds"]),
            str(fill["counts"]["games"]),
            str(fill["counts"]["alias_predictions"]),
            str(sum(fill["added"].values())),
            fmt(fill["fill_s"], 1),
            fmt(fill["rows_per_s"], 0),
            fmt(fill["db_bytes"] / 2**20, 0),
            fmt(t["server_start_s"], 1),
            ", ".join(t["ready"].get("degraded") or []) or "none",
        )
    console.print(f)

    q = Table(
        title=f"hot-path statements on the {report['plans_database']} database",
        title_justify="left",
        caption="plan = EXPLAIN QUERY PLAN; b-trees = what the statement's bytecode opens "
        "(foreign keys on, as in the app)",
        caption_justify="left",
    )
    for col in ("statement", "plan", "b-trees opened", "scan?"):
        q.add_column(col)
    for p in report["query_plans"]:
        q.add_row(
            p["statement"],
            "\n".join(p["plan"]) or "-",
            "\n".join(p["btrees_opened"]),
            "[red]" + "; ".join(p["scans"]) + "[/]" if p["scans"] else "no",
        )
    console.print(q)

    r = Table(
        title="per measurement (sequential, interleaved)",
        title_justify="left",
        caption="sys ms/pair = the server's kernel CPU (stime) per /healthz + /play pair: "
        "page reads and writes of the database show up here",
        caption_justify="left",
    )
    for col in (
        "round",
        "database",
        "stored rounds",
        "/play median",
        "p90",
        "p99",
        "/healthz median",
        "p90",
        "p99",
        "/play ÷ /healthz",
        "server CPU ms/play",
        "sys ms/pair",
        "others' CPU %",
        "/play sources",
    ):
        r.add_column(col, justify="left" if col in ("database", "/play sources") else "right")
    for m_ in report["measurements"]:
        r.add_row(
            str(m_["round"]),
            m_["database"],
            str(m_["stored_rounds_at_start"]),
            fmt(m_["play"]["median_ms"], 3),
            fmt(m_["play"]["p90_ms"], 3),
            fmt(m_["play"]["p99_ms"], 3),
            fmt(m_["healthz"]["median_ms"], 3),
            fmt(m_["healthz"]["p90_ms"], 3),
            fmt(m_["healthz"]["p99_ms"], 3),
            fmt(m_["play_over_healthz_median"]),
            fmt(m_["server_cpu_ms_per_play"], 3),
            fmt(m_["server_system_cpu_ms_per_pair"], 3),
            fmt(m_["others_cpu_percent"], 0),
            " ".join(f"{k} {v}" for k, v in sorted(m_["play_sources"].items())),
        )
    console.print(r)

    p = Table(title="pooled over the rounds (ms)", title_justify="left")
    for col in (
        "database",
        "n /play",
        "/play median",
        "p90",
        "p99",
        "/healthz median",
        "p90",
        "p99",
        "/play ÷ /healthz",
        "server CPU ms/play (median of rounds)",
        "sys ms/pair",
    ):
        p.add_column(col, justify="left" if col == "database" else "right")
    for row in report["pooled"]:
        p.add_row(
            row["database"],
            str(row["play"]["n"]),
            fmt(row["play"]["median_ms"], 3),
            fmt(row["play"]["p90_ms"], 3),
            fmt(row["play"]["p99_ms"], 3),
            fmt(row["healthz"]["median_ms"], 3),
            fmt(row["healthz"]["p90_ms"], 3),
            fmt(row["healthz"]["p99_ms"], 3),
            fmt(row["play_over_healthz_median"]),
            fmt(row["server_cpu_ms_per_play"], 3),
            fmt(row["server_system_cpu_ms_per_pair"], 3),
        )
    console.print(p)

    s = report["scaling"]
    per_round = ", ".join(fmt(x, 3) for x in s["play_median_ratio_per_round"])
    console.print(
        f"[bold]median /play {s['large']} ÷ {s['small']}[/]: "
        f"pooled {fmt(s['play_median_ratio'], 3)} (per round: {per_round}); "
        f"p90 {fmt(s['play_p90_ratio'], 3)}, "
        f"p99 {fmt(s['play_p99_ratio'], 3)}"
    )
    console.print(
        f"[bold]control[/], median /healthz {s['large']} ÷ {s['small']}: "
        f"{fmt(s['healthz_median_ratio'], 3)}; server CPU per /play {s['large']} ÷ {s['small']}: "
        f"{fmt(s['server_cpu_per_play_ratio'], 3)}; (/play ÷ /healthz) {s['large']} ÷ "
        f"{s['small']}: {fmt(s['play_over_healthz_ratio'], 3)}"
    )
    verdict = "yes" if abs(s["play_median_ratio"] - 1) <= 0.10 else "no"
    console.print(f"[bold]median /play within 10% from {s['small']} to {s['large']}[/]: {verdict}")


def scaling_summary(
    results: list[dict[str, Any]], pooled_rows: list[dict[str, Any]], small: str, large: str
) -> dict[str, Any]:
    by_label = {row["database"]: row for row in pooled_rows}
    a, b = by_label[small], by_label[large]
    rounds_small = [r for r in results if r["database"] == small]
    rounds_large = [r for r in results if r["database"] == large]
    return {
        "small": small,
        "large": large,
        "play_median_ratio": b["play"]["median_ms"] / a["play"]["median_ms"],
        "play_p90_ratio": b["play"]["p90_ms"] / a["play"]["p90_ms"],
        "play_p99_ratio": b["play"]["p99_ms"] / a["play"]["p99_ms"],
        "play_median_ratio_per_round": [
            y["play"]["median_ms"] / x["play"]["median_ms"]
            for x, y in zip(rounds_small, rounds_large, strict=True)
        ],
        "healthz_median_ratio": b["healthz"]["median_ms"] / a["healthz"]["median_ms"],
        "server_cpu_per_play_ratio": b["server_cpu_ms_per_play"] / a["server_cpu_ms_per_play"],
        # Each server's /play in units of its own /healthz: noise that slows both cancels out.
        "play_over_healthz_ratio": b["play_over_healthz_median"] / a["play_over_healthz_median"],
    }


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=10_000, help="stored rounds of the small DB")
    ap.add_argument("--large", type=int, default=1_000_000, help="stored rounds of the large DB")
    ap.add_argument("--requests", type=int, default=2000, help="/play (and /healthz) per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds")
    ap.add_argument("--warmup", type=int, default=300, help="warm-up pairs per server")
    ap.add_argument("--policy", default="brian", help="bot policy of the games (a model policy)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary DATA_PATHs")
    args = ap.parse_args(argv)
    for name in ("small", "large", "requests", "rounds"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.small >= args.large:
        ap.error("--small must be below --large")
    return args


def run(args: argparse.Namespace, tmp: Path, report: dict[str, Any]) -> None:
    small, large = size_label(args.small), size_label(args.large)
    first = tmp / small / "data"
    first.mkdir(parents=True)
    console.print(f"bootstrapping the models in {first} (as `rps up` does) …")
    t0 = time.perf_counter()
    bootstrap_models(
        {"DATA_PATH": str(first), "DATABASE_URL": f"sqlite:///{first / 'rps.db'}"}
        | {"LOG_LEVEL": "WARNING"}
    )
    report["bootstrap_s"] = time.perf_counter() - t0
    second = tmp / large / "data"
    shutil.copytree(first, second)

    fills = {}
    for label, path, target in ((small, first, args.small), (large, second, args.large)):
        console.print(f"filling {label}: up to {target} stored rounds …")
        fills[label] = fill_history(path / "rps.db", target, args.seed)
        fill = fills[label]
        console.print(
            f"  {fill['counts']} in {fill['fill_s']:.1f} s "
            f"({fill['rows_per_s']:.0f} rows/s), rps.db {fill['db_bytes'] / 2**20:.0f} MB"
        )
    report["plans_database"] = large
    report["query_plans"] = query_plans(second / "rps.db")

    targets: list[Target] = []
    try:
        for i, (label, path) in enumerate(((small, first), (large, second))):
            targets.append(start_target(label, path, fills[label], args.policy, args.seed + i))
        for t in targets:
            console.print(f"warm-up {t.label} …")
            t.driver.prestart_for(args.warmup)
            t.driver.run(["healthz", "play"], args.warmup)
        results = []
        for round_no in range(1, args.rounds + 1):
            for t in targets:
                console.print(f"round {round_no}: {t.label} …")
                results.append(measure(t, args.requests, round_no))
        report["measurements"] = results
        report["pooled"] = [pooled(results, t.label) for t in targets]
        report["scaling"] = scaling_summary(results, report["pooled"], small, large)
    finally:
        for t in targets:
            t.client.close()
            t.server.stop()
    report["databases"] = []
    for t in targets:
        conn = sqlite3.connect(t.data_path / "rps.db")
        try:
            counts_after = table_counts(conn)
        finally:
            conn.close()
        report["databases"].append(
            {
                "label": t.label,
                "data_path": str(t.data_path),
                "fill": t.fill,
                "counts_after_run": counts_after,
                "server_start_s": t.start_s,
                "ready": t.ready,
                "play_sources": dict(t.driver.sources),
            }
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {"machine": machine_info()}
    report["client"] = {
        "policy": args.policy,
        "requests": args.requests,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "pool": POOL_SIZE,
        "small": args.small,
        "large": args.large,
    }
    if args.keep:
        tmp = Path(tempfile.mkdtemp(prefix="rps-scaling-"))
        run(args, tmp, report)
        console.print(f"kept the DATA_PATHs under {tmp}")
    else:
        with tempfile.TemporaryDirectory(prefix="rps-scaling-") as name:
            run(args, Path(name), report)
    report["machine"]["load_average_after"] = os.getloadavg()
    console.print()
    print_report(report)
    if args.out:
        for m in report["measurements"]:
            m.pop("samples_ms")  # pooled figures keep what they say; raw samples stay out
        args.out.write_text(json.dumps(finite(report), indent=2, default=str) + "\n")
        console.print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
