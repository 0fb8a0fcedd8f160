"""Is this database's schema one this code can serve? (SPEC §9 Hardening, §10)

``check_schema`` compares the database's Alembic revision with the code's migrations and answers
with a :class:`SchemaCheck`: ready (``current``, or ``ahead`` but compatible) or refused, with the
reason and the command that fixes it. `rps serve`, `rps up`, the app's lifespan and ``/ready`` all
ask it, so they agree.

**Ahead of the code.** During a rolling upgrade the new release migrates the database while pods
of the old release keep serving. An old pod finds a revision it has never heard of: its own
migrations cannot tell it whether that revision only added things (a table, a nullable column,
an index) or changed what it relies on. Only the code that wrote the newer revision knows, so
that code records the answer in the database, and the old pod reads it:

- Every migration declares ``additive = True`` when code of the *previous* revision keeps working
  correctly on the new schema, side by side with the new code (new tables, nullable columns,
  indexes; no renames, no drops, no new required columns, no new meaning for stored values).
  A migration without the flag counts as not additive.
- Whenever ``migrate`` moves the schema to a revision, it walks back from that revision over the
  consecutive additive ones and stores the oldest code revision that can still serve this schema
  in the one-row table ``schema_compatibility`` (with the schema revision it was computed for).
- A pod whose code does not know the database's revision counts the database as ready when that
  row belongs to the database's revision and names a code revision this code knows (its own head
  or older). Otherwise the database is ``newer`` (upgrade this installation) or ``foreign``.

A database at an older revision this code knows is ``behind`` (run `rps migrate`): nothing is
served from a schema that lacks what the code writes. A database with tables but no revision is
``foreign``, or ``legacy`` when it looks like the original system's `rps.db` (its ``games`` and
``events`` tables, as `rps import-legacy` recognises them), which is imported, never served.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, inspect, select, update

from rps.persistence.tables import metadata, schema_compatibility, utcnow

if TYPE_CHECKING:
    from rps.persistence.database import Database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The original system's database holds these tables (`rps import-legacy` reads them); this
# platform's own has ``rounds`` where the original has ``events``.
LEGACY_TABLES = ("games", "events")
_VERSION_TABLE = "alembic_version"
_MIGRATE = "run `rps migrate`"


class SchemaStatus(StrEnum):
    CURRENT = "current"  # the code's head revision
    AHEAD = "ahead"  # newer than the code, and recorded as compatible with it
    BEHIND = "behind"  # no schema yet, or an older revision this code knows
    NEWER = "newer"  # newer than the code, and not compatible with it
    FOREIGN = "foreign"  # tables without a revision, or a revision nobody recorded
    LEGACY = "legacy"  # the original system's database
    UNREACHABLE = "unreachable"  # the schema could not be read


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    """The outcome of :func:`check_schema`. ``detail`` says what was found and ``remedy`` what to
    do; neither names the database's URL or path (callers that may show it add it masked)."""

    status: SchemaStatus
    code_revision: str
    database_revision: str | None
    detail: str
    remedy: str | None = None
    # From the database's ``schema_compatibility`` row: the oldest code revision that serves it.
    oldest_code_revision: str | None = None

    @property
    def ready(self) -> bool:
        return self.status in (SchemaStatus.CURRENT, SchemaStatus.AHEAD)

    @property
    def refused(self) -> bool:
        """Not ready for a reason only an operator can fix (unreachable may pass by itself)."""
        return not self.ready and self.status is not SchemaStatus.UNREACHABLE

    def message(self) -> str:
        return f"{self.detail}: {self.remedy}" if self.remedy else self.detail

    def as_dict(self) -> dict[str, str | None]:
        return {
            "status": self.status.value,
            "database_revision": self.database_revision,
            "code_revision": self.code_revision,
        }


class SchemaMismatch(RuntimeError):
    """The database's schema is not one this code may serve or migrate (``check`` says why)."""

    def __init__(self, check: SchemaCheck) -> None:
        super().__init__(check.message())
        self.check = check


@lru_cache(maxsize=8)
def migration_scripts(location: Path = MIGRATIONS_DIR) -> ScriptDirectory:
    """The migrations of ``location`` (read once per process: ``/ready`` asks on every probe)."""
    return ScriptDirectory.from_config(alembic_config(location))


def code_revision(location: Path = MIGRATIONS_DIR) -> str:
    """The newest schema revision this code's migrations create."""
    head = migration_scripts(location).get_current_head()
    assert head is not None, "the package ships its migrations"
    return head


def alembic_config(location: Path = MIGRATIONS_DIR) -> Config:
    config = Config()
    config.set_main_option("script_location", str(location))
    return config


def is_additive(scripts: ScriptDirectory, revision: str) -> bool:
    module = scripts.get_revision(revision).module
    return getattr(module, "additive", False) is True


def oldest_compatible_code(scripts: ScriptDirectory, revision: str) -> str:
    """The oldest code revision that serves a schema at ``revision``: step back over each
    consecutive additive migration (code of its previous revision still works on it)."""
    oldest = revision
    while is_additive(scripts, oldest):
        previous = scripts.get_revision(oldest).down_revision
        if not isinstance(previous, str):  # the first migration, or a merge: stop here
            break
        oldest = previous
    return oldest


