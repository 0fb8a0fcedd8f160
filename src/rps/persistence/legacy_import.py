"""Import the original system's SQLite database into this schema (SPEC §13, `rps import-legacy`).

The original kept a game per row of ``games`` and a round per row of ``events``. Its schema grew by
``ALTER TABLE`` over its life, so databases from different moments hold different columns under
a few different names. The importer therefore reads which columns each table has
(``PRAGMA table_info``), finds every field under the names listed in ``GAME_FIELDS`` and
``EVENT_FIELDS`` (per row, the first of them that holds a value: a column added late is empty
in older rows), and refuses to start, naming the table and the column, only when a required
field is missing. Every other field has a default.

How a legacy game becomes this schema's game (the choices a user may want to know):

- Ids, sessions and timestamps are kept. A game without a session becomes its own session.
  Timestamps may be ISO text (with an offset or naive, which means UTC) or epoch seconds
  (milliseconds when the number is too large to be seconds); they are stored as UTC.
- ``policy``: the original's model bots keep their names (``brian``, ``forrest``, ``logan``);
  their ``*_easy`` variants become the same bot with ``difficulty_mode = "easy"`` (kept, not
  rewritten to ``normal``, so history stays visible: ``easy`` is retired for new games only, and
  the training reader treats every difficulty alike). Family names (``xgboost`` …) map to the bot
  of that family. A persona as the opponent (the original's "legacy bots") stays a persona policy
  with no model type or alias, as this platform stores such games. Anything else is skipped.
- ``source``: a persona's name on the user side → ``persona`` (the name becomes the persona's
  display name); the original's load-test names (``sim…<digit>``, e.g. ``sim42``, the rule the
  leaderboards filter by) → ``simulated``; everyone else → ``human``. Training downsamples
  persona games by ``TRAINING_LEGACY_GAME_STRIDE`` and leaves out test games, so these carry
  over as they were.
- Rounds: moves in any case; the result is checked against the moves; the point values come from
  the row, or, where the original did not store them, from the round-value rule, which the
  original used in the same form (SPEC §1.1). Deltas and scores are checked against the rules
  and the values (within 0.05 points, for the original's float sums) and stored exactly.
- ``decision_source``: rounds 1–3 of a model bot's game were the original's opening ("gambit"),
  later rounds its model's choice: ``opening`` and ``model``. Which model version decided is not
  known in this registry's numbering, so ``model_version`` stays empty (and no probabilities
  are stored); the round keeps the game's alias. A persona opponent's rounds are ``persona``.
- The opening fields stay empty (the original's gambits are not this platform's openings), the
  winner and finish time follow from the rounds by this platform's rules.

A game that fails any check is skipped whole and counted under its reason; a game and its rounds
are written in one transaction, so nothing is ever half-imported. Game ids already present are
left alone, which makes a second run import nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select

from rps.domain.history import PlayedRound
from rps.domain.move import Move, Outcome, Winner, parse_move
from rps.domain.personas import PersonaName
from rps.domain.policy import Alias, Policy, ProbabilitySource, parse_alias, parse_family
from rps.domain.round_values import RoundValues, round_values
from rps.domain.scoring import score_round, winner_of
from rps.persistence.analytics_queries import is_simulated_name
from rps.persistence.database import Database
from rps.persistence.game_repository import game_row, round_row
from rps.persistence.records import FinishedReason, GameRecord, GameSource, RoundRecord
from rps.persistence.schema_check import LEGACY_TABLES
from rps.persistence.tables import games, rounds

# Where each field may be found, first name first. Column names compare case-insensitively.
GAME_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    # A table with both names has a surrogate ``id``; the rounds refer to ``game_id`` then.
    "id": ("game_id", "id"),
    "policy": ("bot_policy", "policy", "bot", "opponent", "model_type"),
    "created": ("created_ts_utc", "created_at", "created_ts", "start_ts", "started_at"),
    "session_id": ("session_id", "session"),
    "player_name": ("player_name", "user_name", "username", "player"),
    "alias": ("bot_model_alias", "model_alias", "alias"),
    "difficulty_mode": ("difficulty_mode", "difficulty"),
    "easy_mode": ("easy_mode",),
    "is_test": ("is_test", "is_test_game", "is_test_data", "test_game"),
    "finished": ("finished_ts_utc", "finished_ts", "finished_at", "end_ts", "ended_at"),
    "winner": ("winner",),
    "user_score": ("user_score", "player_score"),
    "bot_score": ("bot_score",),
}
EVENT_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "game_id": ("game_id", "game"),
    "step_no": ("step_no", "step", "round_no", "round"),
    "user_move": ("user_move", "player_move"),
    "bot_move": ("bot_move",),
    "result": ("result", "outcome"),
    "rock": ("round_rock_pts", "rock_pts", "rock_points"),
    "paper": ("round_paper_pts", "paper_pts", "paper_points"),
    "scissors": ("round_scissors_pts", "scissors_pts", "scissors_points"),
    "user_delta": ("user_delta", "player_delta"),
    "bot_delta": ("bot_delta",),
    "user_score": ("user_score", "player_score"),
    "bot_score": ("bot_score",),
    "created": ("created_ts_utc", "created_at", "ts", "timestamp"),
}
REQUIRED_GAME_FIELDS: Final = ("id", "policy", "created")
REQUIRED_EVENT_FIELDS: Final = ("game_id", "step_no", "user_move", "bot_move")

# Differences up to this many points are float noise from the original's running sums.
SCORE_TOLERANCE: Final = 0.05
DEFAULT_BATCH_GAMES: Final = 200
OPENING_ROUNDS: Final = 3
_MAX_ID_LENGTH = 64  # the id and session columns of this schema
_MAX_NAME_LENGTH = 64
_MIN_VALUE_TENTHS, _MAX_VALUE_TENTHS = 10, 20  # every round value lies in 1.0–2.0 (SPEC §1.1)
# Epoch numbers above this are milliseconds (as seconds they would be after the year 5000).
_EPOCH_MILLISECONDS_FROM = 1e11

_PERSONAS: Final = frozenset(p.value for p in PersonaName)
_EASY_SUFFIX = "_easy"
_DIFFICULTIES: Final = {"easy": "easy", "normal": "normal", "standard": "normal"}
_RESULTS: Final = {
    "win": Outcome.WIN,
    "won": Outcome.WIN,
    "lose": Outcome.LOSE,
    "loss": Outcome.LOSE,
    "lost": Outcome.LOSE,
    "draw": Outcome.DRAW,
    "tie": Outcome.DRAW,
}
_WINNERS: Final = {
    "user": Winner.USER,
    "player": Winner.USER,
    "human": Winner.USER,
    "bot": Winner.BOT,
    "tie": Winner.TIE,
    "draw": Winner.TIE,
}
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}


class LegacyImportError(Exception):
    """The source cannot be read as the original's database: no such file, not SQLite, or a
    table or required column is missing (found before anything is written)."""


class SkipReason(StrEnum):
    """Why a legacy game was not imported."""

    BAD_GAME_ID = "bad_game_id"  # empty, or longer than 64 characters
    DUPLICATE_GAME_ID = "duplicate_game_id"  # more than one games row with this id
    BAD_SESSION_ID = "bad_session_id"  # longer than 64 characters
    UNKNOWN_POLICY = "unknown_policy"
    UNKNOWN_DIFFICULTY = "unknown_difficulty"
    BAD_FLAG = "bad_flag"  # is_test / easy_mode that is not a boolean
    BAD_TIMESTAMP = "bad_timestamp"  # unreadable, or no creation time at all
    BAD_MOVE = "bad_move"
    STEPS_NOT_CONTIGUOUS = "steps_not_contiguous"  # not 1, 2, 3, … (gap, repeat, missing)
    BAD_RESULT = "bad_result"  # unknown, or contradicts the moves
    BAD_ROUND_VALUES = "bad_round_values"  # missing in part, or outside 1.0–2.0 in tenths
    DELTAS_CONTRADICT_RULES = "deltas_contradict_rules"
    SCORES_NOT_SUM_OF_DELTAS = "scores_not_sum_of_deltas"
    ROUNDS_AFTER_GAME_END = "rounds_after_game_end"
    GAME_ROW_MISMATCH = "game_row_mismatch"  # the games row's scores or winner vs its rounds


@dataclass
class LegacyImportReport:
    """What an import did. ``skipped`` counts games per reason; ``skipped_examples`` keeps the
    first few (game id, detail) per reason; ``orphan_events`` counts rounds whose game id has
    no games row (they cannot be imported)."""

    source: Path
    dry_run: bool = False
    games_seen: int = 0
    games_imported: int = 0
    rounds_imported: int = 0
    already_present: int = 0
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    skipped_examples: dict[SkipReason, list[tuple[str, str]]] = field(default_factory=dict)
    orphan_events: int = 0
    imported_by_source: Counter[GameSource] = field(default_factory=Counter)
    test_games_imported: int = 0
    earliest_created_at: datetime | None = None
    latest_created_at: datetime | None = None

    @property
    def games_skipped(self) -> int:
        return sum(self.skipped.values())

    def add_skipped(self, game_id: str, reason: SkipReason, detail: str) -> None:
        self.skipped[reason] += 1
        examples = self.skipped_examples.setdefault(reason, [])
        if len(examples) < 5:
            examples.append((game_id, detail))

    def add_imported(self, record: GameRecord, n_rounds: int) -> None:
        self.games_imported += 1
        self.rounds_imported += n_rounds
        self.imported_by_source[record.source] += 1
        self.test_games_imported += record.is_test
        created = record.created_at
        if self.earliest_created_at is None or created < self.earliest_created_at:
            self.earliest_created_at = created
        if self.latest_created_at is None or created > self.latest_created_at:
            self.latest_created_at = created


ProgressCallback = Callable[[int, int], None]  # (games done, games in the source)


# -- reading the source --------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _resolve_columns(
    conn: sqlite3.Connection,
    path: Path,
    table: str,
    fields: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
) -> dict[str, tuple[str, ...]]:
    """field → the table's columns holding it, preferred first; LegacyImportError naming a
    missing required field."""
    present = {
        str(row[1]).lower(): str(row[1])
        for row in conn.execute(f"PRAGMA table_info({_quote(table)})")
    }
    resolved: dict[str, tuple[str, ...]] = {}
    for name, candidates in fields.items():
        columns = tuple(present[c] for c in candidates if c in present)
        if columns:
            resolved[name] = columns
    for name in required:
        if name not in resolved:
            candidates = fields[name]
            others = f" (also accepted: {', '.join(candidates[1:])})" if candidates[1:] else ""
            raise LegacyImportError(
                f"{path}: table {table} has no {candidates[0]} column{others}, which the import "
                f"needs; its columns are: {', '.join(sorted(present.values())) or 'none'}"
            )
    return resolved


def _open_source(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise LegacyImportError(f"{path}: no such file (expected the original system's rps.db)")
    if not path.is_file():
        raise LegacyImportError(f"{path}: not a file (expected the original system's rps.db)")
    # Read-only: importing must never change the source.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {
            str(row[0]).lower()
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LegacyImportError(f"{path}: cannot be read as an SQLite database ({exc})") from None
    missing = [t for t in LEGACY_TABLES if t not in tables]
    if missing:
        conn.close()
        hint = (
            " — it looks like this platform's own database, not the original's"
            if "rounds" in tables
            else ""
        )
        raise LegacyImportError(
            f"{path}: no {' and no '.join(missing)} table{hint}; the original system's database "
            "has games and events tables"
        )
    return conn


def _select(table: str, columns: Mapping[str, tuple[str, ...]], order_by: str | None = None) -> str:
    names = ", ".join(_quote(c) for c in dict.fromkeys(itertools.chain(*columns.values())))
    order = f" ORDER BY {order_by}" if order_by else ""
    return f"SELECT {names} FROM {_quote(table)}{order}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _rows(
    cursor: Iterable[Sequence[Any]], columns: Mapping[str, tuple[str, ...]]
) -> Iterator[dict[str, Any]]:
    """Each row as field → value: the first of the field's columns that holds one, so a column
    the original added late (NULL in its older rows) falls back to the one it replaced."""
    selected = list(dict.fromkeys(itertools.chain(*columns.values())))
    positions = {f: tuple(selected.index(c) for c in cs) for f, cs in columns.items()}
    for row in cursor:
        yield {
            f: next((row[i] for i in at if not _missing(row[i])), None)
            for f, at in positions.items()
        }


# -- converting values ---------------------------------------------------------------------------


class GameSkipped(Exception):
    """A legacy game fails a check: why (``reason``) and where (``detail``)."""

    def __init__(self, reason: SkipReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    return text or None


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise GameSkipped(SkipReason.BAD_FLAG, f"{name} {value!r} is not a boolean")


def parse_timestamp(value: Any) -> datetime | None:
    """A legacy timestamp as a UTC-aware datetime; None when empty.

    ISO text (a naive one is taken as UTC, as the original wrote UTC) or epoch seconds, as a
    number or numeric text; numbers too large to be seconds are milliseconds. ValueError when
    unreadable.
    """
    if value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        text = _text(value)
        if text is None:
            return None
        try:
            number = float(text)
        except ValueError:
            parsed = datetime.fromisoformat(text)
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a time")
    if abs(number) >= _EPOCH_MILLISECONDS_FROM:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"{value!r} is out of range as epoch seconds") from exc


def _timestamp(value: Any, what: str) -> datetime | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise GameSkipped(SkipReason.BAD_TIMESTAMP, f"{what} {value!r} is not a time") from None


def _number(value: Any) -> float | None:
    """A float from a number or numeric text; None for NULL; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    number = float(value.strip() if isinstance(value, str) else value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _close(given: float, expected_tenths: int) -> bool:
    return abs(given - expected_tenths / 10) <= SCORE_TOLERANCE + 1e-9


def _move(value: Any, side: str, step: int) -> Move:
    text = _text(value)
    try:
        if text is None:
            raise ValueError("missing")
        return parse_move(text)
    except ValueError:
        raise GameSkipped(
            SkipReason.BAD_MOVE,
            f"round {step}: {side} {value!r} is not rock, paper or scissors",
        ) from None


def _policy(value: Any) -> tuple[Policy | PersonaName, bool]:
    """The policy and whether its name marks the original's easy mode."""
    text = (_text(value) or "").lower()
    easy = text.endswith(_EASY_SUFFIX)
    base = text[: -len(_EASY_SUFFIX)] if easy else text
    with contextlib.suppress(ValueError):  # a policy, or a family by any of its names
        return Policy.playing(parse_family(base)), easy
    if not easy and base in _PERSONAS:
        return PersonaName(base), False
    raise GameSkipped(
        SkipReason.UNKNOWN_POLICY, f"policy {value!r} is not a bot this platform knows"
    )


def _difficulty(game: Mapping[str, Any], easy_policy: bool) -> str:
    text = _text(game.get("difficulty_mode"))
    if text is not None and text.lower() not in _DIFFICULTIES:
        raise GameSkipped(
            SkipReason.UNKNOWN_DIFFICULTY,
            f"difficulty_mode {text!r} is not normal, standard or easy",
        )
    easy = (
        (text is not None and _DIFFICULTIES[text.lower()] == "easy")
        or _flag(game.get("easy_mode"), "easy_mode")
        or easy_policy
    )
    return "easy" if easy else "normal"


def _default_player_name(session_id: str) -> str:
    # The name this platform gives a player who leaves the field empty (services.gameplay).
    number = int(hashlib.sha256(session_id.encode()).hexdigest(), 16) % 1000
    return f"Player-{number:03d}"


def _player(value: Any, session_id: str) -> tuple[str, GameSource]:
    text = "".join(
        ch for ch in (_text(value) or "") if unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()
    if text.lower() in _PERSONAS:
        return PersonaName(text.lower()).display_name, GameSource.PERSONA
    if not text or text.lower() == "player":
        return _default_player_name(session_id), GameSource.HUMAN
    source = GameSource.SIMULATED if is_simulated_name(text) else GameSource.HUMAN
    return text[:_MAX_NAME_LENGTH], source


def _alias(value: Any) -> Alias | None:
    """The game's alias, exactly as the original wrote it; None for anything else."""
    try:
        return parse_alias(_text(value) or "")
    except ValueError:
        return None


def _values(event: Mapping[str, Any], game_id: str, step: int) -> RoundValues:
    raw = [event.get(m.value) for m in (Move.ROCK, Move.PAPER, Move.SCISSORS)]
    if all(v is None for v in raw):
        return round_values(game_id, step)  # the original's own rule, same as SPEC §1.1
    tenths = []
    for move, value in zip((Move.ROCK, Move.PAPER, Move.SCISSORS), raw, strict=True):
        try:
            number = _number(value)
        except ValueError:
            number = None
        if number is None:
            raise GameSkipped(
                SkipReason.BAD_ROUND_VALUES, f"round {step}: {move.value} value {value!r}"
            )
        t = round(number * 10)
        if abs(number * 10 - t) > 1e-6 or not _MIN_VALUE_TENTHS <= t <= _MAX_VALUE_TENTHS:
            raise GameSkipped(
                SkipReason.BAD_ROUND_VALUES,
                f"round {step}: {move.value} value {number} is not 1.0–2.0 in tenths",
            )
        tenths.append(t)
    return RoundValues(*tenths)


def _checked(event: Mapping[str, Any], key: str, expected_tenths: int) -> bool:
    """True when the event has no such field, or it agrees with the expected points."""
    try:
        given = _number(event.get(key))
    except ValueError:
        return False
    return given is None or _close(given, expected_tenths)


# -- converting a game ---------------------------------------------------------------------------


def _steps(events: Sequence[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any]]]:
    numbered: list[tuple[int, Mapping[str, Any]]] = []
    for event in events:
        raw = event.get("step_no")
        try:
            number = _number(raw)
        except ValueError:
            number = None
        if number is None or number != int(number):
            raise GameSkipped(
                SkipReason.STEPS_NOT_CONTIGUOUS, f"step_no {raw!r} is not a round number"
            )
        numbered.append((int(number), event))
    numbered.sort(key=lambda pair: pair[0])
    steps = [n for n, _ in numbered]
    if steps != list(range(1, len(steps) + 1)):
        shown = ", ".join(map(str, steps[:25])) + (" …" if len(steps) > 25 else "")
        raise GameSkipped(
            SkipReason.STEPS_NOT_CONTIGUOUS, f"steps are {shown}; expected 1, 2, 3, …"
        )
    return numbered


def _played_rounds(
    game_id: str, numbered: Sequence[tuple[int, Mapping[str, Any]]]
) -> list[PlayedRound]:
    """The rounds, checked against the rules; scores summed exactly from the rules' deltas."""
    played: list[PlayedRound] = []
    user_total = bot_total = 0
    for step, event in numbered:
        if played and winner_of(user_total, bot_total) is not None:
            raise GameSkipped(
                SkipReason.ROUNDS_AFTER_GAME_END,
                f"round {step} follows round {step - 1}, in which the game was won",
            )
        user_move = _move(event.get("user_move"), "user_move", step)
        bot_move = _move(event.get("bot_move"), "bot_move", step)
        values = _values(event, game_id, step)
        score = score_round(user_move, bot_move, values)
        result_text = _text(event.get("result"))
        if result_text is not None and _RESULTS.get(result_text.lower()) is not score.outcome:
            raise GameSkipped(
                SkipReason.BAD_RESULT,
                f"round {step}: result {result_text!r} but {user_move.value} against "
                f"{bot_move.value} is a {score.outcome.value} for the user",
            )
        if not (
            _checked(event, "user_delta", score.user_delta)
            and _checked(event, "bot_delta", score.bot_delta)
        ):
            raise GameSkipped(
                SkipReason.DELTAS_CONTRADICT_RULES,
                f"round {step}: deltas {event.get('user_delta')!r}/{event.get('bot_delta')!r}, "
                f"the rules give {score.user_delta / 10}/{score.bot_delta / 10}",
            )
        user_total += score.user_delta
        bot_total += score.bot_delta
        if not (
            _checked(event, "user_score", user_total) and _checked(event, "bot_score", bot_total)
        ):
            raise GameSkipped(
                SkipReason.SCORES_NOT_SUM_OF_DELTAS,
                f"round {step}: scores {event.get('user_score')!r}/{event.get('bot_score')!r}, "
                f"the deltas add up to {user_total / 10}/{bot_total / 10}",
            )
        played.append(
            PlayedRound(
                round_no=step,
                user_move=user_move,
                bot_move=bot_move,
                outcome=score.outcome,
                values=values,
                user_delta=score.user_delta,
                bot_delta=score.bot_delta,
                user_score=user_total,
                bot_score=bot_total,
            )
        )
    return played


def _check_game_row(game: Mapping[str, Any], user: int, bot: int, winner: Winner | None) -> None:
    if not (_checked(game, "user_score", user) and _checked(game, "bot_score", bot)):
        raise GameSkipped(
            SkipReason.GAME_ROW_MISMATCH,
            f"games row has scores {game.get('user_score')!r}/{game.get('bot_score')!r}, "
            f"its rounds add up to {user / 10}/{bot / 10}",
        )
    text = _text(game.get("winner"))
    if text is not None and _WINNERS.get(text.lower()) is not winner:
        computed = winner.value if winner else "none (unfinished)"
        raise GameSkipped(
            SkipReason.GAME_ROW_MISMATCH,
            f"games row names winner {text!r}, its rounds give {computed}",
        )


def _decision_source(policy: Policy | PersonaName, step: int) -> ProbabilitySource:
    if isinstance(policy, PersonaName):
        return ProbabilitySource.PERSONA
    return ProbabilitySource.OPENING if step <= OPENING_ROUNDS else ProbabilitySource.MODEL


def convert_game(
    game: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
) -> tuple[GameRecord, list[RoundRecord]]:
    """One legacy game (its games row and events rows, keyed by the field names of
    ``GAME_FIELDS`` / ``EVENT_FIELDS``) as this schema's records.

    Raises ``GameSkipped`` with the reason when the game fails a check.
    """
    game_id = _text(game.get("id")) or ""
    if not game_id or len(game_id) > _MAX_ID_LENGTH:
        raise GameSkipped(
            SkipReason.BAD_GAME_ID, f"game id {game.get('id')!r} is empty or too long"
        )
    session_id = _text(game.get("session_id")) or game_id
    if len(session_id) > _MAX_ID_LENGTH:
        raise GameSkipped(SkipReason.BAD_SESSION_ID, f"session id is longer than {_MAX_ID_LENGTH}")
    policy, easy_policy = _policy(game.get("policy"))
    difficulty = _difficulty(game, easy_policy)
    is_test = _flag(game.get("is_test"), "is_test")
    player_name, source = _player(game.get("player_name"), session_id)
    numbered = _steps(events)
    played = _played_rounds(game_id, numbered)
    round_times = [_timestamp(e.get("created"), f"round {step} time") for step, e in numbered]
    created_at = _timestamp(game.get("created"), "created time") or next(
        (t for t in round_times if t is not None), None
    )
    if created_at is None:
        raise GameSkipped(SkipReason.BAD_TIMESTAMP, "neither the game nor its rounds have a time")
    user = played[-1].user_score if played else 0
    bot = played[-1].bot_score if played else 0
    winner = winner_of(user, bot)
    _check_game_row(game, user, bot, winner)

    is_model = isinstance(policy, Policy)
    alias = _alias(game.get("alias")) if is_model else None
    records: list[RoundRecord] = []
    for round_, at in zip(played, round_times, strict=True):
        decision = _decision_source(policy, round_.round_no)
        records.append(
            RoundRecord(
                played=round_,
                decision_source=decision.value,
                created_at=at or created_at,
                model_alias=alias.value if alias and decision is ProbabilitySource.MODEL else None,
            )
        )
    finished_at = None
    if winner is not None:
        finished_at = _timestamp(game.get("finished"), "finish time") or (
            records[-1].created_at if records else created_at
        )
    record = GameRecord(
        id=game_id,
        session_id=session_id,
        player_name=player_name,
        policy=policy.value,
        model_type=policy.family.value if isinstance(policy, Policy) else None,
        bot_model_alias=alias.value if alias else None,
        model_version=None,
        difficulty_mode=difficulty,
        is_test=is_test,
        opening_name=None,
        opening_seq=(),
        source=source,
        created_at=created_at,
        user_score=user,
        bot_score=bot,
        winner=winner,
        finished_at=finished_at,
        rounds_played=len(records),
        finished_reason=FinishedReason.COMPLETED if winner is not None else None,
        last_round_at=records[-1].created_at if records else None,
    )
    return record, records


# -- writing -------------------------------------------------------------------------------------


def _stored_rows(
    converted: Sequence[tuple[GameRecord, list[RoundRecord]]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    game_rows = []
    for record, _ in converted:
        row = game_row(record)
        row["opening_seq"] = None  # no opening: NULL, not an empty sequence
        game_rows.append(row)
    round_rows = [round_row(g.id, r) for g, rs in converted for r in rs]
    return game_rows, round_rows


def _existing_ids(db: Database, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    with db.read() as conn:
        return {
            str(i) for i in conn.execute(select(games.c.id).where(games.c.id.in_(ids))).scalars()
        }


def _write(db: Database, converted: Sequence[tuple[GameRecord, list[RoundRecord]]]) -> None:
    game_rows, round_rows = _stored_rows(converted)
    with db.write() as conn:
        conn.execute(insert(games), game_rows)
        if round_rows:
            conn.execute(insert(rounds), round_rows)


def _store(
    db: Database,
    converted: Sequence[tuple[GameRecord, list[RoundRecord]]],
    report: LegacyImportReport,
) -> None:
    """Write the games of one batch; ids another writer stored meanwhile count as present."""
    if not converted:
        return
    try:
        _write(db, converted)
    except sa_exc.IntegrityError:
        # Someone stored one of these ids since they were checked: one game at a time instead.
        for one in converted:
            try:
                _write(db, [one])
            except sa_exc.IntegrityError:
                if not _existing_ids(db, [one[0].id]):
                    raise
                report.already_present += 1
                continue
            report.add_imported(one[0], len(one[1]))
        return
    for record, stored in converted:
        report.add_imported(record, len(stored))


LegacyGame = tuple[dict[str, Any], list[dict[str, Any]]]  # a games row and its events rows


def _flush(
    db: Database, pending: list[LegacyGame], report: LegacyImportReport, dry_run: bool
) -> int:
    """Convert and store the pending games (emptying the list); returns how many there were."""
    ids = [_text(game.get("id")) or "" for game, _ in pending]
    present = _existing_ids(db, [i for i in ids if i and len(i) <= _MAX_ID_LENGTH])
    converted: list[tuple[GameRecord, list[RoundRecord]]] = []
    for (game, events), game_id in zip(pending, ids, strict=True):
        if game_id in present:
            report.already_present += 1
            continue
        try:
            converted.append(convert_game(game, events))
        except GameSkipped as skip:
            report.add_skipped(game_id, skip.reason, skip.detail)
    if dry_run:
        for record, stored in converted:
            report.add_imported(record, len(stored))
    else:
        _store(db, converted, report)
    n = len(pending)
    pending.clear()
    return n


def _read_games(
    conn: sqlite3.Connection,
    path: Path,
    columns: Mapping[str, tuple[str, ...]],
    report: LegacyImportReport,
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The games rows by id, and the ids on several rows (skipped, every row of them)."""
    try:
        rows = list(_rows(conn.execute(_select("games", columns)), columns))
    except sqlite3.DatabaseError as exc:
        raise LegacyImportError(f"{path}: cannot read table games ({exc})") from None
    report.games_seen = len(rows)
    counts = Counter(_text(row.get("id")) or "" for row in rows)
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        game_id = _text(row.get("id")) or ""
        if counts[game_id] > 1:
            report.add_skipped(
                game_id, SkipReason.DUPLICATE_GAME_ID, f"{counts[game_id]} games rows"
            )
        else:
            by_id[game_id] = row
    return by_id, {game_id for game_id, n in counts.items() if n > 1}


def _events_by_game(
    conn: sqlite3.Connection, path: Path, columns: Mapping[str, tuple[str, ...]]
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(game id, its events rows), one game after another, in a single pass over the table."""
    names = ", ".join(_quote(c) for c in columns["game_id"])
    key = f"COALESCE({names})" if len(columns["game_id"]) > 1 else names
    game_key = f"CAST({key} AS TEXT)"
    try:
        cursor = conn.execute(_select("events", columns, order_by=game_key))
        rows = _rows(cursor, columns)
        for game_id, group in itertools.groupby(rows, key=lambda e: _text(e["game_id"]) or ""):
            yield game_id, list(group)
    except sqlite3.DatabaseError as exc:
        raise LegacyImportError(f"{path}: cannot read table events ({exc})") from None


def import_legacy(
    path: Path,
    db: Database,
    *,
    dry_run: bool = False,
    batch_games: int = DEFAULT_BATCH_GAMES,
    on_progress: ProgressCallback | None = None,
) -> LegacyImportReport:
    """Import the original system's ``games`` and ``events`` from the SQLite file ``path`` into
    ``db`` (migrated to head), skipping game ids ``db`` already holds.

    Raises :class:`LegacyImportError`, having written nothing, when ``path`` is missing, is not
    SQLite, or lacks a table or a required column (a read error part-way through raises it too,
    with the batches before it stored; running again continues where it stopped). With
    ``dry_run`` every game is read and checked and the report says what would be imported, but
    nothing is written. ``on_progress`` gets (games done, games in the source) after every batch
    of ``batch_games`` games.
    """
    if batch_games < 1:
        raise ValueError(f"batch_games must be at least 1, got {batch_games}")
    report = LegacyImportReport(source=path, dry_run=dry_run)
    conn = _open_source(path)
    try:
        game_columns = _resolve_columns(conn, path, "games", GAME_FIELDS, REQUIRED_GAME_FIELDS)
        event_columns = _resolve_columns(conn, path, "events", EVENT_FIELDS, REQUIRED_EVENT_FIELDS)
        by_id, duplicates = _read_games(conn, path, game_columns, report)
        total = report.games_seen
        done = total - len(by_id)  # the duplicates, counted as skipped already
        pending: list[LegacyGame] = []

        def flush() -> None:
            nonlocal done
            done += _flush(db, pending, report, dry_run)
            if on_progress:
                on_progress(done, total)

        for game_id, events in _events_by_game(conn, path, event_columns):
            game = by_id.pop(game_id, None)
            if game is None:
                if game_id not in duplicates:
                    report.orphan_events += len(events)
                continue
            pending.append((game, events))
            if len(pending) >= batch_games:
                flush()
        for game in by_id.values():  # games that never got a round
            pending.append((game, []))
            if len(pending) >= batch_games:
                flush()
        flush()
    finally:
        conn.close()
    return report
