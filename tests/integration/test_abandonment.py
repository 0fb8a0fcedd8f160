"""Abandoned games on SQLite and on a real PostgreSQL (SPEC §1.2): a game with no move for
ABANDONED_AFTER_MINUTES since its last round (or its start) is closed on the score it has.

Time never passes for real here: every closing gets an explicit ``now`` (or the gameplay service a
clock the test moves), so "quiet for 31 minutes" is a fact of the data, not of a sleep.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from rps.bootstrap import Container, build_container
from rps.cli.scheduler import build_scheduler
from rps.domain.errors import GameAbandoned, GameFinished
from rps.domain.game import Game
from rps.domain.gym import resolve
from rps.domain.move import Move, Winner
from rps.domain.personas import PersonaName
from rps.domain.policy import Policy
from rps.persistence.database import Database, migrate
from rps.persistence.game_repository import GameRepository
from rps.persistence.records import FinishedReason, GameRecord, GameSource, RoundRecord
from rps.persistence.tables import games, rounds, utcnow
from rps.services.abandonment import close_abandoned_games
from rps.services.gameplay import StartGame
from rps.services.simulation import InProcessSimulator, schedule
from rps.settings import load_settings
from tests.integration.test_cli import _env, _output, _query, rps

NOW = datetime(2026, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)
LIMIT = timedelta(minutes=30)
CUTOFF = NOW - LIMIT
_serial = iter(range(1_000_000))


def open_game(
    repo: GameRepository,
    *,
    game_id: str | None = None,
    user: int = 0,
    bot: int = 0,
    last_round_at: datetime | None = None,
    created_at: datetime | None = None,
    rounds_played: int = 4,
    is_test: bool = False,
    winner: Winner | None = None,
    finished_at: datetime | None = None,
) -> str:
    """A stored game with chosen scores (tenths) and times; open unless ``winner`` is given."""
    game_id = game_id or f"quiet-{next(_serial):06d}"
    repo.add_game(
        GameRecord(
            id=game_id,
            session_id="session-1",
            player_name="Ann",
            policy="brian",
            model_type="feedforward_nn",
            bot_model_alias="Production",
            model_version="3",
            difficulty_mode="normal",
            is_test=is_test,
            opening_name="razor",
            opening_seq=(Move.ROCK, Move.PAPER, Move.SCISSORS),
            source=GameSource.HUMAN,
            created_at=created_at or (last_round_at or NOW) - timedelta(minutes=5),
            user_score=user,
            bot_score=bot,
            winner=winner,
            finished_at=finished_at,
            rounds_played=rounds_played if last_round_at else 0,
            last_round_at=last_round_at,
        )
    )
    return game_id


def stored(repo: GameRepository, game_id: str) -> GameRecord:
    loaded = repo.load(game_id)
    assert loaded is not None
    return loaded[0]


def round_count(database: Database, game_id: str) -> int:
    with database.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(rounds).where(rounds.c.game_id == game_id)
            ).scalar_one()
        )


# -- the repository's close ------------------------------------------------------------------------


def test_quiet_open_games_close_with_the_side_ahead_winning_and_level_scores_tied(
    database: Database,
) -> None:
    repo = GameRepository(database)
    long_ago = NOW - timedelta(minutes=31)
    user_ahead = open_game(repo, user=75, bot=40, last_round_at=long_ago)
    bot_ahead = open_game(repo, user=42, bot=96, last_round_at=long_ago)
    level = open_game(repo, user=55, bot=55, last_round_at=long_ago)
    test_game = open_game(repo, user=10, bot=20, last_round_at=long_ago, is_test=True)

    closed = repo.close_abandoned(CUTOFF, NOW)

    assert closed == 4
    expected = {user_ahead: Winner.USER, bot_ahead: Winner.BOT, level: Winner.TIE}
    expected[test_game] = Winner.BOT
    for game_id, winner in expected.items():
        game = stored(repo, game_id)
        assert game.winner is winner
        assert game.finished_reason is FinishedReason.ABANDONED
        assert game.finished_at == NOW
        # Nothing else changes: the score and the rounds are what they were.
        assert game.rounds_played == 4
        assert game.last_round_at == long_ago
    assert (stored(repo, user_ahead).user_score, stored(repo, user_ahead).bot_score) == (75, 40)


def test_a_game_without_a_round_is_quiet_since_its_start(database: Database) -> None:
    repo = GameRepository(database)
    never_played = open_game(repo, created_at=NOW - timedelta(hours=2))
    just_started = open_game(repo, created_at=NOW - timedelta(minutes=2))

    assert repo.close_abandoned(CUTOFF, NOW) == 1

    game = stored(repo, never_played)
    assert (game.winner, game.finished_reason) == (Winner.TIE, FinishedReason.ABANDONED)
    assert stored(repo, just_started).winner is None


def test_recent_and_finished_games_are_left_as_they_are(database: Database) -> None:
    repo = GameRepository(database)
    # Started long ago but moved in recently: its last round, not its start, counts.
    recent = open_game(
        repo, user=30, last_round_at=NOW - timedelta(minutes=29), created_at=NOW - timedelta(days=1)
    )
    # Exactly at the limit is not over it.
    at_the_limit = open_game(repo, user=30, last_round_at=CUTOFF)
    completed_long_ago = open_game(
        repo,
        user=100,
        bot=20,
        last_round_at=NOW - timedelta(days=2),
        winner=Winner.USER,
        finished_at=NOW - timedelta(days=2),
    )
    before = {g: stored(repo, g) for g in (recent, at_the_limit, completed_long_ago)}

    assert repo.count_abandoned(CUTOFF) == 0
    assert repo.close_abandoned(CUTOFF, NOW) == 0

    assert {g: stored(repo, g) for g in before} == before
    assert before[completed_long_ago].finished_reason is FinishedReason.COMPLETED


def test_the_entry_point_counts_on_a_dry_run_and_closes_otherwise(database: Database) -> None:
    repo = GameRepository(database)
    quiet = [open_game(repo, last_round_at=NOW - timedelta(hours=h)) for h in (1, 5)]
    fresh = open_game(repo, last_round_at=NOW - timedelta(minutes=1))

    assert close_abandoned_games(repo, LIMIT, now=NOW, dry_run=True) == 2
    assert all(stored(repo, g).winner is None for g in [*quiet, fresh])

    assert close_abandoned_games(repo, LIMIT, now=NOW) == 2
    assert [stored(repo, g).finished_reason for g in quiet] == [FinishedReason.ABANDONED] * 2
    assert stored(repo, fresh).winner is None
    # A second sweep finds nothing more to close.
    assert close_abandoned_games(repo, LIMIT, now=NOW) == 0


def test_the_limit_must_be_positive(database: Database) -> None:
    with pytest.raises(ValueError, match="positive"):
        close_abandoned_games(GameRepository(database), timedelta(0), now=NOW)


# -- a round racing the close ----------------------------------------------------------------------


def played_game(repo: GameRepository, game_id: str, moves: int, at: datetime) -> Game:
    """A game with ``moves`` stored rounds, the last at ``at``."""
    open_game(repo, game_id=game_id, created_at=at - timedelta(minutes=5))
    game = Game(game_id)
    current = stored(repo, game_id)
    for i in range(moves):
        played = game.play(Move.ROCK, Move.SCISSORS if i % 2 else Move.PAPER)
        round_at = at - timedelta(seconds=moves - 1 - i)
        updated = repo.append_round(current, RoundRecord(played, "opening", round_at), None)
        assert updated is not None
        current = updated
    return game


def next_round(game: Game, at: datetime) -> RoundRecord:
    return RoundRecord(game.play(Move.PAPER, Move.PAPER), "opening", at)


def test_a_round_arriving_after_the_close_is_refused_and_stores_nothing(
    database: Database,
) -> None:
    repo = GameRepository(database)
    game = played_game(repo, "raced-after", 2, NOW - timedelta(minutes=45))
    seen = stored(repo, "raced-after")  # the copy the round's writer read, still open

    assert repo.close_abandoned(CUTOFF, NOW) == 1
    assert repo.append_round(seen, next_round(game, NOW), None) is None

    closed = stored(repo, "raced-after")
    assert closed.finished_reason is FinishedReason.ABANDONED
    assert (closed.rounds_played, closed.user_score, closed.bot_score) == (
        2,
        seen.user_score,
        seen.bot_score,
    )
    assert round_count(database, "raced-after") == 2


def test_a_round_stored_before_the_close_keeps_the_game_open(database: Database) -> None:
    repo = GameRepository(database)
    game = played_game(repo, "raced-before", 2, NOW - timedelta(minutes=45))
    seen = stored(repo, "raced-before")

    assert repo.append_round(seen, next_round(game, NOW), None) is not None
    assert repo.close_abandoned(CUTOFF, NOW) == 0

    game_now = stored(repo, "raced-before")
    assert (game_now.winner, game_now.rounds_played, game_now.last_round_at) == (None, 3, NOW)


def _wait_until_a_writer_waits_for_a_row_lock(url: str) -> None:
    """Poll PostgreSQL until another session is blocked on a lock (bounded, never a timed
    guess: the test goes on as soon as the server says so)."""
    engine = create_engine(url)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()"
                    )
                ).scalar_one()
            if waiting:
                return
            threading.Event().wait(0.01)
    finally:
        engine.dispose()
    raise AssertionError("the second writer never waited for the game's row lock")


@pytest.mark.postgres
def test_a_close_waiting_for_a_round_in_progress_sees_it_and_leaves_the_game_open(
    postgres_url: str,
) -> None:
    database = Database(postgres_url)
    migrate(database)
    repo = GameRepository(database)
    game_id = open_game(repo, user=20, bot=10, last_round_at=NOW - timedelta(hours=1))
    engine = create_engine(postgres_url)
    outcome: dict[str, Any] = {}
    try:
        with engine.connect() as round_in_progress:
            transaction = round_in_progress.begin()
            # The round's update of its game, not yet committed: it holds the row.
            round_in_progress.execute(
                text(
                    "UPDATE games SET rounds_played = rounds_played + 1, user_score = 3.0, "
                    "last_round_at = :at WHERE id = :id"
                ),
                {"at": NOW, "id": game_id},
            )
            closer = threading.Thread(
                target=lambda: outcome.update(closed=repo.close_abandoned(CUTOFF, NOW))
            )
            closer.start()
            _wait_until_a_writer_waits_for_a_row_lock(postgres_url)
            transaction.commit()
        closer.join(timeout=30)
        assert not closer.is_alive()
    finally:
        engine.dispose()

    assert outcome == {"closed": 0}
    game = stored(repo, game_id)
    assert (game.winner, game.rounds_played, game.user_score) == (None, 5, 30)
    database.dispose()


@pytest.mark.postgres
def test_a_round_waiting_for_a_close_in_progress_is_refused(postgres_url: str) -> None:
    database = Database(postgres_url)
    migrate(database)
    repo = GameRepository(database)
    game = played_game(repo, "raced-lock", 2, NOW - timedelta(hours=1))
    seen = stored(repo, "raced-lock")
    engine = create_engine(postgres_url)
    outcome: dict[str, Any] = {}
    try:
        with engine.connect() as close_in_progress:
            transaction = close_in_progress.begin()
            close_in_progress.execute(
                text(
                    "UPDATE games SET winner = 'tie', finished_at = :now, "
                    "finished_reason = 'abandoned' WHERE id = :id"
                ),
                {"now": NOW, "id": "raced-lock"},
            )
            writer = threading.Thread(
                target=lambda: outcome.update(
                    stored=repo.append_round(seen, next_round(game, NOW), None)
                )
            )
            writer.start()
            _wait_until_a_writer_waits_for_a_row_lock(postgres_url)
            transaction.commit()
        writer.join(timeout=30)
        assert not writer.is_alive()
    finally:
        engine.dispose()

    assert outcome == {"stored": None}
    assert round_count(database, "raced-lock") == 2
    assert stored(repo, "raced-lock").finished_reason is FinishedReason.ABANDONED
    database.dispose()


# -- /play through the gameplay service ----------------------------------------------------------


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


def _container(tmp_path: Path, database_url: str, clock: Clock, name: str) -> Container:
    settings = load_settings(
        DATA_PATH=tmp_path / name, DATABASE_URL=database_url, ABANDONED_AFTER_MINUTES=30
    )
    built = build_container(
        settings, rng=random.Random(3), opening_rng=random.Random(4), clock=clock
    )
    built.models.reload()  # no models: every family plays its fallback
    return built


@pytest.fixture
def container(
    database: Database, database_url: str, tmp_path: Path, clock: Clock
) -> Iterator[Container]:
    built = _container(tmp_path, database_url, clock, "app")
    yield built
    built.close()


def test_a_move_after_more_than_the_limit_closes_the_game_and_is_refused(
    container: Container, clock: Clock
) -> None:
    gameplay = container.gameplay
    game_id = gameplay.start_game(StartGame(player_name="Ann", policy="brian")).id
    gameplay.play(game_id, Move.ROCK)
    clock.now += timedelta(minutes=1)
    second = gameplay.play(game_id, Move.PAPER)
    clock.now += timedelta(minutes=30, seconds=1)

    with pytest.raises(GameAbandoned, match=r"abandoned \(no move for over 30 minutes\)"):
        gameplay.play(game_id, Move.SCISSORS)

    closed = container.games.load(game_id)
    assert closed is not None
    record, rounds_stored = closed
    assert len(rounds_stored) == 2
    assert record.finished_reason is FinishedReason.ABANDONED
    assert record.finished_at == clock.now
    score = (second.played.user_score, second.played.bot_score)
    assert (record.user_score, record.bot_score) == score
    expected = (
        Winner.USER if score[0] > score[1] else Winner.BOT if score[1] > score[0] else Winner.TIE
    )
    assert record.winner is expected
    # Every later move is refused the same way, and says why; a retry of a stored round still
    # gets its stored answer.
    with pytest.raises(GameAbandoned, match="abandoned") as again:
        gameplay.play(game_id, Move.ROCK, 3)
    assert isinstance(again.value, GameFinished)
    assert f"{record.user_score / 10:g} to {record.bot_score / 10:g}" in str(again.value)
    assert gameplay.play(game_id, Move.PAPER, 2).played == second.played


def test_a_move_within_the_limit_is_played(container: Container, clock: Clock) -> None:
    gameplay = container.gameplay
    game_id = gameplay.start_game(StartGame(player_name="Ann", policy="logan")).id
    clock.now += timedelta(minutes=30)  # exactly the limit: not over it

    result = gameplay.play(game_id, Move.ROCK)

    assert result.played.round_no == 1
    record = container.games.load(game_id)
    assert record is not None
    assert (record[0].winner, record[0].last_round_at) == (None, clock.now)


def test_a_game_the_sweep_closed_refuses_a_move_from_a_process_holding_it_open(
    container: Container, database_url: str, tmp_path: Path, clock: Clock
) -> None:
    """The web process holds the game in memory (open, recently played by its own clock); the
    scheduler closes it meanwhile. The move's compare-and-set finds the game closed."""
    gameplay = container.gameplay
    game_id = gameplay.start_game(StartGame(player_name="Ann", policy="forrest")).id
    gameplay.play(game_id, Move.ROCK)
    sweep_at = NOW + timedelta(minutes=45)
    other = Database(database_url)
    try:
        assert close_abandoned_games(GameRepository(other), LIMIT, now=sweep_at) == 1
    finally:
        other.dispose()

    with pytest.raises(GameAbandoned, match="abandoned"):
        gameplay.play(game_id, Move.PAPER)

    loaded = container.games.load(game_id)
    assert loaded is not None
    assert len(loaded[1]) == 1
    assert (loaded[0].finished_reason, loaded[0].finished_at) == (
        FinishedReason.ABANDONED,
        sweep_at,
    )


