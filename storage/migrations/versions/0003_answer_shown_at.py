"""answers.shown_at: a final edit still owed to Slack is retried until it lands

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shown_at", sa.Float(), nullable=True))
    # Answers settled before this revision were shown by the code of their time.
    op.execute(
        "UPDATE answers SET shown_at = finished_at WHERE status NOT IN ('pending', 'streaming')"
    )


def downgrade() -> None:
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_column("shown_at")
