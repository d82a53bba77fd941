"""claimed messages by when they were claimed: the old ones with no round are forgotten

A message deleted in a channel the bot is in is claimed (so a late event never answers it),
whoever wrote it; after a day, Slack sends nothing more about it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_claimed_messages_claimed_at", "claimed_messages", ["claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_claimed_messages_claimed_at", table_name="claimed_messages")
