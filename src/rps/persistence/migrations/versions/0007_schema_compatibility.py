"""Which code may serve this schema: the record an older release reads during a rolling upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

One row (``schema_revision``, ``oldest_code_revision``), rewritten by every `rps migrate`
(``rps.persistence.schema_check``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rps.persistence.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
# A new table nothing older reads: code of 0006 serves this schema unchanged.
additive = True


def upgrade() -> None:
    op.create_table(
        "schema_compatibility",
        sa.Column("schema_revision", sa.String(32), primary_key=True),
        sa.Column("oldest_code_revision", sa.String(32), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schema_compatibility")
