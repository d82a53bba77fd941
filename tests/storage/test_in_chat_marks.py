"""Which answers' messages show the In Chat mark, on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.chat.in_chat import AnswerStatus, InChatChoice
from storage.answers import FinishedAnswer
from storage.database import connect
from storage.regeneration import Regeneration
from tests.storage.test_conversation_store import Stores, claim, restart, start, stores_over

DONE = FinishedAnswer(AnswerStatus.DONE, "an answer")
FAILED = FinishedAnswer(AnswerStatus.FAILED, "", "HTTP 500")


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Stores]:
    database = await connect(database_url)
    yield stores_over(database)
    await database.close()


async def end(stores: Stores, answer_id: int, outcome: FinishedAnswer):
    """An answer posted, finished and shown: whether it was In Chat when it finished, and the
    marks its showing owes."""
    await stores.answers.posted(answer_id, f"1.0{answer_id}")
    ended = await stores.answers.finish(answer_id, outcome)
    assert ended is not None
    return ended.in_chat, await stores.answers.shown(answer_id)


async def test_the_first_models_finished_answer_is_marked_as_it_finishes(stores):
    claude, gpt = (await start(stores, claim("1.0"))).answers
    assert await end(stores, gpt.answer_id, DONE) == (False, [])  # Claude may still answer
    assert await end(stores, claude.answer_id, DONE) == (True, [])


async def test_a_failed_first_answer_owes_the_mark_to_the_answer_that_succeeded(stores):
    claude, gpt = (await start(stores, claim("1.0"))).answers
    assert await end(stores, gpt.answer_id, DONE) == (False, [])
    in_chat, owed = await end(stores, claude.answer_id, FAILED)
    assert not in_chat
    assert [(answer.answer_id, answer.in_chat, answer.text) for answer in owed] == [
        (gpt.answer_id, True, "an answer")
    ]
    assert owed[0].slack_ts == f"1.0{gpt.answer_id}"
    assert await stores.answers.current_marks([gpt.answer_id]) == {gpt.answer_id: owed[0]}


async def test_a_pick_moves_the_mark_and_undoing_it_moves_it_back(stores):
    claude, gpt = (await start(stores, claim("1.0"))).answers
    await end(stores, claude.answer_id, DONE)
    await end(stores, gpt.answer_id, DONE)
    parent = await stores.conversations.parent_answer("C1", f"1.0{gpt.answer_id}")
    assert parent is not None

    choice, owed = await stores.conversations.choose_in_chat(parent)
    assert choice is InChatChoice.CHOSEN
    assert [(answer.answer_id, answer.in_chat) for answer in owed] == [
        (claude.answer_id, False),
        (gpt.answer_id, True),
    ]
    choice, owed = await stores.conversations.choose_in_chat(parent)
    assert (choice, owed) == (InChatChoice.ALREADY, [])

    unpinned, owed = await stores.conversations.unpin_in_chat(parent, pinned_by_someone_else=False)
    assert unpinned is not None
    assert [(answer.answer_id, answer.in_chat) for answer in owed] == [
        (claude.answer_id, True),
        (gpt.answer_id, False),
    ]


async def test_a_regenerated_answer_starts_unmarked_and_the_mark_waits_for_it(stores):
    claude, gpt = (await start(stores, claim("1.0"))).answers
    await end(stores, claude.answer_id, DONE)
    await end(stores, gpt.answer_id, DONE)
    assert isinstance(await restart(stores, f"1.0{claude.answer_id}"), Regeneration)
    # Claude's answer streams again (so is left out); GPT's is no more marked than before.
    marks = await stores.answers.current_marks([claude.answer_id, gpt.answer_id])
    assert {answer_id: answer.in_chat for answer_id, answer in marks.items()} == {
        gpt.answer_id: False
    }
    replica_b = stores.replica("replica-b")
    ended = await replica_b.finish(claude.answer_id, FAILED)
    assert ended is not None and not ended.in_chat
    owed = await replica_b.shown(claude.answer_id)
    assert [(answer.answer_id, answer.in_chat) for answer in owed] == [(gpt.answer_id, True)]


async def test_answers_shown_at_once_leave_one_mark_between_them(stores):
    """Replicas showing a round's answers at the same moment decide the marks one after the
    other: whichever order, the one answer that succeeded ends up marked."""
    for number in range(5):
        ts = f"{number + 1}.0"
        claude, gpt = (await start(stores, claim(ts))).answers
        for answer in (claude, gpt):
            await stores.answers.posted(answer.answer_id, f"{ts}{answer.answer_id}")
        await stores.answers.finish(gpt.answer_id, DONE)  # unmarked: Claude may answer
        await stores.answers.finish(claude.answer_id, FAILED)
        owed = await asyncio.gather(
            stores.answers.shown(claude.answer_id), stores.answers.shown(gpt.answer_id)
        )
        marked = [(answer.answer_id, answer.in_chat) for answers in owed for answer in answers]
        assert marked == [(gpt.answer_id, True)]
