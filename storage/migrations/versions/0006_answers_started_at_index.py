"""answers.started_at index: the Home tab's usage of the last 30 days reads a range of it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_answers_started_at", "answers", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_answers_started_at", table_name="answers")
