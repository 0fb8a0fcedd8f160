"""The training query on SQLite and on a real PostgreSQL (SPEC §5 "Dataset", §10).

Every test that takes ``database`` runs once per backend. Games are stored the way the app stores
them (``GameRepository.add_played_games``, records built as the simulator builds them), then read
back with ``fetch_training_rounds`` / ``load_dataset`` and compared with the in-memory games.
"""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert

from rps.bootstrap import build_container
from rps.domain.game import Game
from rps.domain.gym import resolve
from rps.domain.personas import PersonaName
from rps.features import RoundTable
from rps.persistence.database import Database
from rps.persistence.game_repository import GameRepository, round_row
from rps.persistence.records import GameRecord, GameSource, RoundRecord
from rps.persistence.tables import rounds
from rps.persistence.training_queries import fetch_training_rounds
from rps.services.simulation import InProcessSimulator, schedule
from rps.settings import load_settings
from rps.training.dataset import dataset_from_games, load_dataset
from tests.golden.feature_vectors import play_persona_game

# Microseconds on purpose: they must survive the round trip and order games on both backends.
T0 = datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


def _records(
    game: Game, created_at: datetime, source: GameSource = GameSource.HUMAN, is_test: bool = False
) -> tuple[GameRecord, list[RoundRecord]]:
    record = GameRecord(
        id=game.game_id,
        session_id="s-" + game.game_id[:8],
        player_name="Ada",
        policy="brian",
        model_type="feedforward_nn",
        bot_model_alias="Production",
        model_version=None,
        difficulty_mode="normal",
        is_test=is_test,
        opening_name=None,
        opening_seq=(),
        source=source,
        created_at=created_at,
        user_score=game.user_score,
        bot_score=game.bot_score,
        winner=game.winner,
        finished_at=created_at + timedelta(minutes=1) if game.finished else None,
        rounds_played=len(game.rounds),
    )
    played = [
        RoundRecord(played=r, decision_source="opening", created_at=created_at) for r in game.rounds
    ]
    return record, played


def _games(n: int, prefix: str = "g", seed: int = 0) -> list[Game]:
    pairings = itertools.cycle(itertools.product(PersonaName, repeat=2))
    return [
        play_persona_game(f"{prefix}-{seed}-{i}-{uuid.UUID(int=i).hex[:6]}", u, b, random.Random(i))
        for i, (u, b) in zip(range(n), pairings, strict=False)
    ]


def _store(database: Database, *played: tuple[GameRecord, list[RoundRecord]]) -> None:
    GameRepository(database).add_played_games(list(played))


