"""Alias predictions: every alias's prediction of every ML round.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rps.persistence.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
# A new table only: code of 0002 serves this schema.
additive = True


def upgrade() -> None:
    op.create_table(
        "alias_predictions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "game_id", sa.String(64), sa.ForeignKey("games.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("step_no", sa.Integer, nullable=False),
        sa.Column("model_type", sa.String(32), nullable=False),
        sa.Column("alias", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(32)),
        sa.Column("predicted_move", sa.String(8), nullable=False),
        sa.Column("probabilities", sa.Text, nullable=False),
        sa.Column("correct", sa.Boolean, nullable=False),
        sa.Column("counterfactual_result", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_alias_predictions_game_step", "alias_predictions", ["game_id", "step_no"])
    op.create_index(
        "ix_alias_predictions_version",
        "alias_predictions",
        ["model_type", "alias", "model_version"],
    )


def downgrade() -> None:
    op.drop_table("alias_predictions")
