"""The schema check (SPEC §9): behind, foreign, legacy and ahead databases, on both backends, as
``check_schema``, ``migrate``, the app's lifespan and ``/ready`` see them."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from rps.api.app import create_app
from rps.bootstrap import build_container
from rps.persistence.database import Database, head_revision, migrate
from rps.persistence.schema_check import (
    MIGRATIONS_DIR,
    SchemaMismatch,
    SchemaStatus,
    check_schema,
)
from rps.settings import load_settings
from tests.conftest import ADMIN_TOKEN
from tests.support.legacy_db import legacy_games, write_legacy_db

FUTURE_MIGRATION = '''"""A release after this one: {what}."""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = {head!r}
branch_labels = None
depends_on = None
additive = {additive}


def upgrade() -> None:
    op.create_table("future_notes", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("games", sa.Column("future_flag", sa.Boolean))


def downgrade() -> None:
    op.drop_column("games", "future_flag")
    op.drop_table("future_notes")
'''


def newer_release(tmp_path: Path, *, additive: bool) -> Path:
    """The migrations of a release one revision ahead of this code."""
    location = tmp_path / f"newer-{'additive' if additive else 'breaking'}"
    shutil.copytree(MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    what = "a new table and a nullable column" if additive else "a change old code cannot serve"
    (location / "versions" / "9001_future.py").write_text(
        FUTURE_MIGRATION.format(what=what, head=head_revision(), additive=additive)
    )
    return location


def stamp(db: Database, revision: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


@pytest.fixture
def empty_db(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def test_an_empty_database_is_behind_and_names_rps_migrate(empty_db):
    found = check_schema(empty_db)

    assert found.status is SchemaStatus.BEHIND
    assert not found.ready
    assert found.refused
    assert found.database_revision is None
    assert "rps migrate" in found.message()


def test_a_database_at_an_older_revision_is_behind(empty_db):
    migrate(empty_db, "0005")

    found = check_schema(empty_db)

    assert found.status is SchemaStatus.BEHIND
    assert found.database_revision == "0005"
    assert "0005" in found.message()
    assert "rps migrate" in found.message()
    assert migrate(empty_db) == ("0005", head_revision())
    assert check_schema(empty_db).status is SchemaStatus.CURRENT


def test_a_database_one_additive_revision_ahead_is_served(empty_db, tmp_path):
    migrate(empty_db, location=newer_release(tmp_path, additive=True))

    found = check_schema(empty_db)

    assert found.status is SchemaStatus.AHEAD
    assert found.ready
    assert found.database_revision == "9001"
    assert found.oldest_code_revision is not None
    # This code's `rps migrate` (an old pod's init step) leaves the newer schema alone.
    assert migrate(empty_db) == ("9001", "9001")
    # And this code plays on it: the old pod keeps serving during the rolling upgrade.
    settings = load_settings(
        DATA_PATH=tmp_path / "data", DATABASE_URL=empty_db.url, RPS_ADMIN_TOKEN=ADMIN_TOKEN
    )
    container = build_container(settings, rng=random.Random(1), opening_rng=random.Random(2))
    container.models.reload()
    try:
        with TestClient(create_app(container=container)) as client:
            ready = client.get("/ready")
            game = client.post("/start_game", json={"policy": "brian"}).json()
            played = client.post("/play", json={"game_id": game["game_id"], "user_move": "rock"})
    finally:
        container.close()
    assert ready.status_code == 200
    assert ready.json()["schema"]["status"] == "ahead"
    assert played.status_code == 200


def test_a_database_ahead_by_a_change_that_is_not_additive_is_refused(empty_db, tmp_path):
    migrate(empty_db, location=newer_release(tmp_path, additive=False))

    found = check_schema(empty_db)

    assert found.status is SchemaStatus.NEWER
    assert found.refused
    assert "9001" in found.message()
    assert "upgrade" in found.message()
    with pytest.raises(SchemaMismatch, match="9001"):
        migrate(empty_db)


def test_an_unknown_revision_that_no_release_recorded_is_foreign(empty_db):
    migrate(empty_db)
    stamp(empty_db, "f00dcafe")  # the compatibility row still names the old revision

    found = check_schema(empty_db)

    assert found.status is SchemaStatus.FOREIGN
    assert found.refused
    assert "f00dcafe" in found.message()
    with pytest.raises(SchemaMismatch):
        migrate(empty_db)


def test_tables_named_like_ours_without_a_revision_are_foreign_and_not_migrated(empty_db):
    with empty_db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE games (id VARCHAR(64) PRIMARY KEY)"))

    found = check_schema(empty_db)

    assert found.status is SchemaStatus.FOREIGN
    assert found.refused
    assert "games" in found.message()
    with pytest.raises(SchemaMismatch, match="not this platform's"):
        migrate(empty_db)


def test_another_applications_tables_are_foreign_until_migrate_adds_ours(empty_db):
    with empty_db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    assert check_schema(empty_db).status is SchemaStatus.FOREIGN

    migrate(empty_db)

    assert check_schema(empty_db).status is SchemaStatus.CURRENT


def test_the_originals_database_is_legacy_and_names_import_legacy(tmp_path):
    path = write_legacy_db(tmp_path / "rps.db", legacy_games(2))
    db = Database(f"sqlite:///{path}")
    try:
        found = check_schema(db)
        with pytest.raises(SchemaMismatch, match="rps import-legacy"):
            migrate(db)
        with db.engine.connect() as conn:
            tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    finally:
        db.dispose()
    assert found.status is SchemaStatus.LEGACY
    assert found.refused
    assert "rps import-legacy" in found.message()
    assert "alembic_version" not in tables  # refused before anything was written


def test_ready_answers_503_with_the_reason_when_the_schema_falls_behind(database_url, tmp_path):
    settings = load_settings(
        DATA_PATH=tmp_path / "data", DATABASE_URL=database_url, RPS_ADMIN_TOKEN=ADMIN_TOKEN
    )
    db = Database(database_url)
    migrate(db)
    container = build_container(settings)
    container.models.reload()
    try:
        with TestClient(create_app(container=container)) as client:
            assert client.get("/ready").status_code == 200
            stamp(db, "0005")  # e.g. an old backup restored under a running server
            behind = client.get("/ready")
            stamp(db, "f00dcafe")
            foreign = client.get("/ready")
    finally:
        container.close()
        db.dispose()
    assert behind.status_code == 503
    assert behind.json()["ready"] is False
    assert "rps migrate" in behind.json()["detail"]
    assert behind.json()["schema"] == {
        "status": "behind",
        "database_revision": "0005",
        "code_revision": head_revision(),
    }
    assert foreign.status_code == 503
    assert foreign.json()["schema"]["status"] == "foreign"


def test_an_app_building_its_own_container_refuses_an_unmigrated_database(tmp_path, caplog):
    settings = load_settings(DATA_PATH=tmp_path / "data", RPS_ADMIN_TOKEN=ADMIN_TOKEN)

    with pytest.raises(RuntimeError, match="rps migrate"), TestClient(create_app(settings)):
        pass

    assert any("refusing to serve" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
def test_migrate_on_an_up_to_date_database_writes_nothing_so_a_role_without_delete_can_run_it(
    postgres_url,
):
    db = Database(postgres_url)
    migrate(db)
    role = f"pipeline_{abs(hash(postgres_url)) % 10**8}"
    with db.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(
            text(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO "{role}"')
        )
        before = conn.execute(text("SELECT * FROM schema_compatibility")).all()
    db.dispose()
    # The trainer and promoter connect as such a role and call `migrate` on every run.
    pipeline_url = postgres_url.replace("://postgres@", f"://{role}@")
    assert f"://{role}@" in pipeline_url
    as_pipeline = Database(pipeline_url)
    try:
        assert migrate(as_pipeline) == (head_revision(), head_revision())
        assert check_schema(as_pipeline).status is SchemaStatus.CURRENT
        with as_pipeline.engine.connect() as conn:
            after = conn.execute(text("SELECT * FROM schema_compatibility")).all()
    finally:
        as_pipeline.dispose()
    assert after == before