def test_rounds_round_trip_in_chronological_order_with_their_values(database: Database) -> None:
    games = _games(12)
    # stored out of order; two games share a timestamp, so the id breaks the tie
    stamps = [T0 + timedelta(seconds=i // 2 * 2, microseconds=i % 2) for i in range(12)]
    stamps[3] = stamps[2]
    order = list(range(12))
    random.Random(1).shuffle(order)
    _store(database, *(_records(games[i], stamps[i]) for i in order))

    rows = fetch_training_rounds(database, since=None)

    expected_order = sorted(range(12), key=lambda i: (stamps[i], games[i].game_id))
    expected = [games[i] for i in expected_order]
    table = RoundTable.from_games(expected)
    assert rows.game_ids == tuple(g.game_id for g in expected)
    assert rows.game_created_at == tuple(stamps[i] for i in expected_order)
    assert all(t.tzinfo is not None for t in rows.game_created_at)
    assert rows.game_sources == (GameSource.HUMAN,) * 12
    for name in ("game_index", "step_no", "user_move", "bot_move", "result"):
        assert np.array_equal(getattr(rows, name), getattr(table, name)), name
        assert getattr(rows, name).dtype == getattr(table, name).dtype, name
    for name in ("values", "user_score", "bot_score"):
        assert np.array_equal(getattr(rows, name), getattr(table, name)), name  # exact
    assert rows.rounds_per_game().tolist() == [len(g.rounds) for g in expected]


def test_test_games_and_games_created_before_since_are_left_out(database: Database) -> None:
    games = _games(6)
    since = T0 + timedelta(hours=1)
    _store(
        database,
        _records(games[0], since - timedelta(microseconds=1)),  # just before: out
        _records(games[1], since),  # at since: in
        _records(games[2], since + timedelta(days=3)),
        _records(games[3], since + timedelta(days=1), is_test=True),
        _records(games[4], T0, is_test=True),
        _records(games[5], T0 - timedelta(days=400)),
    )

    assert fetch_training_rounds(database, since=since).game_ids == (
        games[1].game_id,
        games[2].game_id,
    )
    assert fetch_training_rounds(database, since=None).game_ids == (
        games[5].game_id,
        games[0].game_id,
        games[1].game_id,
        games[2].game_id,
    )
    with_tests = fetch_training_rounds(database, since=since, exclude_test=False)
    assert with_tests.game_ids == (games[1].game_id, games[3].game_id, games[2].game_id)


def test_unfinished_games_are_read_with_the_rounds_they_have(database: Database) -> None:
    finished = _games(2)
    unfinished = []
    for n in (2, 6):
        whole = play_persona_game(
            f"left-after-{n}", PersonaName.ACE, PersonaName.BOB, random.Random(n)
        )
        unfinished.append(Game(whole.game_id, list(whole.rounds[:n])))
    empty = Game("no-rounds-yet")
    _store(
        database,
        *(_records(g, T0 + timedelta(seconds=i)) for i, g in enumerate([*finished, *unfinished])),
        _records(empty, T0 + timedelta(seconds=9)),
    )

    rows = fetch_training_rounds(database, since=None)

    assert rows.game_ids == tuple(g.game_id for g in [*finished, *unfinished])  # no empty game
    assert rows.rounds_per_game().tolist()[2:] == [2, 6]
    dataset = load_dataset(database)
    assert unfinished[1].game_id in dataset.game_ids  # 6 rounds: 3 labelled
    assert unfinished[0].game_id not in dataset.game_ids  # 2 rounds: nothing to learn


def test_an_empty_database_gives_an_empty_dataset(database: Database) -> None:
    rows = fetch_training_rounds(database, since=None)
    dataset = load_dataset(database)

    assert len(rows) == 0
    assert rows.n_games == 0
    assert len(dataset) == 0
    assert dataset.X.shape == (0, 50)


@pytest.mark.parametrize(
    ("column", "value", "bad_rounds"),
    [
        ("user_move", "lizard", [3]),
        ("result", "tie", [0, 5]),
        ("rock_pts", 26.0, [2]),
        ("user_score", -0.5, [4]),
        ("bot_move", "Rock", "all"),
    ],
)
def test_an_unreadable_round_is_reported_with_its_game(
    database: Database, column: str, value: object, bad_rounds: list[int] | str
) -> None:
    good, game = _games(2)
    record, played = _records(game, T0)
    _store(database, _records(good, T0), (replace(record, rounds_played=0), []))
    rows = [round_row(game.game_id, r) for r in played]
    for i in range(len(rows)) if bad_rounds == "all" else bad_rounds:
        rows[int(i)][column] = value
    with database.write() as conn:
        conn.execute(insert(rounds), rows)
    n_bad = len(rows) if bad_rounds == "all" else len(bad_rounds)

    with pytest.raises(ValueError, match=f"game {game.game_id}: {n_bad} of its {len(rows)} rounds"):
        fetch_training_rounds(database, since=None)


def test_load_dataset_equals_the_dataset_of_the_same_games_in_memory(
    database: Database, tmp_path: Path
) -> None:
    """Persona games as the simulator stores them, interleaved with human and simulated games."""
    settings = load_settings(DATA_PATH=tmp_path / "data", DATABASE_URL=database.url)
    container = build_container(settings, rng=random.Random(3), opening_rng=random.Random(4))
    try:
        simulator = InProcessSimulator(container.gameplay, container.games, random.Random(5))
        plan = schedule(resolve(["personas"]), ["brian", "forrest", "logan"], 40)
        persona = [simulator.play_one(p, policy, is_test=False) for p, policy in plan]
    finally:
        container.close()
    others = _games(15, prefix="h")
    stored: list[tuple[GameRecord, list[RoundRecord]]] = []
    for i, (record, played) in enumerate(persona):
        stored.append((replace(record, created_at=T0 + timedelta(seconds=2 * i)), played))
    for i, game in enumerate(others):
        source = GameSource.SIMULATED if i % 5 == 0 else GameSource.HUMAN
        stored.append(_records(game, T0 + timedelta(seconds=6 * i + 1), source))
    _store(database, *stored)
    stored.sort(key=lambda s: (s[0].created_at, s[0].id))
    in_memory = [Game(record.id, [r.played for r in played]) for record, played in stored]
    sources = [record.source.value for record, _ in stored]
    created = [record.created_at for record, _ in stored]

    # (legacy_game_stride, max_rows, min_label_step)
    for options in ((5, None, 4), (1, None, 4), (5, 300, 4), (5, None, 6)):
        stride, max_rows, min_step = options
        from_db = load_dataset(
            database, legacy_game_stride=stride, max_rows=max_rows, min_label_step=min_step
        )
        expected = dataset_from_games(
            in_memory,
            sources,
            created_at=created,
            legacy_game_stride=stride,
            max_rows=max_rows,
            min_label_step=min_step,
        )

        assert len(from_db) > 0
        assert from_db.game_ids == expected.game_ids, options
        assert from_db.game_created_at == expected.game_created_at
        assert np.array_equal(from_db.X, expected.X), options
        assert np.array_equal(from_db.y, expected.y)
        assert np.array_equal(from_db.row_game, expected.row_game)
        assert from_db.fingerprint == expected.fingerprint
        assert from_db.stats == expected.stats
    default = load_dataset(database)
    assert default.stats["persona_games_total"] == 40
    assert default.stats["persona_games_kept"] == 8  # human games exist: one in 5
    assert default.stats["human_games"] == 12
    assert default.stats["simulated_games_total"] == 3
    assert default.stats["simulated_games"] == 1  # one in 5 too, the newest kept
