"""Model assignments and training runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rps.persistence.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
# New tables only (rps.persistence.schema_check: code of 0001 serves this schema).
additive = True


def upgrade() -> None:
    op.create_table(
        "model_assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_type", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(16), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("previous_version", sa.String(32)),
        sa.Column("assigned_at", UTCDateTime, nullable=False),
        sa.Column("assigned_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_index(
        "ix_model_assignments_family_alias",
        "model_assignments",
        ["model_type", "alias", "assigned_at"],
    )
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("rows_used", sa.Integer),
        sa.Column("models_trained", sa.Integer, nullable=False, server_default="0"),
        sa.Column("models_registered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("dataset_fingerprint", sa.String(64)),
        sa.Column("details", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_training_runs_status_started", "training_runs", ["status", "started_at"])


def downgrade() -> None:
    op.drop_table("training_runs")
    op.drop_table("model_assignments")
