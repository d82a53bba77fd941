"""rounds and thread turns indexed in the order their messages were said in Slack

A chat's history is read in Slack's order (message timestamps), not in the order the bot
recorded the messages: one can be recorded after a message said later.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_rounds_chat_id_message_ts", "rounds", ["chat_id", "message_ts"])
    op.drop_index("ix_rounds_chat_id_id", table_name="rounds")
    op.create_index(
        "ix_thread_turns_thread_id_message_ts", "thread_turns", ["reply_thread_id", "message_ts"]
    )
    op.drop_index("ix_thread_turns_thread_id_id", table_name="thread_turns")


def downgrade() -> None:
    op.create_index("ix_thread_turns_thread_id_id", "thread_turns", ["reply_thread_id", "id"])
    op.drop_index("ix_thread_turns_thread_id_message_ts", table_name="thread_turns")
    op.create_index("ix_rounds_chat_id_id", "rounds", ["chat_id", "id"])
    op.drop_index("ix_rounds_chat_id_message_ts", table_name="rounds")
