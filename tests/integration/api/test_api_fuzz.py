"""Fuzz every operation from the app's own OpenAPI schema: no input may cause a 5xx, and every
response must match its documented schema and status codes."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from rps.api.app import create_app
from rps.bootstrap import build_container
from rps.persistence.database import Database, migrate
from rps.settings import load_settings

# The schema is read from the app when the module is collected; the app's storage is attached
# by the fixture below (an app with no container answers 503 until then).
_settings = load_settings(
    DATA_PATH=Path(tempfile.mkdtemp(prefix="rps-fuzz-")), RPS_ADMIN_TOKEN="fuzz-token"
)
app = create_app(_settings)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def storage() -> Iterator[None]:
    db = Database(_settings.database_url)
    migrate(db)
    db.dispose()
    container = build_container(_settings, rng=random.Random(1))
    app.state.container = container
    yield
    app.state.container = None
    container.close()


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_causes_a_server_error_or_breaks_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()
