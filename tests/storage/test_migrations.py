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
    _upgrade_to(session, "0001")
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


def _upgrade_to(session: Session, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = session.connection()
    command.upgrade(config, revision)


def _round_answered(session: Session, round_id: int, statuses: str, in_chat_position: int) -> None:
    """A round of chat 1 answered by one model per status ("d" done, "f" failed), its In Chat
    answer stored as the code before 6b579b9 stored it (or a person's pick)."""
    session.execute(
        text(
            "INSERT INTO rounds (id, chat_id, channel_id, message_ts, user_id, author_name, "
            "text, deleted, created_at) VALUES (:id, 1, 'C1', :ts, 'U1', 'Ann', 'q', false, 1.0)"
        ),
        {"id": round_id, "ts": f"1700000000.{round_id:06d}"},
    )
    for position, status in enumerate(statuses):
        session.execute(
            text(
                "INSERT INTO answers (id, round_id, position, model, channel_id, slack_ts, "
                "continuation_ts, text, status, deleted, started_at, owner, heartbeat_at) VALUES "
                "(:id, :round, :position, 'openai:a', 'C1', :ts, '[]', :text, :status, false, "
                "1.0, 'r', 1.0)"
            ),
            {
                "id": 10 * round_id + position,
                "round": round_id,
                "position": position,
                "ts": f"1700000001.{10 * round_id + position:06d}",
                "text": "a" if status == "d" else "",
                "status": "done" if status == "d" else "failed",
            },
        )
    session.execute(
        text("UPDATE rounds SET in_chat_answer_id = :answer WHERE id = :id"),
        {"answer": 10 * round_id + in_chat_position, "id": round_id},
    )


def _stored_in_chat_answers(session: Session) -> list[object]:
    return list(session.scalars(text("SELECT in_chat_answer_id FROM rounds ORDER BY id")))


async def test_an_in_chat_answer_the_old_code_stored_for_the_default_rule_is_left_to_it(
    database_url,
):
    """Before 6b579b9 every settled round stored its In Chat answer; since, only a person's
    pick is stored. The old defaults are cleared (a regenerated first answer can be In Chat
    again), a person's other pick is kept."""

    def old_rounds(session: Session) -> None:
        _upgrade_to(session, "0001")
        session.execute(text(_A_CHAT_WITH_A_THREAD[0]))
        _round_answered(session, 1, "ddd", in_chat_position=0)  # the first model's
        _round_answered(session, 2, "fdd", in_chat_position=1)  # the first model failed
        _round_answered(session, 3, "ddd", in_chat_position=2)  # a person's pushpin

    database = database_at(database_url)
    await database.run(old_rounds)
    await migrate(database)
    stored = await database.run(_stored_in_chat_answers)
    await database.close()
    assert stored == [None, None, 32]


async def test_a_pick_marked_in_chat_is_a_persons_and_stays(database_url):
    """A pick of the default rule's answer, made while it was written (the mark shows it),
    is kept: it holds should an earlier answer of its round be regenerated with success."""

    def picked_round(session: Session) -> None:
        _upgrade_to(session, "0017")
        session.execute(text(_A_CHAT_WITH_A_THREAD[0]))
        _round_answered(session, 1, "fdd", in_chat_position=1)
        session.execute(text("UPDATE answers SET marked_in_chat = true WHERE id = 11"))

    database = database_at(database_url)
    await database.run(picked_round)
    await migrate(database)
    stored = await database.run(_stored_in_chat_answers)
    await database.close()
    assert stored == [11]
