"""Usage per model for the Home tab, on real SQLite and PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session

from bot.chat.in_chat import AnswerStatus
from bot.chat.routing import ChatKey
from storage.answers import AnswerStore, FinishedAnswer
from storage.conversations import ConversationStore
from storage.database import connect
from storage.regeneration import Regeneration, RegenerationStore
from storage.rows import MessageClaim
from storage.usage import _BY_MODEL, ModelUsage, UsageStore

CLAUDE, GPT = "anthropic:claude-sonnet-4-5", "openai:gpt-5.1"


async def test_usage_counts_settled_answers_per_model_with_failures_tokens_and_time(
    database_url,
):
    database = await connect(database_url)
    conversations, answers = (
        ConversationStore(database),
        AnswerStore(database, replica_id="replica-a"),
    )

    async def round_(ts: str, *outcomes: FinishedAnswer | None) -> None:
        started = await conversations.start_round(
            MessageClaim("T1", "C1", ts),
            ChatKey("T1", "C1"),
            user_id="U1",
            author="Alice",
            text="hello",
            models=lambda _channel_models: [CLAUDE, GPT],
            post_thread_ts=None,
            owner="replica-a",
            history_limit=10,
        )
        assert started is not None
        for answer, outcome in zip(started.answers, outcomes, strict=True):
            if outcome is not None:  # None: still streaming
                await answers.finish(answer.answer_id, outcome)

    since = database.now()
    await round_(
        "1.0",
        FinishedAnswer(AnswerStatus.DONE, "a", input_tokens=100, output_tokens=20),
        FinishedAnswer(AnswerStatus.FAILED, "", error="Timed out."),
    )
    await round_(
        "2.0",
        FinishedAnswer(AnswerStatus.DONE, "b", input_tokens=150, output_tokens=30),
        None,
    )
    usage = await UsageStore(database).by_model(since=since)
    later = await UsageStore(database).by_model(since=time.time() + 60)
    await database.close()

    claude, gpt = usage
    assert (claude.model, claude.answers, claude.failed) == (CLAUDE, 2, 0)
    assert (claude.input_tokens, claude.output_tokens) == (250, 50)
    assert claude.average_seconds is not None and 0 <= claude.average_seconds < 60
    assert gpt == ModelUsage(GPT, 1, 1, 0, 0, None)
    assert later == []


async def test_tokens_an_answer_spent_before_it_was_regenerated_stay_counted(database_url):
    database = await connect(database_url)
    conversations = ConversationStore(database)
    answers = AnswerStore(database, replica_id="replica-a")
    since = database.now()
    started = await conversations.start_round(
        MessageClaim("T1", "C1", "1.0"),
        ChatKey("T1", "C1"),
        user_id="U1",
        author="Alice",
        text="hello",
        models=lambda _channel_models: [CLAUDE],
        post_thread_ts=None,
        owner="replica-a",
        history_limit=10,
    )
    assert started is not None
    answer_id = started.answers[0].answer_id

    async def answered(input_tokens: int, output_tokens: int) -> None:
        await answers.posted(answer_id, "1.5")
        await answers.finish(
            answer_id,
            FinishedAnswer(
                AnswerStatus.DONE, "a", input_tokens=input_tokens, output_tokens=output_tokens
            ),
        )
        await answers.shown(answer_id)

    async def regenerated() -> None:
        regeneration = await RegenerationStore(database).restart(
            "C1", "1.5", owner="replica-a", answerable=lambda _model: True
        )
        assert isinstance(regeneration, Regeneration)

    await answered(100, 20)
    await regenerated()
    regenerating = await UsageStore(database).by_model(since=since)
    await answered(120, 25)
    await regenerated()
    await answered(130, 30)
    usage = await UsageStore(database).by_model(since=since)
    await database.close()

    assert regenerating == [ModelUsage(CLAUDE, 0, 0, 100, 20, None)]
    [claude] = usage
    assert (claude.answers, claude.failed) == (1, 0)
    assert (claude.input_tokens, claude.output_tokens) == (350, 75)


DAY = 86_400.0
YEAR_OF_ANSWERS = 3_650  # ten a day, each with the text an answer has


def _a_year_of_answers(session: Session) -> None:
    now = time.time()
    started = [now - 365 * DAY * i / YEAR_OF_ANSWERS for i in range(YEAR_OF_ANSWERS)]
    session.execute(
        text(
            "INSERT INTO answers (id, position, model, channel_id, text, status, deleted, "
            "started_at, finished_at, input_tokens, output_tokens, owner, heartbeat_at, "
            "continuation_ts) VALUES (:id, 0, :model, 'C1', :text, 'done', false, :t, :t, 10, "
            "20, 'r1', :t, '[]')"
        ),
        [
            {"id": i, "model": (CLAUDE, GPT)[i % 2], "text": "words " * 800, "t": t}
            for i, t in enumerate(started, start=1)
        ],
    )


async def _vacuumed(database_url: str) -> None:
    """What autovacuum does after such growth: on PostgreSQL, statistics, and the visibility
    map that lets a query trust an index without visiting the table."""
    if database_url.startswith("postgresql"):
        engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text("VACUUM ANALYZE answers"))
        await engine.dispose()


def _usage_plan(session: Session, since: float) -> list[str]:
    connection = session.connection()
    compiled = _BY_MODEL.params(since=since).compile(
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    statement = str(compiled)
    explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
    return [str(row[-1]) for row in connection.exec_driver_sql(explain + statement)]


async def test_the_usage_of_30_days_is_read_from_an_index_alone(database_url):
    """Every opening of the Home tab reads the last 30 days' answers: from an index that holds
    all it needs, never the answers' rows (their text makes them large)."""
    database = await connect(database_url)
    await database.run(_a_year_of_answers)
    await _vacuumed(database_url)
    plan = await database.run(_usage_plan, time.time() - 30 * DAY)
    await database.close()

    index_alone = ("COVERING INDEX ix_answers_usage", "Index Only Scan using ix_answers_usage")
    assert any(way in line for line in plan for way in index_alone), "\n".join(plan)
