"""Shared fixtures: settings on a temp DATA_PATH, migrated databases on both backends, the app."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rps.api.app import create_app
from rps.bootstrap import Container, build_container
from rps.persistence.database import Database, migrate
from rps.settings import Settings, load_settings
from tests.support.fixtures import postgres_server, postgres_url  # noqa: F401

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(DATA_PATH=tmp_path / "data", RPS_ADMIN_TOKEN=ADMIN_TOKEN)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on SQLite (a temp file) and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rps.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    migrate(db)
    yield db
    db.dispose()


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    migrate_db = Database(settings.database_url)
    migrate(migrate_db)
    migrate_db.dispose()
    built = build_container(settings, rng=random.Random(7), opening_rng=random.Random(11))
    built.models.reload()  # no models exist: every family@alias is declared fallback
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
