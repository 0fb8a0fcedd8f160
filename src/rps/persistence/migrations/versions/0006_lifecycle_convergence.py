"""Abandoned games, a monotone training watermark and per-model training outcomes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

- ``games.finished_reason`` (``completed`` | ``abandoned``; finished games so far are
  ``completed``) and ``games.last_round_at`` (the time of the game's newest round, so closing
  inactive games is one indexed scan of unfinished games).
- ``training_runs.watermark_round_id`` / ``watermark_at``: the newest round a successful training
  saw; scheduled training counts rounds stored after it, never a difference of dataset sizes.
  Successful sessions from before get the newest round stored before they started.
- ``training_runs.duration_s`` and the table ``training_outcomes`` (one row per trained model:
  family, status ``succeeded|rejected|failed``): the training counters are counts over all of
  history instead of a window of recent sessions.

Additive only; nothing already stored changes meaning.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rps.persistence.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
# Not additive for a rolling upgrade: code of 0005 would store rounds without
# ``last_round_at`` and finished games without ``finished_reason``, and this release closes
# games as abandoned from those columns.
additive = False


def upgrade() -> None:
    op.add_column("games", sa.Column("finished_reason", sa.String(16)))
    op.add_column("games", sa.Column("last_round_at", UTCDateTime))
    op.create_index("ix_games_finished_at", "games", ["finished_at"])
    op.execute("UPDATE games SET finished_reason = 'completed' WHERE finished_at IS NOT NULL")
    op.execute(
        "UPDATE games SET last_round_at = (SELECT max(r.created_at) FROM rounds r "
        "WHERE r.game_id = games.id) WHERE finished_at IS NULL"
    )

    op.add_column("training_runs", sa.Column("watermark_round_id", sa.Integer))
    op.add_column("training_runs", sa.Column("watermark_at", UTCDateTime))
    op.add_column("training_runs", sa.Column("duration_s", sa.Float))
    op.add_column(
        "training_runs",
        sa.Column("models_rejected", sa.Integer, nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE training_runs SET watermark_round_id = (SELECT max(r.id) FROM rounds r "
        "WHERE r.created_at <= training_runs.started_at) WHERE status = 'succeeded'"
    )
    op.execute(
        "UPDATE training_runs SET watermark_at = (SELECT r.created_at FROM rounds r "
        "WHERE r.id = training_runs.watermark_round_id) WHERE watermark_round_id IS NOT NULL"
    )
    connection = op.get_bind()
    runs = sa.table(
        "training_runs",
        sa.column("id", sa.Integer),
        sa.column("started_at", UTCDateTime),
        sa.column("finished_at", UTCDateTime),
        sa.column("duration_s", sa.Float),
    )
    finished = connection.execute(
        sa.select(runs.c.id, runs.c.started_at, runs.c.finished_at).where(
            runs.c.finished_at.is_not(None)
        )
    ).all()
    for row in finished:
        seconds = max(0.0, (row.finished_at - row.started_at).total_seconds())
        connection.execute(sa.update(runs).where(runs.c.id == row.id).values(duration_s=seconds))

    op.create_table(
        "training_outcomes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "training_run_id",
            sa.Integer,
            sa.ForeignKey("training_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("model_type", sa.String(32), nullable=False),
        sa.Column("model_key", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.String(32)),
        sa.Column("duration_s", sa.Float),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_training_outcomes_family_status", "training_outcomes", ["model_type", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_training_outcomes_family_status", table_name="training_outcomes")
    op.drop_table("training_outcomes")
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 has it): a batch copy of ``games`` would
    # drop and recreate the table, and with foreign keys on that deletes every round.
    for column in ("models_rejected", "duration_s", "watermark_at", "watermark_round_id"):
        op.drop_column("training_runs", column)
    op.drop_index("ix_games_finished_at", table_name="games")
    for column in ("last_round_at", "finished_reason"):
        op.drop_column("games", column)
