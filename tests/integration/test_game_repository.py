"""The game repository and the migrations on SQLite and on a real PostgreSQL (SPEC §10).

Every test that takes ``database`` (or ``database_url``) runs twice: once per backend.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from rps.domain.game import Game
from rps.domain.history import PlayedRound
from rps.domain.move import Move, Winner
from rps.domain.personas import PersonaName, persona_move
from rps.domain.round_values import round_values
from rps.persistence.database import Database, current_revision, head_revision, migrate
from rps.persistence.game_repository import GameRepository, round_row
from rps.persistence.records import FinishedReason, GameRecord, GameSource, RoundRecord
from rps.persistence.tables import games, rounds

# Microseconds on purpose: they must survive the round trip on both backends.
CREATED = datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


def _game_record(game_id: str | None = None, **changes: Any) -> GameRecord:
    game_id = game_id or str(uuid.uuid4())
    record = GameRecord(
        id=game_id,
        session_id="session-" + game_id[:8],
        player_name="Ada",
        policy="brian",
        model_type="xgboost",
        bot_model_alias="Production",
        model_version="7",
        difficulty_mode="normal",
        is_test=False,
        opening_name="crescendo",
        opening_seq=(Move.ROCK, Move.PAPER, Move.SCISSORS),
        source=GameSource.HUMAN,
        created_at=CREATED,
    )
    return replace(record, **changes)


def _round_record(
    played: PlayedRound, created_at: datetime, *, source: str = "opening"
) -> RoundRecord:
    return RoundRecord(
        played=played,
        decision_source=source,
        created_at=created_at,
        model_alias="Production" if source == "model" else None,
        model_version="7" if source == "model" else None,
        model_run_id="0123456789abcdef" if source == "model" else None,
        probabilities=(0.2, 0.3, 0.5) if source == "model" else None,
    )


def _after_round(record: GameRecord, game: Game, round_at: datetime) -> GameRecord:
    """The record as the repository stores it once ``game``'s last round (played at
    ``round_at``) is in."""
    last = game.rounds[-1]
    return replace(
        record,
        user_score=last.user_score,
        bot_score=last.bot_score,
        winner=game.winner,
        rounds_played=last.round_no,
        last_round_at=round_at,
    )


def _full_game(
    game_id: str, user: PersonaName, bot: PersonaName, seed: int
) -> tuple[Game, list[RoundRecord]]:
    """A whole game played by two personas with the domain's rules."""
    rng = random.Random(seed)
    game = Game(game_id)
    records = []
    while not game.finished:
        played = game.play(
            persona_move(user, game.view("user"), rng), persona_move(bot, game.view("bot"), rng)
        )
        records.append(
            _round_record(played, CREATED + timedelta(seconds=played.round_no), source="persona")
        )
    return game, records


def _stored_game_row(database: Database, game_id: str) -> dict[str, object]:
    with database.read() as conn:
        row = conn.execute(select(games).where(games.c.id == game_id)).mappings().one()
    return dict(row)


def _stored_round_count(database: Database, game_id: str) -> int:
    with database.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(rounds).where(rounds.c.game_id == game_id)
            ).scalar_one()
        )


# -- migrations ---------------------------------------------------------------------------------


def test_migrating_an_up_to_date_database_again_changes_nothing(database: Database) -> None:
    head = head_revision()
    assert current_revision(database) == head

    assert migrate(database) == (head, head)
    assert migrate(database) == (head, head)
    assert current_revision(database) == head


def test_migrating_a_fresh_database_reports_empty_to_head_and_creates_the_tables(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        assert current_revision(db) is None
        assert migrate(db) == (None, head_revision())
        tables = set(inspect(db.engine).get_table_names())
        assert {"games", "rounds", "alembic_version"} <= tables
    finally:
        db.dispose()


def test_two_migrations_started_at_once_both_finish_with_the_schema_at_head(
    database_url: str,
) -> None:
    barrier = threading.Barrier(2)
    results: list[tuple[str | None, str | None]] = []
    errors: list[BaseException] = []

    def run() -> None:
        db = Database(database_url)
        try:
            barrier.wait(timeout=10)
            results.append(migrate(db))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a migration hung"
    assert errors == []

    head = head_revision()
    # One of them created the schema; the other, which waited for the lock, found it at head.
    assert sorted(results, key=lambda r: r[0] or "") == [(None, head), (head, head)]
    check = Database(database_url)
    try:
        assert current_revision(check) == head
        with check.read() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v[0] for v in versions] == [head]
    finally:
        check.dispose()


