"""Reads and writes of games and their rounds: the gameplay hot path's only storage."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, case, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from rps.domain.history import PlayedRound
from rps.domain.move import Move, Outcome, Winner
from rps.domain.round_values import RoundValues
from rps.persistence.database import Database
from rps.persistence.records import FinishedReason, GameRecord, GameSource, RoundRecord
from rps.persistence.tables import alias_predictions, games, rounds

_ROUND_COLUMNS = (
    rounds.c.step_no,
    rounds.c.user_move,
    rounds.c.bot_move,
    rounds.c.result,
    rounds.c.user_delta,
    rounds.c.bot_delta,
    rounds.c.user_score,
    rounds.c.bot_score,
    rounds.c.rock_pts,
    rounds.c.paper_pts,
    rounds.c.scissors_pts,
    rounds.c.decision_source,
    rounds.c.model_alias,
    rounds.c.model_version,
    rounds.c.model_run_id,
    rounds.c.fallback_reason,
    rounds.c.probabilities,
    rounds.c.created_at,
    rounds.c.belief,
)


def _tenths(points: float) -> int:
    return round(points * 10)


def _points(tenths: int) -> float:
    return tenths / 10


def game_row(record: GameRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "session_id": record.session_id,
        "player_name": record.player_name,
        "policy": record.policy,
        "model_type": record.model_type,
        "bot_model_alias": record.bot_model_alias,
        "model_version": record.model_version,
        "difficulty_mode": record.difficulty_mode,
        "is_test": record.is_test,
        "opening_name": record.opening_name,
        "opening_seq": ",".join(m.value for m in record.opening_seq),
        "user_score": _points(record.user_score),
        "bot_score": _points(record.bot_score),
        "winner": record.winner.value if record.winner else None,
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "source": record.source.value,
        "rounds_played": record.rounds_played,
        "finished_reason": _finished_reason(record),
        "last_round_at": record.last_round_at,
    }


def _finished_reason(record: GameRecord) -> str | None:
    if record.finished_reason is not None:
        return record.finished_reason.value
    # Every writer of whole games (simulation, import) stores games that ended by the rules.
    return FinishedReason.COMPLETED.value if record.winner is not None else None


def round_row(game_id: str, record: RoundRecord) -> dict[str, Any]:
    played = record.played
    values = played.values
    return {
        "game_id": game_id,
        "step_no": played.round_no,
        "user_move": played.user_move.value,
        "bot_move": played.bot_move.value,
        "result": played.outcome.value,
        "user_delta": _points(played.user_delta),
        "bot_delta": _points(played.bot_delta),
        "user_score": _points(played.user_score),
        "bot_score": _points(played.bot_score),
        "rock_pts": _points(values.rock),
        "paper_pts": _points(values.paper),
        "scissors_pts": _points(values.scissors),
        "decision_source": record.decision_source,
        "model_alias": record.model_alias,
        "model_version": record.model_version,
        "model_run_id": record.model_run_id,
        "fallback_reason": record.fallback_reason,
        "probabilities": probabilities_json(record.probabilities) if record.probabilities else None,
        "created_at": record.created_at,
        "belief": record.belief,
    }


def probabilities_json(probabilities: tuple[float, ...]) -> str:
    """A JSON array of finite floats, as ``json.dumps`` writes it, without its machinery.

    ``repr`` of a finite float is the shortest text that reads back to the same float, which is
    what ``json.dumps`` emits; a non-finite value (never produced by a model that passed
    validation) falls back to ``json.dumps`` so the text stays what it always was.
    """
    if all(math.isfinite(p) for p in probabilities):
        return "[" + ", ".join([repr(float(p)) for p in probabilities]) + "]"
    return json.dumps(probabilities)


def alias_rows(game_id: str, record: RoundRecord, created_at: Any) -> list[dict[str, Any]]:
    return [
        {
            "game_id": game_id,
            "step_no": record.played.round_no,
            "model_type": p.model_type,
            "alias": p.alias,
            "model_version": p.model_version,
            "predicted_move": p.predicted_move.value,
            "probabilities": probabilities_json(p.probabilities),
            "correct": p.correct,
            "counterfactual_result": p.counterfactual_result,
            "created_at": created_at,
            "counterfactual_margin": p.counterfactual_margin,
            "scoring_version": p.scoring_version,
        }
        for p in record.alias_predictions
    ]


def _game_from_row(row: Any) -> GameRecord:
    seq = tuple(Move(m) for m in row.opening_seq.split(",")) if row.opening_seq else ()
    return GameRecord(
        id=row.id,
        session_id=row.session_id,
        player_name=row.player_name,
        policy=row.policy,
        model_type=row.model_type,
        bot_model_alias=row.bot_model_alias,
        model_version=row.model_version,
        difficulty_mode=row.difficulty_mode,
        is_test=bool(row.is_test),
        opening_name=row.opening_name,
        opening_seq=seq,
        source=GameSource(row.source),
        created_at=row.created_at,
        user_score=_tenths(row.user_score),
        bot_score=_tenths(row.bot_score),
        winner=Winner(row.winner) if row.winner else None,
        finished_at=row.finished_at,
        rounds_played=row.rounds_played,
        finished_reason=FinishedReason(row.finished_reason) if row.finished_reason else None,
        last_round_at=row.last_round_at,
    )


def _round_from_row(row: Any) -> RoundRecord:
    played = PlayedRound(
        round_no=row.step_no,
        user_move=Move(row.user_move),
        bot_move=Move(row.bot_move),
        outcome=Outcome(row.result),
        values=RoundValues(
            _tenths(row.rock_pts), _tenths(row.paper_pts), _tenths(row.scissors_pts)
        ),
        user_delta=_tenths(row.user_delta),
        bot_delta=_tenths(row.bot_delta),
        user_score=_tenths(row.user_score),
        bot_score=_tenths(row.bot_score),
    )
    probs = json.loads(row.probabilities) if row.probabilities else None
    return RoundRecord(
        played=played,
        decision_source=row.decision_source,
        created_at=row.created_at,
        model_alias=row.model_alias,
        model_version=row.model_version,
        model_run_id=row.model_run_id,
        fallback_reason=row.fallback_reason,
        probabilities=tuple(probs) if probs else None,
        belief=row.belief,
    )


# The two statements of a round, written once. ``:name`` placeholders, rewritten for drivers
# that use ``%(name)s``. The game's update is the round's compare-and-set: it matches only while
# the game has the rounds the writer read and is still open, so a round racing another round,
# or racing the close of an abandoned game (``close_abandoned``), stores nothing.
_UPDATE_GAME_SQL = (
    "UPDATE games SET rounds_played = :rounds_played, user_score = :user_score, "
    "bot_score = :bot_score, winner = :winner, finished_at = :finished_at, "
    "finished_reason = :finished_reason, last_round_at = :last_round_at "
    "WHERE id = :id AND rounds_played = :expected_rounds AND winner IS NULL"
)
_ROUND_FIELDS = (
    "game_id", "step_no", "user_move", "bot_move", "result", "user_delta", "bot_delta",
    "user_score", "bot_score", "rock_pts", "paper_pts", "scissors_pts", "decision_source",
    "model_alias", "model_version", "model_run_id", "fallback_reason", "probabilities",
    "created_at", "belief",
)  # fmt: skip
_INSERT_ROUND_SQL = (
    f"INSERT INTO rounds ({', '.join(_ROUND_FIELDS)}) "
    f"VALUES ({', '.join(':' + f for f in _ROUND_FIELDS)})"
)
_ALIAS_FIELDS = (
    "game_id", "step_no", "model_type", "alias", "model_version", "predicted_move",
    "probabilities", "correct", "counterfactual_result", "created_at", "counterfactual_margin",
    "scoring_version",
)  # fmt: skip
_INSERT_ALIAS_SQL = (
    f"INSERT INTO alias_predictions ({', '.join(_ALIAS_FIELDS)}) "
    f"VALUES ({', '.join(':' + f for f in _ALIAS_FIELDS)})"
)


_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]
_LENGTH = re.compile(r"(?<=^VARCHAR)\(\d+\)$")


def _pg_type(table: Table, field: str) -> str:
    """A column's PostgreSQL type, without a length: an explicit cast to VARCHAR(n) would cut
    a longer value silently, where the column refuses it."""
    return _LENGTH.sub("", str(table.c[field].type.compile(dialect=_POSTGRESQL)))


# PostgreSQL writes a round as one statement, so one round trip: the game's compare-and-set,
# the round, and its alias rows, which inserts select from the update's result, so they add
# rows only when the compare-and-set matched. The statement answers how many games it updated
# (0 or 1). Fields the round and its alias rows share with the game's update are its
# parameters; the round's own are ``r_<field>``; the alias rows' are arrays ``a_<field>`` (one
# element per alias, unnested). Parameters are typed where a SELECT list would read them as text.
# One text for any number of alias rows, under 50 parameters: the driver caches its parsing.
_SHARED_WITH_GAME = {
    "game_id": "g.id",
    "step_no": "CAST(:rounds_played AS INTEGER)",
    "user_score": "CAST(:user_score AS FLOAT)",
    "bot_score": "CAST(:bot_score AS FLOAT)",
    "created_at": "CAST(:last_round_at AS TIMESTAMP WITH TIME ZONE)",
}
_ALIAS_ARRAYS = tuple(f for f in _ALIAS_FIELDS if f not in _SHARED_WITH_GAME)
_ROUND_IN_ONE_STATEMENT_SQL = (
    f"WITH g AS ({_UPDATE_GAME_SQL} RETURNING id), "
    f"r AS (INSERT INTO rounds ({', '.join(_ROUND_FIELDS)}) SELECT "
    + ", ".join(
        _SHARED_WITH_GAME.get(f, f"CAST(:r_{f} AS {_pg_type(rounds, f)})") for f in _ROUND_FIELDS
    )
    + " FROM g), "
    f"a AS (INSERT INTO alias_predictions ({', '.join(_ALIAS_FIELDS)}) SELECT "
    + ", ".join(_SHARED_WITH_GAME.get(f, f"u.{f}") for f in _ALIAS_FIELDS)
    + " FROM g, unnest("
    + ", ".join(f"CAST(:a_{f} AS {_pg_type(alias_predictions, f)}[])" for f in _ALIAS_ARRAYS)
    + f") AS u({', '.join(_ALIAS_ARRAYS)})) "
    "SELECT count(*) FROM g"
)

_SELECT_GAME = select(games).where(games.c.id == bindparam("game_id"))
_SELECT_ROUNDS = (
    select(*_ROUND_COLUMNS)
    .where(rounds.c.game_id == bindparam("game_id"))
    .order_by(rounds.c.step_no)
)
_SELECT_ROUNDS_AFTER = _SELECT_ROUNDS.where(rounds.c.step_no > bindparam("after"))
_SELECT_ALIAS_PROBABILITIES = (
    select(
        alias_predictions.c.step_no, alias_predictions.c.alias, alias_predictions.c.probabilities
    )
    .where(
        alias_predictions.c.game_id == bindparam("game_id"),
        alias_predictions.c.step_no > bindparam("after"),
    )
    .order_by(alias_predictions.c.step_no)
)
# Games being played that a process keeps in memory, oldest dropped first: beyond this many in
# flight, every round reads its game from the database again.
LIVE_GAMES_KEPT = 20_000
# When an open game last saw a move: its newest round, else its start.
_QUIET_SINCE = func.coalesce(games.c.last_round_at, games.c.created_at)
# The side ahead on score wins a closed game; level scores are a tie. Scores are stored as
# integer tenths divided by ten, so equal totals are equal floats on both backends.
_WINNER_ON_SCORE = case(
    (games.c.user_score > games.c.bot_score, Winner.USER.value),
    (games.c.bot_score > games.c.user_score, Winner.BOT.value),
    else_=Winner.TIE.value,
)


def _for_paramstyle(sql: str, paramstyle: str) -> str:
    if paramstyle in ("named",):
        return sql
    if paramstyle == "pyformat":
        return re.sub(r":(\w+)", r"%(\1)s", sql)
    raise ValueError(f"unsupported DBAPI paramstyle {paramstyle!r}")


def _sqlite_timestamp(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores, so Core reads it back identically."""
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


