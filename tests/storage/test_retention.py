"""Forgetting old messages on real SQLite and PostgreSQL: their text and their answers' text
are erased everywhere they were kept; newer ones and the usage figures stay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.chat.in_chat import InChatChoice
from storage.conversations import ConversationStore
from storage.database import connect
from storage.regeneration import RegenerationRefused, RegenerationStore
from storage.retention import RetentionStore
from storage.rows import MessageClaim
from storage.tables import Answer, EarlyEdit, ReplyThread, Round, ThreadTurn
from storage.usage import UsageStore
from tests.storage.test_conversation_store import (
    MODELS,
    Stores,
    claim,
    start_turn,
    stores_over,
)


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[Stores, RetentionStore]]:
    database = await connect(database_url)
    yield stores_over(database), RetentionStore(database, batch=2)
    await database.close()


async def everything_kept(stores: Stores) -> str:
    """Every text the database holds for rounds, turns, answers and snapshots."""
    database = stores.conversations._database

    def read(session) -> str:
        texts = [
            *session.scalars(select(Round.text)),
            *session.scalars(select(ThreadTurn.text)),
            *session.scalars(select(Answer.text)),
            *(repr(snapshot) for snapshot in session.scalars(select(ReplyThread.snapshot))),
            *session.scalars(select(EarlyEdit.text)),
        ]
        return "\n".join(texts)

    return await database.run(read)


async def test_messages_said_before_the_cutoff_are_erased_with_their_answers(stores):
    stores, retention = stores
    await stores.round("1.0", "old secret one")
    second = await stores.round("2.0", "old secret two")
    await stores.round("3.0", "old secret three")
    parent = await stores.conversations.parent_answer("C1", f"2.0{second.answers[0].answer_id}")
    await start_turn(stores, parent, "2.1", "old thread secret")
    # An edit kept for a message that never came.
    await stores.conversations.revise_message(MessageClaim("T1", "C1", "2.5"), "old edit secret")
    cutoff = time.time()
    await asyncio.sleep(0.01)
    await stores.round("4.0", "new question")
    turn = await start_turn(stores, parent, "2.2", "new thread question")
    later = await start_turn(stores, parent, "2.3", "a later thread question")
    usage_before = await UsageStore(stores.conversations._database).by_model(since=0)

    assert await retention.forget_said_before(cutoff) == 4  # three rounds, one turn
    kept = await everything_kept(stores)
    assert "secret" not in kept
    assert "new question" in kept and "new thread question" in kept

    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=later.turn_id, limit=10
    )
    assert history.snapshot == ()
    assert history.anchor_answer == ""
    assert [t.text for t in history.turns] == ["new thread question"]
    assert await UsageStore(stores.conversations._database).by_model(since=0) == usage_before
    latest = await stores.round("5.0", "newest")
    records = await stores.conversations.round_records(
        latest.chat_id, before_round_id=latest.round_id, limit=10
    )
    assert [r.text for r in records] == ["new question"]
    assert await retention.forget_said_before(cutoff) == 0


async def forget_all_then_delete_a_new_question(stores, retention, *, forgotten: int):
    """Forgetting erases the `forgotten` messages said so far; then a person deletes a new
    question ("2.0"), returned: both read deleted, only one was forgotten."""
    cutoff = time.time()
    await asyncio.sleep(0.01)
    deleted = await stores.round("2.0", "a question deleted")
    assert await retention.forget_said_before(cutoff) == forgotten
    await stores.conversations.forget_message(claim("2.0"))
    await asyncio.sleep(0.01)
    return deleted


async def test_regenerating_an_answer_to_a_forgotten_message_says_so_not_that_it_was_deleted(
    stores,
):
    stores, retention = stores
    database = stores.conversations._database
    asked = await stores.round("1.0", "old question")
    parent = await stores.conversations.parent_answer("C1", f"1.0{asked.answers[0].answer_id}")
    turn = await start_turn(stores, parent, "1.1", "old thread question")
    await stores.answers.posted(turn.answer.answer_id, "reply")
    await stores.answers.shown(turn.answer.answer_id)
    deleted = await forget_all_then_delete_a_new_question(stores, retention, forgotten=2)

    forgetting = RegenerationStore(database, forget_after_seconds=0.005)
    keeping = RegenerationStore(database)

    async def refused(store: RegenerationStore, slack_ts: str) -> object:
        return await store.restart("C1", slack_ts, owner="b", answerable=MODELS.__contains__)

    forgotten = RegenerationRefused.QUESTION_FORGOTTEN
    assert await refused(forgetting, parent.slack_ts) is forgotten
    assert await refused(forgetting, "reply") is forgotten
    deleted_ts = f"2.0{deleted.answers[0].answer_id}"
    assert await refused(forgetting, deleted_ts) is RegenerationRefused.QUESTION_GONE
    # Where nothing is forgotten, a message without its text was deleted by a person.
    assert await refused(keeping, parent.slack_ts) is RegenerationRefused.QUESTION_GONE
    assert "older than" not in RegenerationRefused.QUESTION_GONE.value


async def test_pinning_an_answer_to_a_forgotten_message_says_so_not_that_it_was_deleted(stores):
    stores, retention = stores
    database = stores.conversations._database
    forgotten = await stores.round("1.0", "old question")
    deleted = await forget_all_then_delete_a_new_question(stores, retention, forgotten=1)

    async def pinned(store: ConversationStore, slack_ts: str) -> InChatChoice:
        parent = await store.parent_answer("C1", slack_ts)
        assert parent is not None
        choice, _ = await store.choose_in_chat(parent)
        return choice

    forgetting = ConversationStore(database, forget_after_seconds=0.005)
    forgotten_ts = f"1.0{forgotten.answers[1].answer_id}"
    assert await pinned(forgetting, forgotten_ts) is InChatChoice.QUESTION_FORGOTTEN
    deleted_ts = f"2.0{deleted.answers[1].answer_id}"
    assert await pinned(forgetting, deleted_ts) is InChatChoice.QUESTION_DELETED
    # Where nothing is forgotten, a message without its text was deleted by a person.
    keeping = ConversationStore(database)
    assert await pinned(keeping, forgotten_ts) is InChatChoice.QUESTION_DELETED
