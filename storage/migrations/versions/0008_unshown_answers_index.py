"""answers whose final edit Slack has not shown yet: a partial index for the sweeper

Every replica looks for them every few seconds; they are few, the answers many.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSHOWN = sa.text("shown_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_answers_unshown", "answers", ["id"], sqlite_where=UNSHOWN, postgresql_where=UNSHOWN
    )


def downgrade() -> None:
    op.drop_index("ix_answers_unshown", table_name="answers")
