"""The Alembic migrations build exactly the schema the code uses, and upgrade kept data."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from storage.database import MIGRATIONS_DIR, create_engine, migrate
from storage.tables import Base


def _upgrade_to(revision: str):
    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return run


async def test_the_migrated_schema_matches_the_tables(database_url):
    engine = create_engine(database_url)
    await migrate(engine)
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    await engine.dispose()
    assert differences == []


async def test_an_older_database_is_upgraded_at_start_up_keeping_its_data(database_url):
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_to("0001"))
        await connection.execute(
            text(
                "INSERT INTO chats (team_id, channel_id, thread_ts, generation, created_at) "
                "VALUES ('T1', 'C1', '', 0, 1.0)"
            )
        )
    await migrate(engine)
    async with engine.connect() as connection:
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        chats = await connection.scalar(text("SELECT count(*) FROM chats"))
        channel_rows = [
            await connection.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("channel_models", "channel_prompts")
        ]
    await engine.dispose()
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert (version, chats, channel_rows) == (head, 1, [0, 0])
    assert head is not None and int(head) >= 4
