"""pytest fixtures for tests that need PostgreSQL.

Import them into ``tests/conftest.py``::

    from tests.support.fixtures import postgres_server, postgres_url  # noqa: F401

Under pytest-xdist every worker process gets its own server (session scope is per process).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session (per xdist worker)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of a fresh, empty database for this test alone.

    The databases are not dropped afterwards; they go away with the server at session end.
    """
    return postgres_server.create_database(f"test_{next(_db_numbers)}")
