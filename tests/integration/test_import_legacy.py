"""`rps import-legacy` (SPEC §13): the original system's games and events in this schema.

The sources are built by ``tests.support.legacy_db`` from real game play in the original's
schema. Every test that takes ``database`` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import math
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rps.domain.move import Move
from rps.domain.personas import PersonaName
from rps.domain.policy import Policy
from rps.features import MIN_LABEL_STEP
from rps.persistence.database import Database
from rps.persistence.game_repository import GameRepository
from rps.persistence.legacy_import import (
    LegacyImportError,
    SkipReason,
    import_legacy,
    parse_timestamp,
)
from rps.persistence.records import FinishedReason, GameRecord, GameSource, RoundRecord
from rps.persistence.tables import games, rounds
from rps.training.dataset import load_dataset
from tests.integration.test_cli import _env, _output, _query, rps
from tests.support.legacy_db import (
    MINIMAL,
    SYNONYMS,
    LegacyGame,
    execute,
    legacy_games,
    write_legacy_db,
)

N_GAMES = 20
PERSONAS = {p.value for p in PersonaName}


@pytest.fixture
def legacy(tmp_path: Path) -> tuple[Path, list[LegacyGame]]:
    """The original's rps.db holding N_GAMES games of every kind in tests.support's mix."""
    made = legacy_games(N_GAMES)
    folder = tmp_path / "original"
    folder.mkdir()
    return write_legacy_db(folder / "rps.db", made), made


def _counts(database: Database) -> tuple[int, int]:
    with database.read() as conn:
        n_games = conn.execute(select(func.count()).select_from(games)).scalar_one()
        n_rounds = conn.execute(select(func.count()).select_from(rounds)).scalar_one()
    return int(n_games), int(n_rounds)


def _stored(database: Database, game_id: str) -> tuple[GameRecord, list[RoundRecord]]:
    loaded = GameRepository(database).load(game_id)
    assert loaded is not None, f"game {game_id} was not imported"
    return loaded


def _expected_source(game: LegacyGame) -> GameSource:
    name = (game.player_name or "").lower()
    if name in PERSONAS:
        return GameSource.PERSONA
    return GameSource.SIMULATED if name.startswith("sim") else GameSource.HUMAN


def test_import_stores_every_game_with_all_its_rounds(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy

    report = import_legacy(path, database)

    total_rounds = sum(len(g.rounds) for g in made)
    assert report.games_seen == N_GAMES
    assert report.games_imported == N_GAMES
    assert report.rounds_imported == total_rounds
    assert report.already_present == 0
    assert report.games_skipped == 0
    assert report.orphan_events == 0
    assert _counts(database) == (N_GAMES, total_rounds)
    assert report.test_games_imported == sum(g.is_test for g in made)
    assert report.earliest_created_at == made[0].created_at
    assert report.latest_created_at == made[-1].created_at


def test_a_game_and_its_rounds_read_back_as_the_original_played_them(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    game = made[0]  # Ada against brian, on the Production alias
    assert (game.player_name, game.policy, game.alias) == ("Ada", "brian", "Production")

    import_legacy(path, database)
    record, stored = _stored(database, game.id)

    assert [r.played for r in stored] == list(game.rounds)
    assert [r.created_at for r in stored] == [game.round_time(r.round_no) for r in game.rounds]
    assert record.session_id == game.session_id
    assert record.player_name == "Ada"
    assert record.source is GameSource.HUMAN
    assert (record.policy, record.model_type) == ("brian", "feedforward_nn")
    assert (record.bot_model_alias, record.model_version) == ("Production", None)
    assert record.difficulty_mode == "normal"
    assert record.is_test is False
    assert record.created_at == game.created_at
    assert record.finished_at == game.finished_at
    assert record.winner is game.winner is not None
    # Finished by the rules, with the last round's time kept for the abandonment check.
    assert record.finished_reason is FinishedReason.COMPLETED
    assert record.last_round_at == game.round_time(game.rounds[-1].round_no)
    assert (record.user_score, record.bot_score) == (
        game.rounds[-1].user_score,
        game.rounds[-1].bot_score,
    )
    assert record.rounds_played == len(game.rounds)
    # The original's rounds 1-3 were its fixed opening, the rest its model's choice.
    assert [r.decision_source for r in stored] == ["opening"] * 3 + ["model"] * (
        len(game.rounds) - 3
    )
    assert {r.model_alias for r in stored[3:]} == {"Production"}
    assert all(r.probabilities is None and r.model_version is None for r in stored)
    with database.read() as conn:
        opening = conn.execute(
            select(games.c.opening_name, games.c.opening_seq).where(games.c.id == game.id)
        ).one()
    assert tuple(opening) == (None, None)


def test_players_become_human_persona_or_simulated_games(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy

    report = import_legacy(path, database)

    for game in made:
        record, _ = _stored(database, game.id)
        assert record.source is _expected_source(game), game.player_name
        if game.player_name is None:
            assert re.fullmatch(r"Player-\d{3}", record.player_name)
        elif record.source is GameSource.PERSONA:
            # Stored under the persona's display name, as this platform's persona games are.
            assert record.player_name == PersonaName(game.player_name.lower()).display_name
        else:
            assert record.player_name == game.player_name
    expected = {s: sum(_expected_source(g) is s for g in made) for s in GameSource}
    assert dict(report.imported_by_source) == {s: n for s, n in expected.items() if n}
    assert expected[GameSource.PERSONA]
    assert expected[GameSource.SIMULATED]


def test_the_originals_easy_bots_become_the_same_bot_in_difficulty_easy(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    easy = [g for g in made if g.easy]
    assert easy

    import_legacy(path, database)

    for game in made:
        record, _ = _stored(database, game.id)
        assert record.difficulty_mode == ("easy" if game.easy else "normal")
    for game in easy:
        record, _ = _stored(database, game.id)
        policy = Policy(game.base_policy)
        assert (record.policy, record.model_type) == (policy.value, policy.family.value)


def test_a_persona_as_the_bot_stays_a_persona_policy_without_a_model(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    game = next(g for g in made if g.policy == "bob")

    import_legacy(path, database)
    record, stored = _stored(database, game.id)

    assert record.policy == "bob"
    assert (record.model_type, record.bot_model_alias) == (None, None)
    assert {r.decision_source for r in stored} == {"persona"}
    assert {r.model_alias for r in stored} == {None}
    assert [r.played for r in stored] == list(game.rounds)


def test_test_flags_carry_over_and_training_leaves_those_games_out(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    test_games = {g.id for g in made if g.is_test}
    assert test_games

    import_legacy(path, database)

    for game in made:
        record, _ = _stored(database, game.id)
        assert record.is_test is game.is_test
    dataset = load_dataset(database, legacy_game_stride=1)
    assert dataset.n_games > 0
    assert not test_games & set(dataset.game_ids)


def test_imported_games_feed_the_training_dataset_with_scripted_games_downsampled(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    usable = [g for g in made if not g.is_test and len(g.rounds) >= MIN_LABEL_STEP]
    persona = [g for g in usable if _expected_source(g) is GameSource.PERSONA]
    simulated = [g for g in usable if _expected_source(g) is GameSource.SIMULATED]
    humans = [g for g in usable if _expected_source(g) is GameSource.HUMAN]
    stride = 3
    # One persona and one simulated game in ``stride``, each counting back from the newest
    # (SPEC §5).
    kept_persona = persona[::-1][::stride][::-1]
    kept_simulated = simulated[::-1][::stride][::-1]
    kept = sorted(humans + kept_persona + kept_simulated, key=lambda g: g.created_at)
    assert len(persona) > len(kept_persona) > 0

    import_legacy(path, database)
    dataset = load_dataset(database, legacy_game_stride=stride)

    assert list(dataset.game_ids) == [g.id for g in kept]
    assert dataset.stats["persona_games_total"] == len(persona)
    assert dataset.stats["persona_games_kept"] == math.ceil(len(persona) / stride)
    # Every labelled round is there, labelled with the user's move of that round.
    labels = [r.user_move.position for g in kept for r in g.rounds if r.round_no >= MIN_LABEL_STEP]
    assert dataset.y.tolist() == labels


def test_a_second_import_adds_nothing_and_reports_every_game_as_present(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, _ = legacy
    first = import_legacy(path, database)
    counts = _counts(database)

    second = import_legacy(path, database)

    assert first.games_imported == N_GAMES
    assert second.games_imported == 0
    assert second.rounds_imported == 0
    assert second.already_present == N_GAMES
    assert second.games_skipped == 0
    assert _counts(database) == counts


def test_corrupt_games_are_skipped_whole_with_their_reason_and_the_rest_imported(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    bad_move, gap, bad_score, bad_result = (g.id for g in made[1:5])
    execute(
        path, "UPDATE events SET user_move = 'lizard' WHERE game_id = ? AND step_no = 2", bad_move
    )
    execute(path, "DELETE FROM events WHERE game_id = ? AND step_no = 3", gap)
    execute(
        path,
        "UPDATE events SET user_score = user_score + 1.0 WHERE game_id = ? AND step_no = 5",
        bad_score,
    )
    execute(
        path,
        "UPDATE events SET result = CASE result WHEN 'win' THEN 'lose' ELSE 'win' END "
        "WHERE game_id = ? AND step_no = 4",
        bad_result,
    )
    corrupt = {bad_move, gap, bad_score, bad_result}

    report = import_legacy(path, database)

    assert dict(report.skipped) == {
        SkipReason.BAD_MOVE: 1,
        SkipReason.STEPS_NOT_CONTIGUOUS: 1,
        SkipReason.SCORES_NOT_SUM_OF_DELTAS: 1,
        SkipReason.BAD_RESULT: 1,
    }
    examples = {r: [game_id for game_id, _ in e] for r, e in report.skipped_examples.items()}
    assert examples[SkipReason.BAD_MOVE] == [bad_move]
    assert examples[SkipReason.STEPS_NOT_CONTIGUOUS] == [gap]
    assert "lizard" in report.skipped_examples[SkipReason.BAD_MOVE][0][1]
    assert "1, 2, 4" in report.skipped_examples[SkipReason.STEPS_NOT_CONTIGUOUS][0][1]
    assert report.games_imported == N_GAMES - 4
    with database.read() as conn:
        stored_games = set(conn.execute(select(games.c.id)).scalars())
        stored_round_games = set(conn.execute(select(rounds.c.game_id).distinct()).scalars())
    assert not corrupt & stored_games
    assert not corrupt & stored_round_games
    assert stored_games == {g.id for g in made} - corrupt
    # Still skipped, never "already present", when the import runs again.
    again = import_legacy(path, database)
    assert again.games_skipped == 4
    assert again.already_present == N_GAMES - 4


def test_games_rows_and_events_that_disagree_are_reported_and_unplayed_games_imported(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    lost_rounds, never_played, orphaned = made[0], made[1], made[2]
    execute(path, "DELETE FROM events WHERE game_id = ?", lost_rounds.id)
    execute(path, "DELETE FROM events WHERE game_id = ?", never_played.id)
    execute(
        path,
        "UPDATE games SET user_score = 0, bot_score = 0, winner = NULL, finished = 0, "
        "finished_ts = NULL WHERE id = ?",
        never_played.id,
    )
    execute(path, "DELETE FROM games WHERE id = ?", orphaned.id)

    report = import_legacy(path, database)

    assert report.skipped == {SkipReason.GAME_ROW_MISMATCH: 1}
    assert report.skipped_examples[SkipReason.GAME_ROW_MISMATCH][0][0] == lost_rounds.id
    assert report.orphan_events == len(orphaned.rounds)
    assert report.games_imported == N_GAMES - 2
    record, stored = _stored(database, never_played.id)
    assert stored == []
    assert (record.rounds_played, record.winner, record.finished_at) == (0, None, None)
    assert (record.finished_reason, record.last_round_at) == (None, None)
    assert (record.user_score, record.bot_score) == (0, 0)
    assert GameRepository(database).load(lost_rounds.id) is None
    assert GameRepository(database).load(orphaned.id) is None


def test_the_other_column_names_epoch_times_and_capital_moves_import_the_same_games(
    database: Database, tmp_path: Path
) -> None:
    # Whole seconds: this shape stores game times as epoch seconds.
    made = legacy_games(10, seed=3, start=datetime(2025, 10, 2, 17, 5, tzinfo=UTC))
    path = write_legacy_db(tmp_path / "synonyms.db", made, SYNONYMS)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT user_move FROM events LIMIT 1").fetchone()[0].isupper()

    report = import_legacy(path, database)

    assert report.games_imported == 10
    assert report.games_skipped == 0
    for game in made:
        record, stored = _stored(database, game.id)
        assert [r.played for r in stored] == list(game.rounds)
        assert [r.created_at for r in stored] == [game.round_time(r.round_no) for r in game.rounds]
        assert record.created_at == game.created_at
        assert game.finished_at is not None
        assert record.finished_at == game.finished_at.replace(microsecond=0)  # epoch seconds
        assert record.policy == game.base_policy
        assert record.difficulty_mode == ("easy" if game.easy else "normal")
        assert record.is_test is game.is_test


def test_a_late_added_column_left_empty_in_old_rows_falls_back_to_the_one_before_it(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    # The original added created_ts_utc by ALTER TABLE: its older rows have only created_ts/ts.
    path, made = legacy
    old = made[0]
    execute(path, "UPDATE games SET created_ts_utc = NULL WHERE id = ?", old.id)
    execute(path, "UPDATE events SET created_ts_utc = NULL WHERE game_id = ?", old.id)

    import_legacy(path, database)
    record, stored = _stored(database, old.id)

    assert record.created_at == old.created_at
    assert [r.created_at for r in stored] == [old.round_time(r.round_no) for r in old.rounds]


def test_games_keyed_by_a_surrogate_id_are_matched_to_their_rounds_by_game_id(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    execute(path, "ALTER TABLE games RENAME COLUMN id TO game_id")
    execute(path, "ALTER TABLE games ADD COLUMN id INTEGER")
    execute(path, "UPDATE games SET id = rowid")

    report = import_legacy(path, database)

    assert report.games_imported == N_GAMES
    assert report.orphan_events == 0
    for game in made:
        assert [r.played for r in _stored(database, game.id)[1]] == list(game.rounds)


def test_a_source_with_only_the_required_columns_takes_its_values_from_the_rules(
    database: Database, tmp_path: Path
) -> None:
    made = legacy_games(6, seed=5)
    path = write_legacy_db(tmp_path / "minimal.db", made, MINIMAL)

    report = import_legacy(path, database)

    assert report.games_imported == 6
    for game in made:
        record, stored = _stored(database, game.id)
        assert [r.played for r in stored] == list(game.rounds)  # values, deltas and scores
        assert record.session_id == game.id  # no session: the game is its own session
        assert record.created_at == game.created_at
        assert [r.created_at for r in stored] == [game.created_at] * len(stored)


@pytest.mark.parametrize(
    ("table", "dropped", "named"),
    [
        ("events", ("step_no",), "step_no"),
        ("events", ("user_move",), "user_move"),
        ("games", ("created_ts_utc", "created_ts"), "created_ts_utc"),
    ],
)
def test_a_source_missing_a_required_column_fails_naming_it_and_imports_nothing(
    database: Database,
    legacy: tuple[Path, list[LegacyGame]],
    table: str,
    dropped: tuple[str, ...],
    named: str,
) -> None:
    path, _ = legacy
    execute(path, "DROP INDEX idx_events_game_step")
    for column in dropped:
        execute(path, f"ALTER TABLE {table} DROP COLUMN {column}")

    with pytest.raises(LegacyImportError, match=rf"table {table} has no {named} column"):
        import_legacy(path, database)

    assert _counts(database) == (0, 0)


def test_a_policy_column_under_another_accepted_name_is_found(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    execute(path, "ALTER TABLE games DROP COLUMN bot_policy")  # model_type remains

    report = import_legacy(path, database)

    # Only games against a model bot name one there; a persona opponent's game has none.
    against_persona = sum(not g.is_model_bot for g in made)
    assert report.games_imported == N_GAMES - against_persona
    assert report.skipped == {SkipReason.UNKNOWN_POLICY: against_persona}
    for game in made:
        if game.is_model_bot:
            assert _stored(database, game.id)[0].policy == game.base_policy


def test_paths_that_are_not_the_originals_database_fail_with_a_clear_message(
    database: Database, tmp_path: Path
) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database at all, just some words to fill a page " * 100)
    own = tmp_path / "own.db"
    with sqlite3.connect(own) as conn:
        conn.executescript("CREATE TABLE games (id TEXT); CREATE TABLE rounds (id INTEGER);")

    with pytest.raises(LegacyImportError, match="no such file"):
        import_legacy(tmp_path / "missing" / "rps.db", database)
    with pytest.raises(LegacyImportError, match="cannot be read as an SQLite database"):
        import_legacy(text_file, database)
    with pytest.raises(LegacyImportError, match=r"no events table.*this platform's own database"):
        import_legacy(own, database)
    assert _counts(database) == (0, 0)


MOMENT = datetime(2025, 10, 12, 9, 55, 30, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    "written",
    [
        "2025-10-12T09:55:30.250000+00:00",  # datetime.isoformat() of a UTC time
        "2025-10-12T11:55:30.250+02:00",
        "2025-10-12T09:55:30.25Z",
        "2025-10-12 09:55:30.250000",  # naive: the original wrote UTC
        MOMENT.timestamp(),  # epoch seconds
        str(MOMENT.timestamp()),
        round(MOMENT.timestamp() * 1000),  # epoch milliseconds
    ],
)
def test_legacy_times_in_each_form_the_original_wrote_read_as_the_same_utc_time(
    written: object,
) -> None:
    assert parse_timestamp(written) == MOMENT


def test_unreadable_legacy_times_are_refused() -> None:
    assert parse_timestamp(None) is None
    assert parse_timestamp("  ") is None
    for bad in ("yesterday", "2025-13-40", float("nan")):
        with pytest.raises(ValueError):  # noqa: PT011 - each input is its own bad case
            parse_timestamp(bad)


def test_a_dry_run_reports_what_would_be_imported_and_stores_nothing(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    execute(path, "UPDATE events SET bot_move = 'spock' WHERE game_id = ?", made[0].id)

    report = import_legacy(path, database, dry_run=True)

    assert report.dry_run
    assert report.games_imported == N_GAMES - 1
    assert report.rounds_imported == sum(len(g.rounds) for g in made[1:])
    assert report.skipped == {SkipReason.BAD_MOVE: 1}
    assert _counts(database) == (0, 0)


def test_progress_is_reported_per_batch_up_to_every_game(
    database: Database, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, _ = legacy
    calls: list[tuple[int, int]] = []

    import_legacy(path, database, batch_games=6, on_progress=lambda d, t: calls.append((d, t)))

    assert calls[-1] == (N_GAMES, N_GAMES)
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert len(calls) >= math.ceil(N_GAMES / 6)


# -- the command, run as a user runs it ---------------------------------------------------------


def test_the_command_imports_once_then_finds_everything_present(
    tmp_path: Path, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, made = legacy
    data = tmp_path / "data"
    env = _env(data)

    first = rps("import-legacy", str(path), env=env)
    second = rps("import-legacy", str(path), env=env)

    assert first.returncode == 0, _output(first)
    assert re.search(rf"games imported\W+{N_GAMES}\b", first.stdout), first.stdout
    assert second.returncode == 0, _output(second)
    assert re.search(r"games imported\W+0\b", second.stdout), second.stdout
    assert re.search(rf"already present\W+{N_GAMES}\b", second.stdout), second.stdout
    stored = _query(data, "SELECT COUNT(*) AS n FROM games")
    assert stored == [{"n": N_GAMES}]
    stored_rounds = _query(data, "SELECT COUNT(*) AS n FROM rounds")
    assert stored_rounds == [{"n": sum(len(g.rounds) for g in made)}]


def test_the_command_exits_2_naming_a_missing_column_or_file(
    tmp_path: Path, legacy: tuple[Path, list[LegacyGame]]
) -> None:
    path, _ = legacy
    execute(path, "DROP INDEX idx_events_game_step")
    execute(path, "ALTER TABLE events DROP COLUMN step_no")
    env = _env(tmp_path / "data")

    broken = rps("import-legacy", str(path), env=env)
    missing = rps("import-legacy", str(tmp_path / "nowhere" / "rps.db"), env=env)

    assert broken.returncode == 2, _output(broken)
    assert "table events has no step_no column" in _output(broken)
    assert missing.returncode == 2, _output(missing)
    assert "no such file" in _output(missing)
    assert _query(tmp_path / "data", "SELECT COUNT(*) AS n FROM games") == [{"n": 0}]


def test_moves_in_any_case_and_with_spaces_are_read(database: Database, tmp_path: Path) -> None:
    made = legacy_games(3, seed=9)
    assert any(r.bot_move is Move.PAPER for g in made for r in g.rounds)
    path = write_legacy_db(tmp_path / "mixed.db", made)
    execute(
        path,
        "UPDATE events SET user_move = upper(user_move), bot_move = ' Paper ' "
        "WHERE bot_move = 'paper'",
    )

    report = import_legacy(path, database)

    assert report.games_imported == 3
    for game in made:
        _, stored = _stored(database, game.id)
        assert [r.played for r in stored] == list(game.rounds)
