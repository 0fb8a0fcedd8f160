"""Fuzz every operation from the app's own OpenAPI schema, as a stranger and as the admin, with
every schemathesis check on (valid and invalid inputs): no input may cause a 5xx, invalid input
is refused, and every response matches its documented status codes, headers and schema."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from rps.api.app import create_app
from rps.bootstrap import build_container
from rps.persistence.database import Database, migrate
from rps.settings import load_settings
from tests.support.fuzz_cases import consistent_case
from tests.support.limits import LOAD_SETTINGS

_TOKEN = "fuzz-token-0123456789abcdef"
# The schema is read from the app when the module is collected; the app's storage is attached
# by the fixture below (an app with no container answers 503 until then).
_settings = load_settings(
    DATA_PATH=Path(tempfile.mkdtemp(prefix="rps-fuzz-")),
    RPS_ADMIN_TOKEN=_TOKEN,
    # Hundreds of generated requests from one client: limits out of reach, figures uncached.
    **LOAD_SETTINGS,
)
# The app refuses an unmigrated database at start-up (SPEC §9), and reading the schema starts it.
_db = Database(_settings.database_url)
migrate(_db)
_db.dispose()
app = create_app(_settings)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def storage() -> Iterator[None]:
    container = build_container(_settings, rng=random.Random(1))
    app.state.container = container
    yield
    app.state.container = None
    container.close()


@schema.hook
def map_case(
    context: schemathesis.HookContext, case: schemathesis.Case[Any]
) -> schemathesis.Case[Any]:
    """Positive /predict cases obey the cross-field rules, so each must be accepted."""
    return consistent_case(case)


_FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@schema.parametrize()
@_FUZZ
def test_no_input_from_a_stranger_causes_a_server_error_or_breaks_the_schema(
    case: schemathesis.Case,
) -> None:
    case.call_and_validate()


@schema.parametrize()
@_FUZZ
def test_no_input_from_the_admin_causes_a_server_error_or_breaks_the_schema(
    case: schemathesis.Case,
) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {_TOKEN}"})
