"""Databases in the original system's schema, filled with real game play (SPEC §13 tests).

The original's DDL is not part of this project. ``ORIGINAL_DDL`` reconstructs it from the
original's description (``seed/copilot-instructions.md``: a SQLite ``rps.db`` whose ``games``
table carries ``is_test``, ``created_ts_utc``, the bot policy, the A/B alias and the retired easy
mode, and whose ``events`` table holds one row per round with ``step_no``, both moves, the result
from the user's view, the round's point values, the deltas and the running scores) and from the
habits it describes: the schema grew by ``ALTER TABLE`` (hence nullable late columns such as
``step_no`` and ``created_ts_utc``), timestamps are ISO text from ``datetime.isoformat()``,
scores are float running sums, rounds 1–3 of a model bot are a fixed opening ("gambit") and the
round values are also kept as lags for the features. ``SYNONYM_DDL`` is the same data under the
other names the importer accepts (``game_id``, ``policy``, ``created_at`` as epoch numbers,
``rock_pts`` …, moves in capitals) and ``MINIMAL_DDL`` only the columns the importer requires.

Games are played by the domain's own rules (:class:`rps.domain.game.Game`), with personas choosing
both sides' moves, so every value, delta and score in the file is one the rules produce.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rps.domain.game import Game
from rps.domain.history import PlayedRound
from rps.domain.move import MOVES, Move, Winner
from rps.domain.personas import PersonaName, persona_move
from rps.domain.policy import Policy
from rps.domain.scoring import winner_of

ORIGINAL_DDL = """
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_name TEXT,
    created_ts TEXT
);
CREATE TABLE games (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    bot_policy TEXT NOT NULL,          -- brian | forrest | logan | brian_easy … | ace … hal
    bot_model_version TEXT,            -- where the model came from ("mlflow"), not a version
    user_score REAL NOT NULL DEFAULT 0,
    bot_score REAL NOT NULL DEFAULT 0,
    winner TEXT,                       -- user | bot | tie, NULL while the game runs
    finished INTEGER DEFAULT 0,
    created_ts TEXT NOT NULL,
    finished_ts TEXT,
    opening_name TEXT,                 -- the gambit of rounds 1-3
    opening_seq TEXT,                  -- its moves as a JSON list
    easy_mode INTEGER DEFAULT 0,       -- retired difficulty flag
    difficulty_mode TEXT,              -- standard | easy
    is_test INTEGER DEFAULT 0,
    created_ts_utc TEXT,
    model_type TEXT,                   -- feedforward_nn | xgboost | multinomial_logistic
    bot_model_alias TEXT DEFAULT 'Production',
    player_name TEXT
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    game_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    user_move TEXT NOT NULL,
    bot_move TEXT NOT NULL,
    result TEXT NOT NULL,              -- win | lose | draw, the user's view
    user_delta REAL NOT NULL,
    bot_delta REAL NOT NULL,
    user_score REAL NOT NULL,          -- after the round
    bot_score REAL NOT NULL,
    step_no INTEGER,
    round_rock_pts REAL, round_paper_pts REAL, round_scissors_pts REAL,
    lag1_rock_pts REAL, lag1_paper_pts REAL, lag1_scissors_pts REAL,
    lag2_rock_pts REAL, lag2_paper_pts REAL, lag2_scissors_pts REAL,
    lag3_rock_pts REAL, lag3_paper_pts REAL, lag3_scissors_pts REAL,
    created_ts_utc TEXT
);
CREATE INDEX idx_events_game_step ON events (game_id, step_no);
"""

SYNONYM_DDL = """
CREATE TABLE games (
    game_id TEXT PRIMARY KEY,
    session_id TEXT,
    player_name TEXT,
    policy TEXT NOT NULL,
    is_test INTEGER,
    user_score REAL,
    bot_score REAL,
    winner TEXT,
    created_at INTEGER,                -- epoch seconds
    finished_at INTEGER
);
CREATE TABLE events (
    event_id INTEGER PRIMARY KEY,
    game_id TEXT NOT NULL,
    step_no INTEGER NOT NULL,
    user_move TEXT NOT NULL,           -- ROCK | PAPER | SCISSORS
    bot_move TEXT NOT NULL,
    result TEXT,
    rock_pts REAL, paper_pts REAL, scissors_pts REAL,
    user_delta REAL, bot_delta REAL,
    user_score REAL, bot_score REAL,
    created_at INTEGER                 -- epoch milliseconds
);
"""

MINIMAL_DDL = """
CREATE TABLE games (id TEXT PRIMARY KEY, bot_policy TEXT NOT NULL, created_ts_utc TEXT);
CREATE TABLE events (game_id TEXT, step_no INTEGER, user_move TEXT, bot_move TEXT);
"""


def _iso(at: datetime) -> str:
    return at.isoformat()


def _epoch_s(at: datetime) -> int:
    return int(at.timestamp())


def _epoch_ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


@dataclass(frozen=True)
class LegacySchema:
    """One shape of the original's tables: its DDL, how its columns are named relative to
    ``ORIGINAL_DDL`` (columns it lacks are not written) and how it writes times and moves."""

    ddl: str
    renames: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    game_time: Callable[[datetime], Any] = _iso
    event_time: Callable[[datetime], Any] = _iso
    move: Callable[[Move], str] = str


ORIGINAL = LegacySchema(ORIGINAL_DDL)
SYNONYMS = LegacySchema(
    SYNONYM_DDL,
    renames={
        "games": {
            "id": "game_id",
            "bot_policy": "policy",
            "created_ts_utc": "created_at",
            "finished_ts": "finished_at",
        },
        "events": {
            "round_rock_pts": "rock_pts",
            "round_paper_pts": "paper_pts",
            "round_scissors_pts": "scissors_pts",
            "created_ts_utc": "created_at",
        },
    },
    game_time=_epoch_s,
    event_time=_epoch_ms,
    move=lambda m: m.value.upper(),
)
MINIMAL = LegacySchema(MINIMAL_DDL)

# The persona whose fallback rule stands in for each model bot's moves (as SPEC §4 pairs them).
_STAND_IN = {p.value: p.fallback_persona for p in Policy}


@dataclass(frozen=True)
class LegacyGame:
    """A game as the original stored it: its games-row facts and the rounds played."""

    id: str
    session_id: str
    player_name: str | None
    policy: str  # the original's bot_policy
    is_test: bool
    alias: str | None
    created_at: datetime
    rounds: tuple[PlayedRound, ...]

    @property
    def easy(self) -> bool:
        return self.policy.endswith("_easy")

    @property
    def base_policy(self) -> str:
        return self.policy.removesuffix("_easy")

    @property
    def is_model_bot(self) -> bool:
        return self.base_policy in {p.value for p in Policy}

    @property
    def winner(self) -> Winner | None:
        last = self.rounds[-1] if self.rounds else None
        return winner_of(last.user_score, last.bot_score) if last else None

    def round_time(self, step: int) -> datetime:
        return self.created_at + timedelta(seconds=3 * step, milliseconds=step)

    @property
    def finished_at(self) -> datetime | None:
        return self.round_time(len(self.rounds)) if self.winner else None


def play(game_id: str, user: PersonaName, bot: PersonaName, seed: int) -> tuple[PlayedRound, ...]:
    """A whole game, both sides' moves chosen by personas, scored by the domain's rules."""
    rng = random.Random(seed)
    game = Game(game_id)
    while not game.finished:
        game.play(
            persona_move(user, game.view("user"), rng), persona_move(bot, game.view("bot"), rng)
        )
    return tuple(game.rounds)


# (player name as the original stored it, bot_policy, is_test): people, personas on the user side
# (the original's gameplay job wrote their names in lower case), a load-test client, a player
# who left the name empty, easy-mode bots, a persona as the bot, and a test game.
MIX: tuple[tuple[str | None, str, bool], ...] = (
    ("Ada", "brian", False),
    ("ace", "forrest", False),
    ("Grace", "logan_easy", False),
    ("cal", "bob", False),
    ("Linus", "forrest", True),
    ("sim42", "logan", False),
    ("hal", "brian", False),
    (None, "forrest_easy", False),
    ("Edsger", "logan", False),
    ("gus", "logan", False),
)
_HUMAN_STAND_INS = (PersonaName.HAL, PersonaName.EDD, PersonaName.ACE, PersonaName.FOX)


def legacy_games(
    n: int,
    *,
    seed: int = 0,
    start: datetime = datetime(2025, 9, 1, 8, 30, 0, 123456, tzinfo=UTC),
    mix: Sequence[tuple[str | None, str, bool]] = MIX,
) -> list[LegacyGame]:
    """``n`` finished games cycling through ``mix``, seven minutes apart from ``start``; two
    consecutive games share a session."""
    rng = random.Random(seed)
    made = []
    session = ""
    for i in range(n):
        player, policy, is_test = mix[i % len(mix)]
        game_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if i % 2 == 0:
            session = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        base = policy.removesuffix("_easy")
        persona_player = (player or "").lower() in {p.value for p in PersonaName}
        user = (
            PersonaName(player.lower())
            if player and persona_player
            else _HUMAN_STAND_INS[i % len(_HUMAN_STAND_INS)]
        )
        bot = _STAND_IN.get(base) or PersonaName(base)
        made.append(
            LegacyGame(
                id=game_id,
                session_id=session,
                player_name=player,
                policy=policy,
                is_test=is_test,
                alias=("Production", "B")[i % 2],
                created_at=start + timedelta(minutes=7 * i),
                rounds=play(game_id, user, bot, seed=rng.getrandbits(32)),
            )
        )
    return made


def _points(tenths: int) -> float:
    return tenths / 10


def _game_row(game: LegacyGame, schema: LegacySchema) -> dict[str, Any]:
    user = bot = 0.0
    for r in game.rounds:  # the original's float running sums
        user += _points(r.user_delta)
        bot += _points(r.bot_delta)
    winner = game.winner
    finished_at = game.finished_at
    opening = [schema.move(r.bot_move) for r in game.rounds[:3]]
    model_types = {p.value: p.family.value for p in Policy}
    return {
        "id": game.id,
        "session_id": game.session_id,
        "bot_policy": game.policy,
        "bot_model_version": "mlflow",
        "user_score": user,
        "bot_score": bot,
        "winner": winner.value if winner else None,
        "finished": int(winner is not None),
        "created_ts": schema.game_time(game.created_at),
        "finished_ts": schema.game_time(finished_at) if finished_at else None,
        "opening_name": "gambit",
        "opening_seq": json.dumps(opening),
        "easy_mode": int(game.easy),
        "difficulty_mode": "easy" if game.easy else "standard",
        "is_test": int(game.is_test),
        "created_ts_utc": schema.game_time(game.created_at),
        "model_type": model_types.get(game.base_policy),
        "bot_model_alias": game.alias,
        "player_name": game.player_name,
    }


def _event_rows(game: LegacyGame, schema: LegacySchema) -> list[dict[str, Any]]:
    rows = []
    user = bot = 0.0
    for i, r in enumerate(game.rounds):
        user += _points(r.user_delta)
        bot += _points(r.bot_delta)
        at = schema.event_time(game.round_time(r.round_no))
        row = {
            "game_id": game.id,
            "ts": at,
            "user_move": schema.move(r.user_move),
            "bot_move": schema.move(r.bot_move),
            "result": r.outcome.value,
            "user_delta": _points(r.user_delta),
            "bot_delta": _points(r.bot_delta),
            "user_score": user,
            "bot_score": bot,
            "step_no": r.round_no,
            "created_ts_utc": at,
        }
        for m in MOVES:
            row[f"round_{m.value}_pts"] = _points(r.values.tenths(m))
        for lag in (1, 2, 3):
            earlier = game.rounds[i - lag].values if i - lag >= 0 else None
            for m in MOVES:
                row[f"lag{lag}_{m.value}_pts"] = _points(earlier.tenths(m)) if earlier else 1.0
        rows.append(row)
    return rows


def _insert(
    conn: sqlite3.Connection,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    schema: LegacySchema,
    columns: set[str],
) -> None:
    renames = schema.renames.get(table, {})
    for row in rows:
        named = {renames.get(k, k): v for k, v in row.items()}
        kept = {k: v for k, v in named.items() if k in columns}
        conn.execute(
            f"INSERT INTO {table} ({', '.join(kept)}) VALUES ({', '.join('?' * len(kept))})",
            tuple(kept.values()),
        )


def write_legacy_db(
    path: Path, games: Sequence[LegacyGame], schema: LegacySchema = ORIGINAL
) -> Path:
    """Create ``path`` with ``schema``'s tables holding ``games`` (and their sessions)."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(schema.ddl)
        tables = {
            str(name): {str(c[1]) for c in conn.execute(f"PRAGMA table_info({name})")}
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        for game in games:
            if "sessions" in tables:
                conn.execute(
                    "INSERT OR IGNORE INTO sessions VALUES (?, ?, ?)",
                    (game.session_id, game.player_name, _iso(game.created_at)),
                )
            _insert(conn, "games", [_game_row(game, schema)], schema, tables["games"])
            _insert(conn, "events", _event_rows(game, schema), schema, tables["events"])
        conn.commit()
    finally:
        conn.close()
    return path


def execute(path: Path, sql: str, *params: Any) -> None:
    """Run one statement on a legacy file (to corrupt a game, drop a column …) and commit."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()