def record_compatibility(conn: Connection, scripts: ScriptDirectory, revision: str | None) -> None:
    """Store, for the schema now at ``revision``, the oldest code revision that serves it (in
    the caller's transaction; a no-op before the revision that created the table).

    Written only when it changes: the training pipeline calls ``migrate`` on every run with a
    role that may read and update rows but not delete them.
    """
    if revision is None or schema_compatibility.name not in inspect(conn).get_table_names():
        return
    wanted = {
        "schema_revision": revision,
        "oldest_code_revision": oldest_compatible_code(scripts, revision),
    }
    table = schema_compatibility
    rows = conn.execute(select(table.c.schema_revision, table.c.oldest_code_revision)).all()
    if [tuple(r) for r in rows] == [tuple(wanted.values())]:
        return
    if rows:
        conn.execute(update(table).values(**wanted, recorded_at=utcnow()))
    else:
        conn.execute(insert(table).values(**wanted, recorded_at=utcnow()))


def inspect_schema(conn: Connection, scripts: ScriptDirectory, *, dialect: str) -> SchemaCheck:
    """The schema's state as seen on ``conn`` (which may raise if the database is unreachable)."""
    head = scripts.get_current_head()
    assert head is not None, "the package ships its migrations"
    tables = set(inspect(conn).get_table_names())
    revision = (
        MigrationContext.configure(conn).get_current_revision()
        if _VERSION_TABLE in tables
        else None
    )
    if revision is None:
        return _without_revision(tables - {_VERSION_TABLE}, head, dialect=dialect)
    if revision == head:
        return SchemaCheck(SchemaStatus.CURRENT, head, revision, f"schema at revision {head}")
    known = {script.revision for script in scripts.walk_revisions()}
    if revision in known:
        return SchemaCheck(
            SchemaStatus.BEHIND,
            head,
            revision,
            f"the database's schema is at revision {revision}, older than this code's {head}",
            _MIGRATE,
        )
    oldest = _recorded_oldest(conn, tables, revision)
    if oldest is None:
        return SchemaCheck(
            SchemaStatus.FOREIGN,
            head,
            revision,
            f"the database's schema revision {revision} is unknown to this code (head {head}) "
            "and no release recorded which code can serve it",
            "point DATABASE_URL at this platform's database, or install the release that "
            "migrated it",
        )
    if oldest in known:
        return SchemaCheck(
            SchemaStatus.AHEAD,
            head,
            revision,
            f"the database's schema is at revision {revision}, newer than this code's {head}; "
            f"the release that migrated it recorded that code from revision {oldest} on "
            "serves it",
            oldest_code_revision=oldest,
        )
    return SchemaCheck(
        SchemaStatus.NEWER,
        head,
        revision,
        f"the database's schema is at revision {revision}, newer than this code's {head}, and "
        f"needs code from revision {oldest} on",
        "upgrade this installation to the release that migrated the database",
        oldest_code_revision=oldest,
    )


def _without_revision(tables: set[str], head: str, *, dialect: str) -> SchemaCheck:
    if not tables:
        return SchemaCheck(
            SchemaStatus.BEHIND, head, None, "the database has no schema yet", _MIGRATE
        )
    # The original was an SQLite application; `rps import-legacy` reads SQLite files only.
    if dialect == "sqlite" and looks_like_legacy(tables):
        return SchemaCheck(
            SchemaStatus.LEGACY,
            head,
            None,
            "the database looks like the original system's rps.db (games and events tables, "
            "no schema revision), which this platform imports but does not serve",
            "use `rps import-legacy` (move the file aside, point DATABASE_URL or DATA_PATH at a "
            "new database, run `rps migrate`, then `rps import-legacy <the old file>`)",
        )
    ours = sorted(tables & set(metadata.tables))
    shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
    what = (
        f"tables named like this platform's ({', '.join(ours)}) but no schema revision"
        if ours
        else f"tables ({shown}) but no schema revision"
    )
    return SchemaCheck(
        SchemaStatus.FOREIGN,
        head,
        None,
        f"the database is not this platform's: it has {what}",
        "point DATABASE_URL at this platform's database (or at a new one and run `rps migrate`)",
    )


def _recorded_oldest(conn: Connection, tables: set[str], revision: str) -> str | None:
    if schema_compatibility.name not in tables:
        return None
    row = conn.execute(
        select(schema_compatibility.c.schema_revision, schema_compatibility.c.oldest_code_revision)
    ).first()
    # A row written for another revision says nothing about this one.
    if row is None or row.schema_revision != revision:
        return None
    return str(row.oldest_code_revision)


def looks_like_legacy(tables: Iterable[str]) -> bool:
    """Whether a database with these tables looks like the original system's rps.db."""
    names = {name.lower() for name in tables}
    return all(table in names for table in LEGACY_TABLES) and "rounds" not in names


def check_schema(db: Database, *, location: Path = MIGRATIONS_DIR) -> SchemaCheck:
    """Whether this code may serve ``db``; ``unreachable`` when the schema cannot be read.

    Blocking (a few catalogue queries): call it from a thread in async code.
    """
    scripts = migration_scripts(location)
    try:
        with db.engine.connect() as conn:
            return inspect_schema(conn, scripts, dialect=db.dialect)
    except Exception as exc:  # any driver error means "cannot tell" to a health check
        head = scripts.get_current_head() or "?"
        return SchemaCheck(
            SchemaStatus.UNREACHABLE,
            head,
            None,
            f"the database is unreachable ({type(exc).__name__})",
            "check DATABASE_URL and that the database server is up",
        )