def test_games_played_to_the_end_are_completed_on_every_path(
    container: Container, clock: Clock
) -> None:
    gameplay = container.gameplay
    served = gameplay.start_game(StartGame(player_name="Ann", policy="brian")).id
    for _ in range(25):
        if gameplay.play(served, Move.ROCK).finished:
            break
    simulator = InProcessSimulator(gameplay, container.games, random.Random(9))
    simulator.run(schedule(resolve([PersonaName.ACE.value]), [Policy.LOGAN.value], 2))
    with container.database.read() as conn:
        rows = conn.execute(select(games.c.id, games.c.winner, games.c.finished_reason)).all()
    assert len(rows) == 3
    assert {(r.winner is not None, r.finished_reason) for r in rows} == {(True, "completed")}
    for row in rows:
        loaded = container.games.load(row.id)
        assert loaded is not None
        assert loaded[0].last_round_at == loaded[1][-1].created_at


# -- the scheduler and the command ---------------------------------------------------------------


def test_the_scheduler_closes_abandoned_games_every_minute(
    database: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_URL", "http://127.0.0.1:8765")  # build_scheduler exports it
    repo = GameRepository(database)
    quiet = open_game(repo, user=40, bot=10, last_round_at=utcnow() - timedelta(hours=3))
    playing = open_game(repo, last_round_at=utcnow())
    settings = load_settings(DATA_PATH=tmp_path / "data", DATABASE_URL=database_url)

    scheduler = build_scheduler(settings, "http://127.0.0.1:8765")

    assert scheduler is not None
    job = next(j for j in scheduler.jobs if j.name == "closing abandoned games")
    assert job.interval_s == 60
    assert job.run() == "1 abandoned game(s) closed"
    assert stored(repo, quiet).winner is Winner.USER
    assert stored(repo, quiet).finished_reason is FinishedReason.ABANDONED
    assert stored(repo, playing).winner is None


def test_the_scheduler_job_is_off_with_an_interval_of_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_URL", "http://127.0.0.1:8765")
    settings = load_settings(DATA_PATH=tmp_path, SCHEDULER_ABANDONMENT_SECONDS=0)
    scheduler = build_scheduler(settings, "http://127.0.0.1:8765")
    assert scheduler is None or all(j.name != "closing abandoned games" for j in scheduler.jobs)


def test_the_command_counts_on_a_dry_run_then_closes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data, ABANDONED_AFTER_MINUTES="45")
    assert rps("migrate", env=env).returncode == 0
    database = Database(f"sqlite:///{data.resolve() / 'rps.db'}")
    try:
        repo = GameRepository(database)
        quiet = open_game(repo, user=5, bot=5, last_round_at=utcnow() - timedelta(minutes=50))
        open_game(repo, last_round_at=utcnow() - timedelta(minutes=40))  # within 45 minutes
    finally:
        database.dispose()

    dry = rps("close-abandoned", "--dry-run", env=env)
    assert dry.returncode == 0, _output(dry)
    assert "1 game(s) with no move for over 45 minutes would be closed" in _output(dry)
    assert _query(data, "SELECT count(*) AS n FROM games WHERE winner IS NULL") == [{"n": 2}]

    done = rps("close-abandoned", env=env)
    assert done.returncode == 0, _output(done)
    assert "closed 1 abandoned game(s)" in _output(done)
    assert _query(data, f"SELECT winner, finished_reason FROM games WHERE id = '{quiet}'") == [
        {"winner": "tie", "finished_reason": "abandoned"}
    ]


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_an_invalid_limit_fails_at_start_naming_the_variable(tmp_path: Path, value: str) -> None:
    result = rps("close-abandoned", env=_env(tmp_path, ABANDONED_AFTER_MINUTES=value))
    assert result.returncode == 2
    assert "ABANDONED_AFTER_MINUTES" in _output(result)
