"""Games and rounds.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rps.persistence.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
# The first schema: no older code serves it.
additive = False


def upgrade() -> None:
    op.create_table(
        "games",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("player_name", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("model_type", sa.String(32)),
        sa.Column("bot_model_alias", sa.String(16)),
        sa.Column("model_version", sa.String(32)),
        sa.Column("difficulty_mode", sa.String(16), nullable=False, server_default="normal"),
        sa.Column("is_test", sa.Boolean, nullable=False, server_default=sa.text("'0'")),
        sa.Column("opening_name", sa.String(32)),
        sa.Column("opening_seq", sa.String(64)),
        sa.Column("user_score", sa.Float, nullable=False, server_default="0"),
        sa.Column("bot_score", sa.Float, nullable=False, server_default="0"),
        sa.Column("winner", sa.String(8)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("source", sa.String(16), nullable=False, server_default="human"),
        sa.Column("rounds_played", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_games_created_at", "games", ["created_at"])
    op.create_index("ix_games_session_id", "games", ["session_id"])
    op.create_index("ix_games_player_name", "games", ["player_name"])
    op.create_index("ix_games_policy", "games", ["policy"])
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "game_id",
            sa.String(64),
            sa.ForeignKey("games.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("step_no", sa.Integer, nullable=False),
        sa.Column("user_move", sa.String(8), nullable=False),
        sa.Column("bot_move", sa.String(8), nullable=False),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("user_delta", sa.Float, nullable=False),
        sa.Column("bot_delta", sa.Float, nullable=False),
        sa.Column("user_score", sa.Float, nullable=False),
        sa.Column("bot_score", sa.Float, nullable=False),
        sa.Column("rock_pts", sa.Float, nullable=False),
        sa.Column("paper_pts", sa.Float, nullable=False),
        sa.Column("scissors_pts", sa.Float, nullable=False),
        sa.Column("decision_source", sa.String(16), nullable=False),
        sa.Column("model_alias", sa.String(16)),
        sa.Column("model_version", sa.String(32)),
        sa.Column("model_run_id", sa.String(64)),
        sa.Column("fallback_reason", sa.String(64)),
        sa.Column("probabilities", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("game_id", "step_no", name="uq_rounds_game_step"),
    )


def downgrade() -> None:
    op.drop_table("rounds")
    op.drop_table("games")
