"""The promotion ledger, and indexes for the per-version promotion windows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rps.persistence.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
# A new table and indexes: code of 0003 serves this schema.
additive = True


def upgrade() -> None:
    op.create_table(
        "promotion_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("model_type", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(16)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("z", sa.Float),
        sa.Column("p_value", sa.Float),
        sa.Column("sequential_p_value", sa.Float),
        sa.Column("srm_p_value", sa.Float),
        sa.Column("production_version", sa.String(32)),
        sa.Column("production_wins", sa.Integer),
        sa.Column("production_games", sa.Integer),
        sa.Column("b_version", sa.String(32)),
        sa.Column("b_wins", sa.Integer),
        sa.Column("b_games", sa.Integer),
        sa.Column("reorder_applied", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("applied", sa.Boolean, nullable=False, server_default="1"),
        sa.Column("rankings", sa.Text),
        sa.Column("accuracies", sa.Text),
        sa.Column("assignments_before", sa.Text),
        sa.Column("assignments_after", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("details", sa.Text),
    )
    op.create_index("ix_promotion_events_created", "promotion_events", ["created_at"])
    op.create_index("ix_promotion_events_family", "promotion_events", ["model_type", "created_at"])
    # Promotion reads a version's finished games (its predictions use ix_alias_predictions_version).
    op.create_index(
        "ix_games_model_version", "games", ["model_type", "bot_model_alias", "model_version"]
    )


def downgrade() -> None:
    op.drop_index("ix_games_model_version", table_name="games")
    op.drop_table("promotion_events")
