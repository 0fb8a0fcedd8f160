"""Migration 0005 (the decision layer's belief, counterfactual margins, model_strength) on a
database that already holds games at 0004, on SQLite and PostgreSQL: the rows are kept, read and
played on; and the migration goes back down to 0004."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from rps.bootstrap import Container, build_container
from rps.domain.move import Move
from rps.domain.policy import Alias, Family
from rps.persistence.database import (
    MIGRATIONS_DIR,
    Database,
    current_revision,
    head_revision,
    migrate,
)
from rps.persistence.strength_repository import StrengthRecord, StrengthRepository
from rps.persistence.tables import alias_predictions, games, rounds
from rps.services.gameplay import StartGame
from rps.settings import load_settings
from tests.support.onnx_models import DictSource, fetched

GAME_ID = "0b3f2c1d-9e8a-4b7c-8d6e-5f4a3b2c1d0e"
MOVES = [Move.PAPER, Move.ROCK, Move.ROCK, Move.SCISSORS, Move.ROCK, Move.PAPER]
NEW_COLUMNS = {
    "rounds": {"belief"},
    "alias_predictions": {"counterfactual_margin", "scoring_version"},
}


def downgrade(db: Database, revision: str) -> None:
    """``alembic downgrade`` on ``db`` (the project runs only upgrades; operators may not)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def columns(db: Database, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns(table)}


@pytest.fixture
def container_on(tmp_path: Path) -> Iterator[Any]:
    """``container_on(url)`` → an app container on that database, serving constant models."""
    built: list[Container] = []

    def build(url: str) -> Container:
        settings = load_settings(
            DATA_PATH=tmp_path / f"data{len(built)}", DATABASE_URL=url, ENABLE_AB_TESTING=False
        )
        models = {
            (family, alias): fetched(str(i), probabilities=(0.6, 0.3, 0.1))
            for family in Family
            for i, alias in enumerate(Alias, start=1)
        }
        container = build_container(
            settings,
            rng=random.Random(1),
            opening_rng=random.Random(2),
            model_sources=[DictSource("cache", models)],
        )
        container.models.reload()
        built.append(container)
        return container

    yield build
    for container in built:
        container.close()


def copy_at_0004(source: Database, target: Database) -> None:
    """The game's rows as a 0004 database holds them: only the columns 0004 has (row ids left to
    the target's sequences)."""
    with source.read() as conn:
        found = {
            games: conn.execute(sa.select(games)).mappings().all(),
            rounds: conn.execute(sa.select(rounds).order_by(rounds.c.id)).mappings().all(),
            alias_predictions: conn.execute(
                sa.select(alias_predictions).order_by(alias_predictions.c.id)
            )
            .mappings()
            .all(),
        }
    with target.engine.begin() as conn:
        for table, rows in found.items():
            kept = columns(target, table.name) - ({"id"} if table is not games else set())
            conn.execute(
                sa.insert(table), [{k: v for k, v in r.items() if k in kept} for r in rows]
            )


@pytest.fixture
def game_at_0004(database_url: str, tmp_path: Path, container_on):
    """A forrest game played to round 5 (two model rounds) on the current schema, copied into
    ``database_url`` migrated to 0004 only; then round 6 of the original, for comparison."""
    original = container_on(f"sqlite:///{tmp_path / 'original.db'}")
    migrate(original.database)
    original.games.add_game(
        original.gameplay.new_game_record(StartGame(policy="forrest"), game_id=GAME_ID)
    )
    for n in range(1, 6):
        original.gameplay.play(GAME_ID, MOVES[n - 1], n)
    old = Database(database_url)
    migrate(old, "0004")
    assert current_revision(old) == "0004"
    assert not NEW_COLUMNS["rounds"] & columns(old, "rounds")
    copy_at_0004(original.database, old)
    original.gameplay.play(GAME_ID, MOVES[5], 6)
    loaded = original.games.load(GAME_ID)
    assert loaded is not None
    yield old, loaded[1][5]
    old.dispose()


def test_upgrading_a_0004_database_keeps_its_rounds_which_are_read_and_played_on(
    game_at_0004, container_on, database_url
):
    old, reference_round_6 = game_at_0004
    assert migrate(old) == ("0004", head_revision())
    with old.read() as conn:
        beliefs = conn.execute(sa.select(rounds.c.step_no, rounds.c.belief)).all()
        shadows = conn.execute(
            sa.select(
                alias_predictions.c.counterfactual_margin, alias_predictions.c.scoring_version
            )
        ).all()
        strength = conn.execute(sa.select(sa.func.count()).select_from(sa.table("model_strength")))
        assert strength.scalar_one() == 0
    assert sorted(step for step, _ in beliefs) == [1, 2, 3, 4, 5]
    assert all(belief is None for _, belief in beliefs)
    assert len(shadows) == 2 * len(Alias)
    assert set(shadows) == {(None, None)}

    app = container_on(database_url)
    loaded = app.games.load(GAME_ID)
    assert loaded is not None
    record, stored = loaded
    assert record.rounds_played == 5
    assert [r.belief for r in stored] == [None] * 5
    assert [r.decision_source for r in stored] == ["opening"] * 3 + ["model"] * 2
    assert sorted(app.games.alias_probabilities(GAME_ID)) == [4, 5]
    replayed = app.gameplay.play(GAME_ID, MOVES[4], 5)  # a retried request
    assert replayed.replayed
    assert replayed.decision.belief is None
    # The layer's state comes from the rounds and alias probabilities, not from beliefs, so the
    # game goes on as it would have on the new schema.
    result = app.gameplay.play(GAME_ID, MOVES[5], 6)
    assert result.played == reference_round_6.played
    after = app.games.load(GAME_ID)
    assert after is not None
    assert after[1][5].belief == reference_round_6.belief is not None


def test_0005_goes_back_down_to_0004_keeping_the_games(game_at_0004, container_on, database_url):
    old, _ = game_at_0004
    migrate(old)
    container_on(database_url).gameplay.play(GAME_ID, MOVES[5], 6)
    StrengthRepository(old).add(
        StrengthRecord(
            model_type="xgboost",
            version="1",
            run_id="r1",
            source="evaluate",
            games_per_opponent=2,
            seed=1,
            scoring_version="abc",
            holdout_win_rate=0.5,
            training_win_rate=0.6,
            overall_win_rate=0.55,
            holdout_margin=0.1,
            layer_holdout_win_rate=0.5,
            greedy_holdout_win_rate=0.4,
        )
    )

    downgrade(old, "0004")

    assert current_revision(old) == "0004"
    assert "model_strength" not in sa.inspect(old.engine).get_table_names()
    for table, added in NEW_COLUMNS.items():
        assert not added & columns(old, table)
    with old.engine.connect() as conn:
        steps = conn.execute(sa.text("SELECT step_no FROM rounds ORDER BY step_no")).scalars()
        assert list(steps) == [1, 2, 3, 4, 5, 6]
        shadows = conn.execute(sa.text("SELECT count(*) FROM alias_predictions")).scalar_one()
        assert shadows == 3 * len(Alias)
    # And up again: the columns come back empty, the rows stay.
    assert migrate(old) == ("0004", head_revision())
    with old.read() as conn:
        assert (
            conn.execute(sa.select(rounds.c.belief).where(rounds.c.step_no == 6)).scalar_one()
            is None
        )