# -- games --------------------------------------------------------------------------------------


def test_a_stored_game_loads_back_with_every_field_equal(database: Database) -> None:
    repo = GameRepository(database)
    game = Game("round-trip-game")
    for user_move, bot_move in [(Move.ROCK, Move.SCISSORS), (Move.PAPER, Move.PAPER)]:
        game.play(user_move, bot_move)
    record = _game_record(
        "round-trip-game",
        session_id="s" * 64,
        player_name="Zoë 🦊 Ω",
        policy="forrest",
        model_type="feedforward_nn",
        bot_model_alias="Candidate",
        model_version="12",
        difficulty_mode="normal",
        is_test=True,
        opening_name="razor",
        opening_seq=(Move.SCISSORS, Move.ROCK, Move.PAPER),
        source=GameSource.SIMULATED,
        user_score=game.user_score,
        bot_score=game.bot_score,
        winner=Winner.TIE,
        finished_at=CREATED + timedelta(minutes=3, microseconds=7),
        rounds_played=0,
        finished_reason=FinishedReason.ABANDONED,
        last_round_at=CREATED + timedelta(minutes=1, microseconds=9),
    )
    repo.add_game(record)

    loaded = repo.load(record.id)

    assert loaded is not None
    stored, stored_rounds = loaded
    assert stored == record
    assert stored_rounds == []
    for stamp in (stored.created_at, stored.finished_at):
        assert stamp is not None
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)
    assert stored.created_at.microsecond == CREATED.microsecond


def test_a_game_with_nulls_and_no_opening_loads_back_equal(database: Database) -> None:
    repo = GameRepository(database)
    record = _game_record(
        policy="ace",
        model_type=None,
        bot_model_alias=None,
        model_version=None,
        opening_name=None,
        opening_seq=(),
        source=GameSource.PERSONA,
    )
    repo.add_game(record)

    loaded = repo.load(record.id)

    assert loaded is not None
    assert loaded[0] == record


def test_timestamps_given_in_another_zone_come_back_as_the_same_instant_in_utc(
    database: Database,
) -> None:
    repo = GameRepository(database)
    plus_five_thirty = timezone(timedelta(hours=5, minutes=30))
    created = datetime(2026, 1, 1, 3, 0, 0, 1, tzinfo=plus_five_thirty)
    record = _game_record(created_at=created)
    repo.add_game(record)

    loaded = repo.load(record.id)

    assert loaded is not None
    assert loaded[0].created_at == created
    assert loaded[0].created_at.tzinfo == UTC
    assert loaded[0].created_at == datetime(2025, 12, 31, 21, 30, 0, 1, tzinfo=UTC)


def test_naive_timestamps_are_refused(database: Database) -> None:
    repo = GameRepository(database)
    record = _game_record(created_at=datetime(2026, 1, 1, 12, 0, 0))

    with pytest.raises(StatementError, match="naive datetimes"):
        repo.add_game(record)
    assert repo.load(record.id) is None


def test_loading_an_unknown_game_returns_none(database: Database) -> None:
    repo = GameRepository(database)
    repo.add_game(_game_record())

    assert repo.load("no-such-game") is None
    assert repo.load(str(uuid.uuid4())) is None


# -- rounds -------------------------------------------------------------------------------------


def test_appending_rounds_stores_each_round_and_the_games_new_score_together(
    database: Database,
) -> None:
    repo = GameRepository(database)
    game_id = "append-round-game"
    record = _game_record(game_id)
    repo.add_game(record)
    game = Game(game_id)
    # Round 1 from the opening, round 2 by a model with probabilities, round 3 a draw.
    moves = [(Move.ROCK, Move.SCISSORS), (Move.PAPER, Move.SCISSORS), (Move.ROCK, Move.ROCK)]
    appended: list[RoundRecord] = []
    for i, (user_move, bot_move) in enumerate(moves):
        played = game.play(user_move, bot_move)
        round_record = _round_record(
            played,
            CREATED + timedelta(seconds=i + 1, microseconds=123_457 + i),
            source="model" if i == 1 else "opening",
        )
        updated = repo.append_round(record, round_record, game.winner)
        # The repository hands back the game as it now stands.
        assert updated == _after_round(record, game, round_record.created_at)
        assert updated is not None
        record = updated
        appended.append(round_record)

        loaded = repo.load(game_id)
        assert loaded is not None
        stored, stored_rounds = loaded
        assert stored.rounds_played == played.round_no
        assert (stored.user_score, stored.bot_score) == (played.user_score, played.bot_score)
        assert stored.winner is None
        assert stored.finished_at is None
        assert stored_rounds == appended

    assert [r.played.round_no for r in stored_rounds] == [1, 2, 3]
    assert [r.played.values for r in stored_rounds] == [round_values(game_id, n) for n in (1, 2, 3)]
    assert stored_rounds[1].probabilities == (0.2, 0.3, 0.5)
    assert stored_rounds[1].model_run_id == "0123456789abcdef"
    assert stored_rounds[1].created_at.tzinfo == UTC
    assert stored_rounds[1].created_at == appended[1].created_at
    assert stored_rounds[1].created_at.microsecond == 713_251


