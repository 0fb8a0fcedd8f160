"""Migration 0006 on a 0005 database that already holds training sessions, on SQLite and
PostgreSQL: successful sessions get the newest round stored before they started as their
watermark, every finished session its duration; scheduled training then counts new rounds from
the newest successful session's watermark."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from rps.features import MIN_LABEL_STEP
from rps.persistence.database import Database, current_revision, head_revision, migrate
from rps.persistence.lifecycle_repository import LifecycleRepository
from rps.persistence.tables import games, rounds, training_runs
from tests.support.rows import round_row

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STEPS = 8  # rounds per game: steps 4..8 are labelled


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def store_game(conn: sa.Connection, game_id: str, first_round_at: datetime) -> None:
    """A game and its rounds with the columns a 0005 database has, a minute apart."""
    conn.execute(
        sa.insert(games),
        {
            "id": game_id,
            "session_id": f"s-{game_id}",
            "player_name": "Ada",
            "policy": "brian",
            "created_at": first_round_at,
        },
    )
    conn.execute(
        sa.insert(rounds),
        [
            round_row(
                game_id,
                step,
                paper_pts=1.0,
                scissors_pts=1.0,
                decision_source="opening",
                created_at=first_round_at + timedelta(minutes=step - 1),
            )
            for step in range(1, STEPS + 1)
        ],
    )


SESSIONS = {
    # name: (status, started at (minutes), finished at (minutes) or None)
    "before any round": ("succeeded", -30, -20),
    "failed": ("failed", 5, 5.5),
    "skipped": ("skipped", 6, 6.25),
    "succeeded": ("succeeded", 10.5, 12),  # saw rounds up to minute 10
    "running": ("running", 30, None),
}


@pytest.fixture
def upgraded(database_url: str) -> Iterator[tuple[Database, dict[str, int]]]:
    """Two games (rounds at minutes 0–7 and 8–15) and the sessions above, stored at 0005, then
    upgraded to head. Yields the database and each session's id."""
    db = Database(database_url)
    migrate(db, "0005")
    assert current_revision(db) == "0005"
    ids = {}
    with db.engine.begin() as conn:
        store_game(conn, "g1", minutes(0))
        store_game(conn, "g2", minutes(8))
        for name, (status, started, finished) in SESSIONS.items():
            ids[name] = conn.execute(
                sa.insert(training_runs).returning(training_runs.c.id),
                {
                    "started_at": minutes(started),
                    "finished_at": minutes(finished) if finished is not None else None,
                    "status": status,
                    "trigger": "scheduled",
                },
            ).scalar_one()
    assert migrate(db) == ("0005", head_revision())
    yield db, ids
    db.dispose()


def test_upgrade_gives_successful_sessions_the_newest_round_before_they_started(upgraded) -> None:
    db, ids = upgraded
    with db.read() as conn:
        round_at = dict(
            conn.execute(
                sa.select(rounds.c.created_at, rounds.c.id).where(rounds.c.game_id == "g2")
            ).all()
        )
        runs = {
            row.id: row
            for row in conn.execute(
                sa.select(
                    training_runs.c.id,
                    training_runs.c.watermark_round_id,
                    training_runs.c.watermark_at,
                    training_runs.c.duration_s,
                    training_runs.c.models_rejected,
                )
            ).all()
        }
        outcomes = conn.execute(sa.text("SELECT count(*) FROM training_outcomes")).scalar_one()

    seen = runs[ids["succeeded"]]
    assert (seen.watermark_round_id, seen.watermark_at) == (round_at[minutes(10)], minutes(10))
    for name in ("before any round", "failed", "skipped", "running"):
        assert (runs[ids[name]].watermark_round_id, runs[ids[name]].watermark_at) == (None, None)
    durations = {name: runs[ids[name]].duration_s for name in SESSIONS}
    assert durations == {
        "before any round": pytest.approx(600.0),
        "failed": pytest.approx(30.0),
        "skipped": pytest.approx(15.0),
        "succeeded": pytest.approx(90.0),
        "running": None,
    }
    assert {row.models_rejected for row in runs.values()} == {0}
    assert outcomes == 0


def test_after_the_upgrade_new_rounds_count_from_the_backfilled_watermark(upgraded) -> None:
    db, _ = upgraded
    lifecycle = LifecycleRepository(db)

    watermark = lifecycle.last_watermark()
    new = lifecycle.labelled_rounds_after(watermark, since=None, min_label_step=MIN_LABEL_STEP)

    # g2's rounds at minutes 11–15 (steps 4–8, all labelled) came after the watermark.
    assert new == 5
    everything = lifecycle.labelled_rounds_after(None, since=None, min_label_step=MIN_LABEL_STEP)
    assert everything == 2 * (STEPS - MIN_LABEL_STEP + 1)
