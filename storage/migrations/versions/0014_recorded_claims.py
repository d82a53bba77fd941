"""claimed_messages.recorded: whether a claimed message has its round or thread turn

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRECORDED = sa.text("NOT recorded")


def upgrade() -> None:
    # Claims made before this revision read unrecorded: the sweep marks them, a batch at a
    # time, rather than this migration updating every claim at start-up.
    op.add_column(
        "claimed_messages",
        sa.Column("recorded", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.drop_index("ix_claimed_messages_claimed_at", table_name="claimed_messages")
    op.create_index(
        "ix_claimed_messages_unrecorded",
        "claimed_messages",
        ["claimed_at"],
        sqlite_where=UNRECORDED,
        postgresql_where=UNRECORDED,
    )


def downgrade() -> None:
    op.drop_index("ix_claimed_messages_unrecorded", table_name="claimed_messages")
    op.create_index("ix_claimed_messages_claimed_at", "claimed_messages", ["claimed_at"])
    with op.batch_alter_table("claimed_messages", schema=None) as batch_op:
        batch_op.drop_column("recorded")
