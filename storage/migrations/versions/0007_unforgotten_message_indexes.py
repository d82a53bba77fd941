"""rounds and thread turns whose text is kept: partial indexes for forgetting old messages

CHORUS_FORGET_AFTER_DAYS reads the oldest of them, never the ones forgotten already.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFORGOTTEN = sa.text("text != ''")
INDEXES = {"ix_rounds_unforgotten": "rounds", "ix_thread_turns_unforgotten": "thread_turns"}


def upgrade() -> None:
    for name, table in INDEXES.items():
        op.create_index(
            name, table, ["created_at"], sqlite_where=UNFORGOTTEN, postgresql_where=UNFORGOTTEN
        )


def downgrade() -> None:
    for name, table in INDEXES.items():
        op.drop_index(name, table_name=table)
