"""The decision layer's belief per round, counterfactual margins and their scoring version, and
the offline gym strength of each version.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Additive only: older rows keep NULL in the new columns, and nothing reads them as required.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rps.persistence.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
# Nullable columns and a new table: code of 0004 serves this schema.
additive = True


def upgrade() -> None:
    op.add_column("rounds", sa.Column("belief", sa.Text))
    op.add_column("alias_predictions", sa.Column("counterfactual_margin", sa.Float))
    op.add_column("alias_predictions", sa.Column("scoring_version", sa.String(16)))
    op.create_table(
        "model_strength",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_type", sa.String(32), nullable=False),
        sa.Column("version", sa.String(32)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("evaluated_at", UTCDateTime, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("games_per_opponent", sa.Integer, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("scoring_version", sa.String(16), nullable=False),
        sa.Column("holdout_win_rate", sa.Float),
        sa.Column("training_win_rate", sa.Float),
        sa.Column("overall_win_rate", sa.Float),
        sa.Column("holdout_margin", sa.Float),
        sa.Column("layer_holdout_win_rate", sa.Float),
        sa.Column("greedy_holdout_win_rate", sa.Float),
        sa.Column("gate_passed", sa.Boolean),
        sa.Column("below_gate", sa.Boolean, nullable=False, server_default="0"),
        sa.Column("gate_reason", sa.Text),
        sa.Column("figures", sa.Text),
    )
    op.create_index(
        "ix_model_strength_version", "model_strength", ["model_type", "version", "evaluated_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_model_strength_version", table_name="model_strength")
    op.drop_table("model_strength")
    with op.batch_alter_table("alias_predictions") as batch:
        batch.drop_column("scoring_version")
        batch.drop_column("counterfactual_margin")
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("belief")
