"""handled_events.channel_id, thread_ts, message_ts: the message an event brings, so that a
message said after it waits until it is recorded

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = sa.text("finished_at IS NULL")
COLUMNS = ("channel_id", "thread_ts", "message_ts")


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("handled_events", sa.Column(column, sa.String(length=64), nullable=True))
    op.create_index(
        "ix_handled_events_unfinished_messages",
        "handled_events",
        list(COLUMNS),
        sqlite_where=UNFINISHED,
        postgresql_where=UNFINISHED,
    )


def downgrade() -> None:
    op.drop_index("ix_handled_events_unfinished_messages", table_name="handled_events")
    with op.batch_alter_table("handled_events", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.drop_column(column)
