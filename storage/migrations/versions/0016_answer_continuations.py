"""answer_continuations: the messages a long answer goes on in, each with its answer, so that
a reaction on one finds its answer by key

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The continuations answers list already, one row each.
FROM_ANSWERS = {
    "postgresql": (
        "INSERT INTO answer_continuations (channel_id, slack_ts, answer_id) "
        "SELECT a.channel_id, c.value, a.id FROM answers AS a "
        "CROSS JOIN LATERAL json_array_elements_text(a.continuation_ts) AS c(value) "
        "ON CONFLICT DO NOTHING"
    ),
    "sqlite": (
        "INSERT OR IGNORE INTO answer_continuations (channel_id, slack_ts, answer_id) "
        "SELECT a.channel_id, c.value, a.id FROM answers AS a, json_each(a.continuation_ts) AS c"
    ),
}


def upgrade() -> None:
    op.create_table(
        "answer_continuations",
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("slack_ts", sa.String(length=64), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "slack_ts"),
    )
    op.execute(FROM_ANSWERS[op.get_bind().dialect.name])


def downgrade() -> None:
    op.drop_table("answer_continuations")
