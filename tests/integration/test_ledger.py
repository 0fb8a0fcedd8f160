"""The promotion ledger (SPEC §7): its repository on SQLite and PostgreSQL, its portable JSON
form, and `rps ledger export|import` run as a user runs them."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rps.persistence.database import Database, migrate
from rps.persistence.promotion_repository import (
    LEDGER_FIELDS,
    LedgerEvent,
    PromotionRepository,
    event_from_json,
)
from rps.persistence.tables import promotion_events
from tests.integration.test_cli import _env, _output, rps

T0 = datetime(2026, 11, 1, 12, 0, 0, 250000, tzinfo=UTC)


def event(n: int, **overrides: Any) -> LedgerEvent:
    """A complete ledger row, ``n`` hours after T0, with every column filled."""
    values: dict[str, Any] = {
        "event_id": f"evt-{n:04d}-{uuid.uuid4().hex[:8]}",
        "created_at": T0 + timedelta(hours=n),
        "model_type": "xgboost",
        "decision": "swap_production_b",
        "source": "auto",
        "reason": f"B has the higher win rate (run {n})",
        "rule": "winrate",
        "z": 1.7320508075688772,
        "p_value": 0.041632,
        "sequential_p_value": 0.67,
        "srm_p_value": 0.7054,
        "production_version": "1",
        "production_wins": 1,
        "production_games": 3,
        "b_version": "2",
        "b_wins": 3,
        "b_games": 3,
        "reorder_applied": True,
        "applied": True,
        "rankings": {"before": ["1", "3", "4"], "after": ["3", "1", "4"]},
        "accuracies": {"1": {"predictions": 100, "accuracy": 0.7}},
        "assignments_before": {"Production": "1", "B": "2", "shadow1": "3", "shadow2": "4"},
        "assignments_after": {"Production": "2", "B": "3", "shadow1": "1", "shadow2": "4"},
        "details": {"srm": {"enabled": True, "p_value": 0.7054}, "note": "ü ✓"},
    }
    values.update(overrides)
    return LedgerEvent(**values)


def add(repo: PromotionRepository, *events: LedgerEvent) -> list[LedgerEvent]:
    """Write ``events`` in the order given; returns them."""
    for e in events:
        repo.add_event(e)
    return list(events)


@pytest.fixture
def other_database(
    database: Database, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Database]:
    """A second, empty, migrated database on the same backend as ``database``."""
    if database.is_sqlite:
        url = f"sqlite:///{tmp_path / 'other.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"ledger_copy_{uuid.uuid4().hex[:12]}")
    db = Database(url)
    migrate(db)
    yield db
    db.dispose()


# -- the repository ------------------------------------------------------------------------------


def test_a_row_reads_back_as_written(database: Database) -> None:
    repo = PromotionRepository(database)
    written = event(0)

    row_id = repo.add_event(written)

    (read,) = repo.events()
    assert read == written
    assert read.id == row_id
    assert read.created_at.tzinfo is not None
    assert repo.event_by_id(written.event_id) == written
    assert repo.event_by_id("no-such-event") is None


def test_events_come_newest_first_by_time_not_by_insertion(database: Database) -> None:
    repo = PromotionRepository(database)
    late, early, middle = event(5), event(1), event(3)
    add(repo, late, early, middle)

    assert [e.event_id for e in repo.events()] == [late.event_id, middle.event_id, early.event_id]
    assert [e.event_id for e in repo.events(oldest_first=True)] == [
        early.event_id,
        middle.event_id,
        late.event_id,
    ]


def test_events_filter_by_family_decision_and_time_and_honour_the_limit(
    database: Database,
) -> None:
    repo = PromotionRepository(database)
    rows = add(
        repo,
        event(1, model_type="xgboost", decision="retain_production"),
        event(2, model_type="feedforward_nn", decision="swap_production_b"),
        event(3, model_type="xgboost", decision="swap_production_b"),
        event(4, model_type="multinomial_logistic", decision="insufficient_data"),
        event(5, model_type="xgboost", decision="alias_reorder"),
    )
    ids = [r.event_id for r in rows]

    def found(**filters: Any) -> list[str]:
        return [e.event_id for e in repo.events(**filters)]

    assert found(model_type="xgboost") == [ids[4], ids[2], ids[0]]
    assert found(decision="swap_production_b") == [ids[2], ids[1]]
    assert found(model_type="xgboost", decision="swap_production_b") == [ids[2]]
    # ``since`` includes a row created at exactly that time.
    assert found(since=T0 + timedelta(hours=3)) == [ids[4], ids[3], ids[2]]
    assert found(limit=2) == [ids[4], ids[3]]
    assert found(model_type="xgboost", limit=1) == [ids[4]]
    assert found(decision="alias_set") == []


def test_infinite_and_undefined_statistics_are_stored_as_null(database: Database) -> None:
    repo = PromotionRepository(database)
    written = event(0, z=math.inf, p_value=math.nan, sequential_p_value=-math.inf)

    repo.add_event(written)

    (read,) = repo.events()
    assert (read.z, read.p_value, read.sequential_p_value) == (None, None, None)
    assert read.srm_p_value == pytest.approx(0.7054)
    with database.read() as conn:
        raw = conn.execute(select(promotion_events.c.z, promotion_events.c.p_value)).one()
    assert tuple(raw) == (None, None)


def test_the_same_event_id_cannot_be_written_twice(database: Database) -> None:
    repo = PromotionRepository(database)
    first = event(0)
    repo.add_event(first)

    with pytest.raises(IntegrityError):
        repo.add_event(event(1, event_id=first.event_id))
    assert len(repo.events()) == 1


# -- export and import ---------------------------------------------------------------------------


def test_a_ledger_exported_and_imported_into_another_database_is_the_same_ledger(
    database: Database, other_database: Database
) -> None:
    source = PromotionRepository(database)
    rows = add(
        source,
        event(1),
        event(2, model_type="feedforward_nn", z=None, rankings=None, details=None),
        event(3, decision="alias_set", source="rps alias set", rule=None, applied=False),
    )
    exported = [json.loads(json.dumps(e.to_json())) for e in source.iter_events(batch=2)]
    target = PromotionRepository(other_database)

    first = target.import_events(event_from_json(d) for d in exported)
    second = target.import_events(event_from_json(d) for d in exported)

    assert first == (3, 0)
    assert second == (0, 3)
    assert target.events(oldest_first=True) == rows
    assert set(exported[0]) == set(LEDGER_FIELDS)


def test_an_import_adds_only_the_rows_that_are_missing(
    database: Database, other_database: Database
) -> None:
    source = PromotionRepository(database)
    shared, new = event(1), event(2)
    add(source, shared, new)
    target = PromotionRepository(other_database)
    target.add_event(shared)

    added = target.import_events(event_from_json(e.to_json()) for e in source.iter_events())

    assert added == (1, 1)
    assert [e.event_id for e in target.events()] == [new.event_id, shared.event_id]


def test_the_exported_form_carries_iso_times_with_their_offset() -> None:
    data = event(1).to_json()

    assert data["created_at"] == "2026-11-01T13:00:00.250000+00:00"
    assert "id" not in data
    assert event_from_json(data) == event(1, event_id=data["event_id"])


@pytest.mark.parametrize("name", ["event_id", "created_at", "model_type", "decision", "reason"])
def test_a_row_without_a_required_field_is_rejected_naming_it(name: str) -> None:
    data = event(1).to_json()
    del data[name]

    with pytest.raises(ValueError, match=f"lacks {name}"):
        event_from_json(data)


def test_a_row_with_unknown_fields_is_rejected_naming_them() -> None:
    data = {**event(1).to_json(), "winner": "B", "colour": "red"}

    with pytest.raises(ValueError, match="unknown fields: colour, winner"):
        event_from_json(data)


def test_a_row_with_a_time_without_offset_is_rejected() -> None:
    data = {**event(1).to_json(), "created_at": "2026-11-01T13:00:00"}

    with pytest.raises(ValueError, match="created_at must carry a UTC offset"):
        event_from_json(data)


def test_a_row_with_a_time_that_is_no_time_is_rejected() -> None:
    data = {**event(1).to_json(), "created_at": "last tuesday"}

    with pytest.raises(ValueError, match="last tuesday"):
        event_from_json(data)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("production_wins", "many"),
        ("b_games", 2.5),
        ("z", "high"),
        ("applied", "yes"),
        ("rule", 7),
        ("reason", ["a", "list"]),
        ("assignments_after", ["2", "1", "3", "4"]),
        ("reorder_applied", None),
    ],
)
def test_a_row_with_a_value_of_the_wrong_type_is_rejected_naming_the_field(
    name: str, value: Any
) -> None:
    data = {**event(1).to_json(), name: value}

    with pytest.raises(ValueError, match=name):
        event_from_json(data)


def test_an_offset_other_than_utc_is_kept_as_the_same_instant() -> None:
    data = {**event(1).to_json(), "created_at": "2026-11-01T15:00:00.250000+02:00"}

    assert event_from_json(data).created_at == T0 + timedelta(hours=1)


# -- `rps ledger export|import` ------------------------------------------------------------------


def _ledger_at(data_path: Path, *events: LedgerEvent) -> None:
    """The database `rps` finds under ``data_path``, migrated, with ``events`` in its ledger."""
    db = Database(f"sqlite:///{data_path.resolve() / 'rps.db'}")
    try:
        migrate(db)
        add(PromotionRepository(db), *events)
    finally:
        db.dispose()


def _rows(data_path: Path) -> list[LedgerEvent]:
    db = Database(f"sqlite:///{data_path.resolve() / 'rps.db'}")
    try:
        return PromotionRepository(db).events(oldest_first=True, limit=0)
    finally:
        db.dispose()


def test_ledger_export_then_import_twice_copies_the_ledger_once(tmp_path: Path) -> None:
    written = [event(1), event(2, model_type="multinomial_logistic", z=math.inf), event(3)]
    _ledger_at(tmp_path / "origin", *written)
    _ledger_at(tmp_path / "copy")
    exported = tmp_path / "ledger.ndjson"

    export = rps("ledger", "export", "--out", str(exported), env=_env(tmp_path / "origin"))
    first = rps("ledger", "import", str(exported), env=_env(tmp_path / "copy"))
    second = rps("ledger", "import", str(exported), env=_env(tmp_path / "copy"))

    assert export.returncode == 0, _output(export)
    assert "exported 3 ledger rows" in _output(export)
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [e.event_id for e in written]
    assert not list(tmp_path.glob("*.partial"))
    assert first.returncode == 0, _output(first)
    assert "imported 3 ledger rows; 0 were already there" in _output(first)
    assert second.returncode == 0, _output(second)
    assert "imported 0 ledger rows; 3 were already there" in _output(second)
    copied = _rows(tmp_path / "copy")
    assert copied == _rows(tmp_path / "origin")
    assert copied[1].z is None


def test_ledger_import_of_a_file_with_a_bad_line_names_it_and_imports_nothing(
    tmp_path: Path,
) -> None:
    good = json.dumps(event(1).to_json())
    naive = json.dumps({**event(2).to_json(), "created_at": "2026-11-01T13:00:00"})
    text_count = json.dumps({**event(3).to_json(), "b_wins": "3"})
    _ledger_at(tmp_path / "copy")
    for name, lines, bad_line, problem in [
        ("broken.ndjson", [good, "", "{not json"], 3, "Expecting property name"),
        ("naive.ndjson", [good, naive], 2, "ledger row created_at must carry a UTC offset"),
        ("array.ndjson", [good, "[1, 2]"], 2, "not a JSON object"),
        (
            "typed.ndjson",
            [good, good, text_count],
            3,
            "ledger row has values of the wrong type: b_wins='3'",
        ),
    ]:
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

        result = rps("ledger", "import", str(path), env=_env(tmp_path / "copy"))

        said = " ".join(_output(result).split())  # the console wraps long lines
        assert result.returncode == 2, said
        assert f"{path}:{bad_line}: {problem}" in said
        assert said.endswith("nothing imported")
        assert _rows(tmp_path / "copy") == []


def test_ledger_import_of_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    result = rps("ledger", "import", str(tmp_path / "nope.ndjson"), env=_env(tmp_path / "data"))

    assert result.returncode == 2
    assert "no such file" in _output(result)
