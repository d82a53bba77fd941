"""early_edits: an edit handled before the message it edits was recorded, kept for it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "early_edits",
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("message_ts", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel_id", "message_ts"),
    )
    op.create_index("ix_early_edits_received_at", "early_edits", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_early_edits_received_at", table_name="early_edits")
    op.drop_table("early_edits")
