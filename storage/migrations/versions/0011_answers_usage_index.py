"""answers' usage index: the Home tab's last 30 days are read from an index alone

`ix_answers_started_at` found the answers of the period, then each answer's row (its text
included) was read for its model, status, tokens and times: on every opening of the Home tab,
a read proportional to all that was answered in 30 days. The new index holds those columns.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USAGE_COLUMNS = ["started_at", "model", "status", "input_tokens", "output_tokens", "finished_at"]


def upgrade() -> None:
    op.create_index("ix_answers_usage", "answers", USAGE_COLUMNS)
    op.drop_index("ix_answers_started_at", table_name="answers")


def downgrade() -> None:
    op.create_index("ix_answers_started_at", "answers", ["started_at"])
    op.drop_index("ix_answers_usage", table_name="answers")