def test_the_final_round_records_the_winner_and_the_finish_time(database: Database) -> None:
    repo = GameRepository(database)
    game_id = "finished-game"
    record = _game_record(game_id)
    repo.add_game(record)
    game, played_records = _full_game(game_id, PersonaName.ACE, PersonaName.CAL, seed=5)
    for i, round_record in enumerate(played_records):
        last = i == len(played_records) - 1
        winner = game.winner if last else None
        updated = repo.append_round(record, round_record, winner)
        assert updated is not None
        assert updated.rounds_played == round_record.played.round_no
        assert updated.winner is winner
        assert updated.finished_at == (round_record.created_at if last else None)
        assert updated.finished_reason is (FinishedReason.COMPLETED if last else None)
        assert updated.last_round_at == round_record.created_at
        record = updated

    loaded = repo.load(game_id)

    assert loaded is not None
    stored, stored_rounds = loaded
    assert stored.winner is game.winner is not None
    assert stored.finished_at == played_records[-1].created_at
    assert stored.finished_at is not None
    assert stored.finished_at.tzinfo == UTC
    assert stored.finished_reason is FinishedReason.COMPLETED
    assert stored.last_round_at == played_records[-1].created_at
    assert stored.rounds_played == len(game.rounds)
    assert [r.played for r in stored_rounds] == game.rounds
    # Scores are exact tenths: the game's total is the sum of its rounds' deltas.
    assert stored.user_score == sum(r.played.user_delta for r in stored_rounds) == game.user_score
    assert stored.bot_score == sum(r.played.bot_delta for r in stored_rounds) == game.bot_score


def test_scores_that_are_not_exact_in_binary_come_back_as_the_same_tenths(
    database: Database,
) -> None:
    repo = GameRepository(database)
    game_id = "tenths-game"
    record = _game_record(game_id)
    repo.add_game(record)
    # 0.1 steps that floats cannot represent exactly, summed over many rounds.
    base = Game(game_id).play(Move.ROCK, Move.ROCK)
    totals = [(3, 7), (13, 29), (33, 61), (99, 101), (113, 77)]
    for n, (user_total, bot_total) in enumerate(totals, start=1):
        played = replace(base, round_no=n, user_score=user_total, bot_score=bot_total)
        updated = repo.append_round(record, _round_record(played, CREATED), None)
        assert updated is not None
        record = updated

    loaded = repo.load(game_id)

    assert loaded is not None
    stored, stored_rounds = loaded
    assert [(r.played.user_score, r.played.bot_score) for r in stored_rounds] == totals
    assert (stored.user_score, stored.bot_score) == totals[-1]


def test_appending_with_a_stale_game_record_stores_nothing_and_is_refused(
    database: Database,
) -> None:
    repo = GameRepository(database)
    game_id = "stale-game"
    stale = _game_record(game_id)
    repo.add_game(stale)
    game = Game(game_id)
    first = game.play(Move.PAPER, Move.ROCK)
    assert repo.append_round(stale, _round_record(first, CREATED), None) is not None
    before = _stored_game_row(database, game_id)

    # A second writer still holding the record read before round 1 tries to store its round.
    rival = Game(game_id)
    rival_round = rival.play(Move.SCISSORS, Move.ROCK)
    assert repo.append_round(stale, _round_record(rival_round, CREATED), None) is None
    # Even for the round number that would come next, a stale count is refused.
    next_round = game.play(Move.ROCK, Move.SCISSORS)
    assert repo.append_round(stale, _round_record(next_round, CREATED), Winner.USER) is None

    assert _stored_game_row(database, game_id) == before
    loaded = repo.load(game_id)
    assert loaded is not None
    assert [r.played for r in loaded[1]] == [first]
    assert loaded[0].rounds_played == 1
    assert loaded[0].winner is None


