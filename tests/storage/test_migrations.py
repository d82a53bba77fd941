"""The Alembic migrations build exactly the schema the code uses, and upgrade kept data."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.orm import Session

from storage.database import MIGRATIONS_DIR, connect, database_at, migrate
from storage.tables import Base


def _differences_from_the_tables(session: Session) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(session.connection()), Base.metadata))


# A chat with a round, its (long) answer, the reply thread under it and that thread's turn and
# reply, as the first schema holds them: each upgrade has rows that refer to each other.
_A_CHAT_WITH_A_THREAD = (
    "INSERT INTO chats (id, team_id, channel_id, thread_ts, generation, created_at) "
    "VALUES (1, 'T1', 'C1', '', 0, 1.0)",
    "INSERT INTO rounds (id, chat_id, channel_id, message_ts, user_id, author_name, text, "
    "deleted, created_at) VALUES (1, 1, 'C1', '1700000000.000100', 'U1', 'Ann', 'q', false, 1.0)",
    "INSERT INTO answers (id, round_id, position, model, channel_id, slack_ts, "
    "continuation_ts, text, status, deleted, started_at, owner, heartbeat_at) VALUES "
    "(1, 1, 0, 'openai:a', 'C1', '1700000000.000200', '[\"1700000000.000250\"]', 'a', 'done', "
    "false, 1.0, 'r', 1.0)",
    "INSERT INTO reply_threads (id, answer_id, current_model, snapshot, created_at) "
    "VALUES (1, 1, 'openai:a', '[]', 1.0)",
    "INSERT INTO thread_turns (id, reply_thread_id, channel_id, message_ts, user_id, "
    "author_name, text, deleted, created_at) "
    "VALUES (1, 1, 'C1', '1700000000.000300', 'U1', 'Ann', 't', false, 1.0)",
    "INSERT INTO answers (id, thread_turn_id, position, model, channel_id, post_thread_ts, "
    "slack_ts, continuation_ts, text, status, deleted, started_at, owner, heartbeat_at) VALUES "
    "(2, 1, 0, 'openai:a', 'C1', '1700000000.000200', '1700000000.000400', '[]', 'b', 'done', "
    "false, 1.0, 'r', 1.0)",
)


def _upgrade_to_0001_with_a_thread(session: Session) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = session.connection()
    command.upgrade(config, "0001")
    for statement in _A_CHAT_WITH_A_THREAD:
        session.execute(text(statement))


def _version_and_counts(session: Session) -> tuple[object, ...]:
    version = session.scalar(text("SELECT version_num FROM alembic_version"))
    counts = [
        session.scalar(text(f"SELECT count(*) FROM {table}"))
        for table in (
            "chats",
            "rounds",
            "answers",
            "reply_threads",
            "thread_turns",
            "channel_models",
            "channel_prompts",
            "answer_continuations",
        )
    ]
    return version, *counts


async def test_the_migrated_schema_matches_the_tables(database_url):
    database = await connect(database_url)
    differences = await database.run(_differences_from_the_tables)
    await database.close()
    assert differences == []


async def test_an_older_database_is_upgraded_at_start_up_keeping_its_data(database_url):
    database = database_at(database_url)
    await database.run(_upgrade_to_0001_with_a_thread)
    await migrate(database)
    version, *counts = await database.run(_version_and_counts)
    await database.close()
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert (version, counts) == (head, [1, 1, 2, 1, 1, 0, 0, 1])
    assert head is not None and int(head) >= 4
