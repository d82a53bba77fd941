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


def _upgrade_to_0001_with_a_chat(session: Session) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = session.connection()
    command.upgrade(config, "0001")
    session.execute(
        text(
            "INSERT INTO chats (team_id, channel_id, thread_ts, generation, created_at) "
            "VALUES ('T1', 'C1', '', 0, 1.0)"
        )
    )


def _version_and_counts(session: Session) -> tuple[object, ...]:
    version = session.scalar(text("SELECT version_num FROM alembic_version"))
    counts = [
        session.scalar(text(f"SELECT count(*) FROM {table}"))
        for table in ("chats", "channel_models", "channel_prompts")
    ]
    return version, *counts


async def test_the_migrated_schema_matches_the_tables(database_url):
    database = await connect(database_url)
    differences = await database.run(_differences_from_the_tables)
    await database.close()
    assert differences == []


async def test_an_older_database_is_upgraded_at_start_up_keeping_its_data(database_url):
    database = database_at(database_url)
    await database.run(_upgrade_to_0001_with_a_chat)
    await migrate(database)
    version, chats, *channel_rows = await database.run(_version_and_counts)
    await database.close()
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert (version, chats, channel_rows) == (head, 1, [0, 0])
    assert head is not None and int(head) >= 4