def test_a_copy_another_process_has_moved_past_is_refused_and_then_refreshed(
    database: Database,
) -> None:
    # Two repositories on one database stand for two server processes, each with its own
    # in-memory copies of the games being played.
    here = GameRepository(database)
    there = GameRepository(database)
    game_id = "two-process-game"
    record = _game_record(game_id)
    here.add_game(record)
    assert here.load_live(game_id) is not None
    game = Game(game_id)
    first = _round_record(game.play(Move.ROCK, Move.PAPER), CREATED)
    assert there.append_round(record, first, None) is not None

    seen_here = here.load_live(game_id)
    assert seen_here is not None
    copy, copied_rounds = seen_here
    rival = Game(game_id, [r.played for r in copied_rounds])
    rival_round = _round_record(rival.play(Move.SCISSORS, Move.SCISSORS), CREATED)
    outcome = here.append_round(copy, rival_round, None)

    if copied_rounds:  # the copy was fresh: the rival's round 2 is simply the next round
        assert outcome is not None
        assert rival_round.played.round_no == 2
    else:  # the copy lagged behind: refused, and refreshing it finds the other process's round
        assert outcome is None
        again = here.refresh(game_id)
        assert again is not None
        assert again[1] == [first]
        assert again[0].rounds_played == 1
        assert here.load_live(game_id) == again  # the refreshed copy is the one kept
    loaded = here.load(game_id)
    assert loaded is not None
    assert [r.played.round_no for r in loaded[1]] == list(range(1, len(loaded[1]) + 1))
    assert loaded[1][0] == first
    assert loaded[0].rounds_played == len(loaded[1])


def test_a_copy_rounds_behind_is_brought_up_to_the_stored_game_by_refresh(
    database: Database,
) -> None:
    here, there = GameRepository(database), GameRepository(database)
    game_id = "behind-game"
    record = _game_record(game_id)
    here.add_game(record)
    game = Game(game_id)
    stored = here.append_round(
        record, _round_record(game.play(Move.ROCK, Move.PAPER), CREATED), None
    )
    assert stored is not None
    copy = here.load_live(game_id)
    assert copy is not None
    assert copy[0].rounds_played == 1
    # Another process plays rounds 2-4 from its own read.
    latest = there.load(game_id)
    assert latest is not None
    current = latest[0]
    for user, bot in ((Move.PAPER, Move.PAPER), (Move.SCISSORS, Move.ROCK), (Move.ROCK, Move.ROCK)):
        moved = there.append_round(current, _round_record(game.play(user, bot), CREATED), None)
        assert moved is not None
        current = moved
    assert here.load_live(game_id) == copy  # this process still holds its old copy

    refreshed = here.refresh(game_id)
    assert refreshed == GameRepository(database).load(game_id)
    assert refreshed is not None
    assert [r.played.round_no for r in refreshed[1]] == [1, 2, 3, 4]
    assert refreshed[0].rounds_played == 4
    assert refreshed[0].user_score == current.user_score
    # ... and play goes on from it.
    fifth = _round_record(game.play(Move.PAPER, Move.ROCK), CREATED)
    assert here.append_round(refreshed[0], fifth, None) is not None


def test_refreshing_a_game_this_process_never_read_reads_it_whole(database: Database) -> None:
    writer, reader = GameRepository(database), GameRepository(database)
    record = _game_record("unseen-game")
    writer.add_game(record)
    game = Game("unseen-game")
    writer.append_round(record, _round_record(game.play(Move.ROCK, Move.PAPER), CREATED), None)
    assert reader.refresh("unseen-game") == writer.load("unseen-game")
    assert reader.refresh("no-such-game") is None