class GameRepository:
    """Games and their rounds.

    Every round is appended with a compare-and-set on the game's round count, so two writers
    racing for one round number cannot both succeed, in one process or across replicas.
    Games being played are kept in memory after their first read: stored rounds never change,
    and a copy that another process has moved past is caught by the compare-and-set and
    brought up to date with the rounds stored since (``refresh``).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._live: dict[str, tuple[GameRecord, list[RoundRecord]]] = {}
        paramstyle = db.paramstyle
        if paramstyle == "qmark":  # sqlite3 takes :name too
            paramstyle = "named"
        self._update_game_sql = _for_paramstyle(_UPDATE_GAME_SQL, paramstyle)
        self._insert_round_sql = _for_paramstyle(_INSERT_ROUND_SQL, paramstyle)
        self._insert_alias_sql = _for_paramstyle(_INSERT_ALIAS_SQL, paramstyle)
        self._timestamp = _sqlite_timestamp if db.is_sqlite else (lambda value: value)
        # PostgreSQL writes a round in one statement (one round trip); SQLite, in process, in
        # three statements of one transaction.
        self._one_statement = not db.is_sqlite
        self._round_in_one_statement_sql = _for_paramstyle(_ROUND_IN_ONE_STATEMENT_SQL, paramstyle)

    def add_game(self, record: GameRecord) -> None:
        with self._db.write() as conn:
            conn.execute(insert(games), game_row(record))
        self._remember(record, [])

    def load(self, game_id: str) -> tuple[GameRecord, list[RoundRecord]] | None:
        """The game and all its rounds in order, read from the database; None if unknown."""
        with self._db.read() as conn:
            loaded = self._load(conn, game_id)
        if loaded is not None:
            self._remember(*loaded)
        return loaded

    def load_live(self, game_id: str) -> tuple[GameRecord, list[RoundRecord]] | None:
        """Like ``load``, served from memory when this process has the game already.

        The copy may lag behind rounds another process stored; ``append_round`` detects that.
        Callers must not mutate what they get.
        """
        live = self._live.get(game_id)
        if live is not None:
            return live
        return self.load(game_id)

    def refresh(self, game_id: str) -> tuple[GameRecord, list[RoundRecord]] | None:
        """Like ``load``, reading only the rounds stored after this process's copy.

        For a copy another process has moved past (its round was refused): stored rounds never
        change, so the copy's rounds stay and the newer ones are appended to them.
        """
        cached = self._live.get(game_id)
        if cached is None:
            return self.load(game_id)
        known = cached[1]
        with self._db.read() as conn:
            row = conn.execute(_SELECT_GAME, {"game_id": game_id}).first()
            if row is None:
                self._live.pop(game_id, None)
                return None
            newer = conn.execute(
                _SELECT_ROUNDS_AFTER, {"game_id": game_id, "after": len(known)}
            ).all()
        record = _game_from_row(row)
        stored = [*known, *(_round_from_row(r) for r in newer)]
        if len(stored) != record.rounds_played:  # not a prefix after all: read it whole
            return self.load(game_id)
        self._remember(record, stored)
        return record, stored

    def _remember(self, record: GameRecord, stored: list[RoundRecord]) -> None:
        if record.winner is not None:
            self._live.pop(record.id, None)  # finished games are rarely asked for again
            return
        if len(self._live) >= LIVE_GAMES_KEPT and record.id not in self._live:
            self._live.pop(next(iter(self._live)))
        self._live[record.id] = (record, stored)

    def _load(self, conn: Connection, game_id: str) -> tuple[GameRecord, list[RoundRecord]] | None:
        row = conn.execute(_SELECT_GAME, {"game_id": game_id}).first()
        if row is None:
            return None
        round_rows = conn.execute(_SELECT_ROUNDS, {"game_id": game_id}).all()
        return _game_from_row(row), [_round_from_row(r) for r in round_rows]

    def append_round(
        self,
        game: GameRecord,
        record: RoundRecord,
        winner: Winner | None,
    ) -> GameRecord | None:
        """Store the game's next round and its new score in one transaction.

        Returns the updated game, or None, storing nothing, if another writer stored a round of
        this game since ``game`` was read (the caller reads again and decides anew).
        """
        played = record.played
        finished_at = record.created_at if winner else None
        reason = FinishedReason.COMPLETED if winner else None
        created_at = self._timestamp(record.created_at)
        params = {
            "id": game.id,
            "expected_rounds": game.rounds_played,
            "rounds_played": played.round_no,
            "user_score": _points(played.user_score),
            "bot_score": _points(played.bot_score),
            "winner": winner.value if winner else None,
            "finished_at": created_at if finished_at else None,
            "finished_reason": reason.value if reason else None,
            "last_round_at": created_at,
        }
        row = round_row(game.id, record)
        row["created_at"] = created_at
        dbapi = self._db.engine.dialect.dbapi
        try:
            if self._one_statement:
                if not self._append_in_one_statement(params, row, record, created_at):
                    return None
            else:
                with self._db.raw_write() as cursor:
                    cursor.execute(self._update_game_sql, params)
                    if cursor.rowcount != 1:  # the copy is behind: ``refresh`` brings it up
                        return None
                    cursor.execute(self._insert_round_sql, row)
                    if record.alias_predictions:
                        cursor.executemany(
                            self._insert_alias_sql,
                            alias_rows(game.id, record, created_at),
                        )
        except dbapi.IntegrityError as exc:  # type: ignore[union-attr]
            self._live.pop(game.id, None)
            raise sa_exc.IntegrityError(self._insert_round_sql, row, exc) from exc
        updated = replace(
            game,
            user_score=played.user_score,
            bot_score=played.bot_score,
            winner=winner,
            finished_at=finished_at,
            rounds_played=played.round_no,
            finished_reason=reason,
            last_round_at=record.created_at,
        )
        previous = self._live.get(game.id)
        stored = (
            previous[1] if previous and previous[0].rounds_played == game.rounds_played else None
        )
        if stored is not None and len(stored) == game.rounds_played:
            # Kept as a read from the database would return it: the alias predictions are
            # written and not needed again.
            self._remember(updated, [*stored, replace(record, alias_predictions=())])
        else:
            self._live.pop(game.id, None)
        return updated

    def _append_in_one_statement(
        self,
        params: dict[str, Any],
        row: dict[str, Any],
        record: RoundRecord,
        created_at: Any,
    ) -> bool:
        """PostgreSQL: the round's writes as one statement; False if the compare-and-set did
        not match (nothing was written)."""
        merged = dict(params)
        merged.update(("r_" + k, v) for k, v in row.items() if k not in _SHARED_WITH_GAME)
        aliases = alias_rows(params["id"], record, created_at)
        merged.update(("a_" + f, [a[f] for a in aliases]) for f in _ALIAS_ARRAYS)
        with self._db.raw_statement() as cursor:
            cursor.execute(self._round_in_one_statement_sql, merged)
            (updated,) = cursor.fetchone()
        return bool(updated)

    def alias_probabilities(
        self, game_id: str, *, after: int = 0
    ) -> dict[int, dict[str, tuple[float, float, float]]]:
        """Each model round's probabilities per alias (round → alias → P), as stored with the
        round, for the rounds after ``after``: what rebuilding or catching up a game's
        decision-layer state needs."""
        with self._db.read() as conn:
            rows = conn.execute(
                _SELECT_ALIAS_PROBABILITIES, {"game_id": game_id, "after": after}
            ).all()
        found: dict[int, dict[str, tuple[float, float, float]]] = {}
        for row in rows:
            p = json.loads(row.probabilities)
            found.setdefault(int(row.step_no), {})[str(row.alias)] = (
                float(p[0]),
                float(p[1]),
                float(p[2]),
            )
        return found

    def close_abandoned(
        self, cutoff: datetime, now: datetime, *, game_id: str | None = None
    ) -> int:
        """Close every open game (or only ``game_id``) with no move since before ``cutoff``
        (SPEC §1.2): the side ahead on score wins, level scores tie, ``finished_at`` is ``now``
        and ``finished_reason`` is ``abandoned``. Test games too. Returns how many it closed.

        One UPDATE whose conditions the database checks on each row as it writes it, so it is
        safe against a round committing at the same moment, on both backends: a round stored
        first makes the game recent and it stays open; a round arriving after the close fails
        its compare-and-set (the game is no longer open) and is refused, never stored into a
        closed game. The winner is computed from the row's scores inside the same statement.
        """
        statement = (
            update(games)
            .where(*_abandoned(cutoff, game_id))
            .values(
                winner=_WINNER_ON_SCORE,
                finished_at=now,
                finished_reason=FinishedReason.ABANDONED.value,
            )
            .returning(games.c.id)
        )
        with self._db.write() as conn:
            closed = [str(i) for i in conn.execute(statement).scalars()]
        for closed_id in closed:
            self._live.pop(closed_id, None)
        return len(closed)

    def count_abandoned(self, cutoff: datetime) -> int:
        """How many open games ``close_abandoned(cutoff, ...)`` would close now (a dry run)."""
        query = select(func.count()).select_from(games).where(*_abandoned(cutoff, None))
        with self._db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def forget(self, game_id: str) -> None:
        """Drop this process's copy of a game (the next read goes to the database)."""
        self._live.pop(game_id, None)

    def add_played_games(
        self, played_games: Sequence[tuple[GameRecord, Sequence[RoundRecord]]]
    ) -> None:
        """Store whole games (with all their rounds) in one transaction (simulation, import)."""
        game_rows = []
        for g, rs in played_games:
            row = game_row(g)
            if row["last_round_at"] is None and rs:
                row["last_round_at"] = max(r.created_at for r in rs)
            game_rows.append(row)
        round_rows = [round_row(g.id, r) for g, rs in played_games for r in rs]
        prediction_rows = [
            row for g, rs in played_games for r in rs for row in alias_rows(g.id, r, r.created_at)
        ]
        with self._db.write() as conn:
            if game_rows:
                conn.execute(insert(games), game_rows)
            if round_rows:
                conn.execute(insert(rounds), round_rows)
            if prediction_rows:
                conn.execute(insert(alias_predictions), prediction_rows)


def _abandoned(cutoff: datetime, game_id: str | None) -> list[ColumnElement[bool]]:
    """Open games with no move since before ``cutoff`` (the scan ix_games_finished_at serves:
    open games have no ``finished_at``)."""
    conditions = [
        games.c.finished_at.is_(None),
        games.c.winner.is_(None),
        cutoff > _QUIET_SINCE,
    ]
    if game_id is not None:
        conditions.append(games.c.id == game_id)
    return conditions
