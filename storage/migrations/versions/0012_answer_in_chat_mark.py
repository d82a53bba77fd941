"""answers.marked_in_chat: whether an answer's message shows the In Chat mark

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not in batch mode: on SQLite that rebuilds `answers`, and dropping the old table fails
    # the foreign keys of the reply threads that hang under its answers.
    op.add_column(
        "answers",
        sa.Column("marked_in_chat", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_column("marked_in_chat")
