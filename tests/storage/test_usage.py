"""Usage per model for the Home tab, on real SQLite and PostgreSQL."""

from __future__ import annotations

import time

from bot.chat.in_chat import AnswerStatus
from bot.chat.routing import ChatKey
from storage.answers import AnswerStore, FinishedAnswer
from storage.conversations import ConversationStore
from storage.database import connect
from storage.rows import MessageClaim
from storage.usage import ModelUsage, UsageStore

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