def test_a_failing_round_insert_rolls_back_the_games_score_update(database: Database) -> None:
    repo = GameRepository(database)
    game_id = "atomic-game"
    record = _game_record(game_id)
    repo.add_game(record)
    game = Game(game_id)
    played = game.play(Move.ROCK, Move.SCISSORS)
    # A round 1 row already sits in the table while games.rounds_played still says 0,
    # so append_round's score update succeeds and its round insert then fails.
    squatter = Game(game_id).play(Move.PAPER, Move.PAPER)
    with database.write() as conn:
        conn.execute(insert(rounds), round_row(game_id, _round_record(squatter, CREATED)))
    before = _stored_game_row(database, game_id)
    assert before["rounds_played"] == 0

    with pytest.raises(IntegrityError):
        repo.append_round(record, _round_record(played, CREATED), Winner.USER)

    after = _stored_game_row(database, game_id)
    assert after == before
    assert after["user_score"] == 0
    assert after["winner"] is None
    assert after["finished_at"] is None
    loaded = repo.load(game_id)
    assert loaded is not None
    assert [r.played for r in loaded[1]] == [squatter]
    # The repository still works afterwards (the connection went back to the pool clean):
    # a writer that knows about the squatting round is refused by the compare-and-set.
    ahead = replace(record, rounds_played=1)
    assert repo.append_round(ahead, _round_record(played, CREATED), None) is None
    assert _stored_game_row(database, game_id) == before


def test_the_database_rejects_two_rounds_with_one_number_in_one_game(
    database: Database,
) -> None:
    repo = GameRepository(database)
    game_id = "unique-game"
    repo.add_game(_game_record(game_id))
    repo.add_game(_game_record("other-game"))
    first = Game(game_id).play(Move.ROCK, Move.PAPER)
    duplicate = Game(game_id).play(Move.SCISSORS, Move.PAPER)
    with database.write() as conn:
        conn.execute(insert(rounds), round_row(game_id, _round_record(first, CREATED)))

    with pytest.raises(IntegrityError), database.write() as conn:
        conn.execute(insert(rounds), round_row(game_id, _round_record(duplicate, CREATED)))

    assert _stored_round_count(database, game_id) == 1
    # The same number in another game is fine.
    with database.write() as conn:
        conn.execute(insert(rounds), round_row("other-game", _round_record(duplicate, CREATED)))
    assert _stored_round_count(database, "other-game") == 1


def test_a_round_of_an_unknown_game_is_rejected_by_the_foreign_key(database: Database) -> None:
    played = Game("ghost-game").play(Move.ROCK, Move.PAPER)

    with pytest.raises(IntegrityError), database.write() as conn:
        conn.execute(insert(rounds), round_row("ghost-game", _round_record(played, CREATED)))

    assert _stored_round_count(database, "ghost-game") == 0


def test_many_whole_games_are_stored_with_their_rounds_in_one_call(database: Database) -> None:
    repo = GameRepository(database)
    personas = list(PersonaName)
    batch: list[tuple[GameRecord, list[RoundRecord]]] = []
    for i in range(12):
        game_id = f"batch-game-{i:02d}"
        game, played = _full_game(game_id, personas[i % 8], personas[(i + 3) % 8], seed=i)
        record = _game_record(
            game_id,
            created_at=CREATED + timedelta(seconds=i),
            source=GameSource.PERSONA,
            player_name=personas[i % 8].display_name,
            user_score=game.user_score,
            bot_score=game.bot_score,
            winner=game.winner,
            finished_at=played[-1].created_at,
            rounds_played=len(played),
        )
        batch.append((record, played))

    repo.add_played_games(batch)

    for record, played in batch:
        loaded = repo.load(record.id)
        assert loaded is not None
        # A whole game written without a reason or a last-round time ended by the rules, at
        # its last round.
        assert loaded == (
            replace(
                record,
                finished_reason=FinishedReason.COMPLETED,
                last_round_at=played[-1].created_at,
            ),
            played,
        )
    with database.read() as conn:
        total = conn.execute(select(func.count()).select_from(rounds)).scalar_one()
    assert total == sum(len(p) for _, p in batch)


def test_storing_no_games_at_all_is_allowed(database: Database) -> None:
    GameRepository(database).add_played_games([])

    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(games)).scalar_one() == 0


def test_a_batch_with_one_bad_game_stores_none_of_them(database: Database) -> None:
    repo = GameRepository(database)
    _, good_rounds = _full_game("good-game", PersonaName.BOB, PersonaName.DAN, seed=1)
    good = _game_record("good-game", rounds_played=len(good_rounds))
    existing = _game_record("already-there")
    repo.add_game(existing)

    with pytest.raises(IntegrityError):
        repo.add_played_games([(good, good_rounds), (existing, [])])

    assert repo.load("good-game") is None
    assert _stored_round_count(database, "good-game") == 0
