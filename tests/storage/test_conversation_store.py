"""Storage on real SQLite and PostgreSQL: claims, history, snapshots, deletions, recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.chat.history import context_round
from bot.chat.in_chat import AnswerStatus, InChatChoice
from bot.chat.routing import ChatKey
from storage.answers import STOPPED_BY_DELETION, AnswerStore, FinishedAnswer, StopPress
from storage.channels import ChannelStore
from storage.conversations import ConversationStore, EarlierMessageUnrecorded, Revision
from storage.database import Database, connect
from storage.inbox import EventInbox
from storage.regeneration import (
    Regeneration,
    RegenerationRefused,
    RegenerationStore,
    RoundSource,
    TurnSource,
)
from storage.rounds import StartedRound
from storage.rows import MessageClaim, SaidAt
from storage.tables import ClaimedMessage

CHAT = ChatKey("T1", "C1")
MODELS = ["anthropic:claude-sonnet-4-5", "openai:gpt-5.1"]


@dataclass
class Stores:
    database: Database
    conversations: ConversationStore
    answers: AnswerStore  # as replica-a, which starts the rounds and turns, writes them
    regenerations: RegenerationStore
    channels: ChannelStore

    def replica(self, replica_id: str) -> AnswerStore:
        """The answers as another replica writes and recovers them."""
        return AnswerStore(self.database, replica_id=replica_id)

    async def round(self, ts: str, text: str, *, answers=("claude", "gpt")) -> StartedRound:
        """A round whose answers have streamed and finished with the given texts."""
        started = await self.conversations.start_round(
            MessageClaim("T1", "C1", ts),
            CHAT,
            user_id="U1",
            author="Alice",
            text=text,
            models=lambda _channel_models: MODELS,
            post_thread_ts=None,
            owner="replica-a",
            history_limit=50,
        )
        assert started is not None
        for answer, answer_text in zip(started.answers, answers, strict=True):
            await self.answers.posted(answer.answer_id, f"{ts}{answer.answer_id}")
            await self.answers.finish(
                answer.answer_id, FinishedAnswer(AnswerStatus.DONE, f"{answer_text}: {text}")
            )
            await self.answers.shown(answer.answer_id)
        return started


def stores_over(database: Database) -> Stores:
    return Stores(
        database,
        ConversationStore(database),
        AnswerStore(database, replica_id="replica-a"),
        RegenerationStore(database),
        ChannelStore(database),
    )


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Stores]:
    database = await connect(database_url)
    yield stores_over(database)
    await database.close()


def claim(ts: str) -> MessageClaim:
    return MessageClaim("T1", "C1", ts)


async def start(
    stores: Stores, message_claim: MessageClaim, after: SaidAt | None = None
) -> StartedRound | None:
    return await stores.conversations.start_round(
        message_claim,
        CHAT,
        user_id="U1",
        author="Alice",
        text="hi",
        models=lambda _channel_models: MODELS,
        post_thread_ts=None,
        owner="replica-a",
        history_limit=50,
        after=after,
    )


async def test_the_mention_and_message_events_of_one_message_make_one_round(stores):
    assert await start(stores, claim("1.0")) is not None
    assert await start(stores, claim("1.0")) is None


async def test_a_new_round_comes_with_the_chat_history_before_it(stores):
    await stores.round("1.0", "first")
    await stores.round("2.0", "second")

    started = await start(stores, claim("3.0"))

    assert started is not None
    assert [record.text for record in started.history] == ["first", "second"]
    assert list(started.history) == await stores.conversations.round_records(
        started.chat_id, before_round_id=started.round_id, limit=50
    )


async def test_concurrent_deliveries_of_one_message_make_exactly_one_round(stores):
    results = await asyncio.gather(*(start(stores, claim("5.0")) for _ in range(8)))
    assert sum(result is not None for result in results) == 1


async def test_rounds_come_back_oldest_first_with_in_chat_answer(stores):
    await stores.round("1.0", "first")
    await stores.round("2.0", "second")
    third = await stores.round("3.0", "third")
    records = await stores.conversations.round_records(
        third.chat_id, before_round_id=third.round_id, limit=10
    )
    assert [r.round_id for r in records] == sorted(r.round_id for r in records)
    assert [(c.user, c.in_chat_answer) for c in map(context_round, records)] == [
        ("Alice: first", "claude: first"),
        ("Alice: second", "claude: second"),
    ]


async def test_history_is_bounded_to_the_latest_rounds(stores):
    for i in range(1, 6):
        last = await stores.round(f"{i}.0", f"q{i}")
    records = await stores.conversations.round_records(
        last.chat_id, before_round_id=last.round_id, limit=2
    )
    assert [r.text for r in records] == ["q3", "q4"]


async def start_turn(
    stores: Stores, parent, ts: str, text: str, *, switch: str | None = None, answered=True
):
    """Bob's thread turn, its reply finished at once unless `answered` is False."""
    started = await stores.conversations.start_thread_turn(
        claim(ts),
        parent,
        user_id="U2",
        author="Bob",
        text=text,
        switch_to_model=switch,
        owner="replica-a",
        history_limit=50,
    )
    assert started is not None
    if answered:
        await stores.answers.finish(
            started.answer.answer_id, FinishedAnswer(AnswerStatus.DONE, f"reply to {text}")
        )
    return started


async def test_thread_turns_never_reach_channel_context(stores):
    first = await stores.round("1.0", "first")
    parent = await stores.conversations.parent_answer("C1", f"1.0{first.answers[1].answer_id}")
    assert parent is not None and parent.model == "openai:gpt-5.1"
    await start_turn(stores, parent, "1.5", "secret thread question")
    await stores.round("2.0", "second")
    third = await stores.round("3.0", "third")
    records = await stores.conversations.round_records(
        third.chat_id, before_round_id=third.round_id, limit=10
    )
    assert [record.text for record in records] == ["first", "second"]
    everything = repr(records)
    assert "secret thread question" not in everything
    assert "reply to secret" not in everything


async def test_thread_turns_never_reach_another_thread(stores):
    first = await stores.round("1.0", "first")
    claude, gpt = [
        await stores.conversations.parent_answer("C1", f"1.0{answer.answer_id}")
        for answer in first.answers
    ]
    await start_turn(stores, claude, "1.1", "secret said under Claude's answer")
    in_gpts_thread = await start_turn(stores, gpt, "1.2", "said under GPT's answer")
    in_claudes_thread = await start_turn(stores, claude, "1.3", "and then?")

    seen_by_gpt = await stores.conversations.thread_history(
        in_gpts_thread.reply_thread_id, before_turn_id=in_gpts_thread.turn_id, limit=10
    )
    assert seen_by_gpt.turns == ()
    assert "secret" not in repr(seen_by_gpt)
    seen_by_claude = await stores.conversations.thread_history(
        in_claudes_thread.reply_thread_id, before_turn_id=in_claudes_thread.turn_id, limit=10
    )
    assert [turn.text for turn in seen_by_claude.turns] == ["secret said under Claude's answer"]
    assert "GPT" not in repr(seen_by_claude)


async def test_rounds_of_another_channel_dm_workspace_or_thread_chat_never_reach_a_chat(stores):
    elsewhere = [
        ChatKey("T1", "C2"),
        ChatKey("T1", "D1"),
        ChatKey("T2", "C9"),
        ChatKey("T1", "C1", "0.5"),  # a Slack thread in the same channel that became a chat
    ]
    for key in elsewhere:
        said_there = await stores.conversations.start_round(
            MessageClaim(key.team_id, key.channel_id, "1.0"),
            key,
            user_id="U1",
            author="Alice",
            text=f"said in {key}",
            models=lambda _channel_models: MODELS,
            post_thread_ts=key.thread_ts or None,
            owner="replica-a",
            history_limit=50,
        )
        assert said_there is not None and said_there.history == ()

    started = await start(stores, claim("2.0"))
    assert started is not None and started.history == ()


async def test_a_thread_sees_its_round_its_answer_and_earlier_rounds_but_not_later_ones(stores):
    await stores.round("1.0", "first")
    second = await stores.round("2.0", "second")
    await stores.round("3.0", "third")
    parent = await stores.conversations.parent_answer("C1", f"2.0{second.answers[1].answer_id}")
    turn_one = await start_turn(stores, parent, "2.1", "why?")
    turn_two = await start_turn(stores, parent, "2.2", "and then?", switch="anthropic:x")
    assert turn_two.answer.model == "anthropic:x"
    history = await stores.conversations.thread_history(
        turn_two.reply_thread_id, before_turn_id=turn_two.turn_id, limit=10
    )
    assert [(r.user, r.in_chat_answer) for r in history.snapshot] == [
        ("Alice: first", "claude: first")
    ]
    assert history.anchor_message == "Alice: second"
    assert history.anchor_answer == "gpt: second"
    assert [(t.author, t.text, t.reply.text) for t in history.turns] == [
        ("Bob", "why?", "reply to why?")
    ]
    assert turn_one.reply_thread_id == turn_two.reply_thread_id


async def test_the_channel_prompt_comes_with_a_new_round_and_a_thread_turn(stores):
    assert (await start(stores, claim("1.0"))).channel_prompt is None
    await stores.channels.set_prompt("C1", "Answer in French.", set_by="U1")
    second = await start(stores, claim("2.0"))
    assert second.channel_prompt == "Answer in French."
    await stores.answers.posted(second.answers[0].answer_id, "2.5")
    parent = await stores.conversations.parent_answer("C1", "2.5")
    turn = await start_turn(stores, parent, "2.6", "why?")
    await stores.channels.set_prompt("C1", "Answer in German.", set_by="U1")
    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
    )
    assert history.channel_prompt == "Answer in German."


async def test_a_thread_is_handed_to_another_model_by_a_message_claimed_once(stores):
    asked = await stores.round("1.0", "first")
    parent = await stores.conversations.parent_answer("C1", f"1.0{asked.answers[0].answer_id}")
    switch = partial(stores.conversations.switch_thread, claim("1.1"), parent, "openai:x")
    assert await switch(history_limit=50) == parent.model, "the model it had before"
    assert await switch(history_limit=50) is None, "claimed already"
    turn = await start_turn(stores, parent, "1.2", "go on")
    assert turn.answer.model == "openai:x"
    again = partial(stores.conversations.switch_thread, claim("1.3"), parent, "openai:x")
    assert await again(history_limit=50) == "openai:x"


async def test_the_thread_snapshot_is_taken_when_the_thread_starts(stores):
    await stores.round("1.0", "first")
    second = await stores.round("2.0", "second")
    parent = await stores.conversations.parent_answer("C1", f"2.0{second.answers[0].answer_id}")
    turn = await start_turn(stores, parent, "2.1", "a")
    await stores.round("3.0", "third")  # after the thread started: not in its snapshot
    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
    )
    assert [(r.user, r.in_chat_answer) for r in history.snapshot] == [
        ("Alice: first", "claude: first")
    ]
    # Round one's question is deleted later: it leaves the snapshot too.
    await stores.conversations.forget_message(claim("1.0"))
    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
    )
    assert history.snapshot == ()


async def test_an_in_chat_pick_made_after_a_thread_started_does_not_reach_its_snapshot(stores):
    first = await stores.round("1.0", "first")
    second = await stores.round("2.0", "second")
    parent = await stores.conversations.parent_answer("C1", f"2.0{second.answers[1].answer_id}")
    await start_turn(stores, parent, "2.1", "why?")
    # Round two's question is deleted: round one is the latest again, and another answer of it
    # is picked In Chat. The thread was started when Claude's was.
    await stores.conversations.forget_message(claim("2.0"))
    assert await make_in_chat(stores, "1.0", first, 1) is InChatChoice.CHOSEN

    later = await start_turn(stores, parent, "2.2", "and then?")
    assert [(r.user, r.in_chat_answer) for r in later.history.snapshot] == [
        ("Alice: first", "claude: first")
    ]


async def thread_under_a_round_after_one_still_streaming(stores):
    """Round one's answers still stream when Bob starts a thread under round two's answer.
    Round one, and Bob's turn."""
    streaming = await start(stores, claim("1.0"))
    second = await stores.round("2.0", "second")
    parent = await stores.conversations.parent_answer("C1", f"2.0{second.answers[0].answer_id}")
    turn = await start_turn(stores, parent, "2.1", "why?")
    assert not turn.history.settled
    assert [(r.user, r.in_chat_answer) for r in turn.history.snapshot] == [("Alice: hi", None)]
    return streaming, turn


@pytest.mark.parametrize(
    "late_message",
    [
        pytest.param(None, id="no-other-round"),
        # Said before the thread's round but recorded after the thread started (its event came
        # late): not in the snapshot, and no reason to lose the snapshot round read again.
        pytest.param("1.5", id="past-a-round-recorded-after-the-thread"),
    ],
)
async def test_a_snapshot_round_whose_in_chat_answer_streams_is_read_again_until_whole(
    stores, late_message
):
    """The thread waits for the In Chat answer before it (`settled`), as a round does."""
    streaming, turn = await thread_under_a_round_after_one_still_streaming(stores)
    if late_message is not None:
        await stores.round(late_message, "said before round two, recorded late")
    await stores.answers.finish(
        streaming.answers[0].answer_id, FinishedAnswer(AnswerStatus.DONE, "whole")
    )
    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
    )
    assert history.settled
    assert [(r.user, r.in_chat_answer) for r in history.snapshot] == [("Alice: hi", "whole")]


async def test_a_snapshot_round_whose_answer_settled_later_stays_as_it_was_then(stores):
    """Once read whole, the In Chat answer is the snapshot's: deleted later, the round is sent
    without one, not with another answer of it."""
    streaming, turn = await thread_under_a_round_after_one_still_streaming(stores)
    claude, gpt = (answer.answer_id for answer in streaming.answers)
    for answer_id, text in ((claude, "whole"), (gpt, "other")):
        await stores.answers.posted(answer_id, f"1.0{answer_id}")
        await stores.answers.finish(answer_id, FinishedAnswer(AnswerStatus.DONE, text))

    async def snapshot() -> list[tuple[str, str | None]]:
        history = await stores.conversations.thread_history(
            turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
        )
        return [(r.user, r.in_chat_answer) for r in history.snapshot]

    assert await snapshot() == [("Alice: hi", "whole")]
    await stores.conversations.forget_message(claim(f"1.0{claude}"))
    assert await snapshot() == [("Alice: hi", None)]


async def test_a_snapshot_round_deleted_while_its_answer_streams_is_not_waited_for(stores):
    _, turn = await thread_under_a_round_after_one_still_streaming(stores)
    await stores.conversations.forget_message(claim("1.0"))
    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
    )
    assert history.settled
    assert history.snapshot == ()


async def test_a_deleted_question_leaves_the_thread_under_its_answer(stores):
    asked = await stores.round("1.0", "secret question")
    parent = await stores.conversations.parent_answer("C1", f"1.0{asked.answers[0].answer_id}")
    turn = await start_turn(stores, parent, "1.1", "go on")
    await stores.conversations.forget_message(claim("1.0"))
    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
    )
    assert "secret question" not in history.anchor_message
    assert history.anchor_message == "Alice: (message deleted)"


async def test_deleted_answers_leave_the_thread_the_anchor_and_the_snapshot(stores):
    first = await stores.round("1.0", "first")
    second = await stores.round("2.0", "second")
    parent = await stores.conversations.parent_answer("C1", f"2.0{second.answers[1].answer_id}")
    turn = await start_turn(stores, parent, "2.1", "why?")
    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
    )
    assert [r.in_chat_answer for r in history.snapshot] == ["claude: first"]
    assert history.anchor_answer == "gpt: second"

    # Round one's In Chat answer, then the answer the thread hangs under, are deleted.
    await stores.conversations.forget_message(claim(f"1.0{first.answers[0].answer_id}"))
    await stores.conversations.forget_message(claim(parent.slack_ts))
    history = await stores.conversations.thread_history(
        turn.reply_thread_id, before_turn_id=turn.turn_id, limit=10
    )
    assert [(r.user, r.in_chat_answer) for r in history.snapshot] == [("Alice: first", None)]
    assert history.anchor_answer == ""


async def test_a_thread_under_a_stopped_answer_has_its_text_so_far_one_under_a_failed_none(
    stores,
):
    started = await start(stores, claim("1.0"))
    stopped, failed = (answer.answer_id for answer in started.answers)
    for answer_id, outcome in (
        (stopped, FinishedAnswer(AnswerStatus.STOPPED, "half an answer")),
        (failed, FinishedAnswer(AnswerStatus.FAILED, "", error="Error 500")),
    ):
        await stores.answers.posted(answer_id, f"1.0{answer_id}")
        await stores.answers.finish(answer_id, outcome)

    anchors = []
    for ts, answer_id in (("1.1", stopped), ("1.2", failed)):
        parent = await stores.conversations.parent_answer("C1", f"1.0{answer_id}")
        turn = await start_turn(stores, parent, ts, "go on")
        assert turn.history.settled
        anchors.append((turn.history.anchor_message, turn.history.anchor_answer))
    assert anchors == [("Alice: hi", "half an answer"), ("Alice: hi", "")]


async def test_deleted_messages_leave_the_context(stores):
    await stores.round("1.0", "keep me")
    await stores.round("2.0", "delete me")
    third = await stores.round("3.0", "third")
    await stores.conversations.forget_message(claim("2.0"))
    records = await stores.conversations.round_records(
        third.chat_id, before_round_id=third.round_id, limit=10
    )
    assert [r.text for r in records] == ["keep me"]


async def test_an_edited_message_reads_as_edited_and_a_deleted_one_stays_gone(stores):
    await stores.round("1.0", "typo")
    await stores.round("2.0", "delete me")
    third = await stores.round("3.0", "third")
    await stores.conversations.forget_message(claim("2.0"))

    assert await stores.conversations.revise_message(claim("1.0"), "fixed") is Revision.REVISED
    assert await stores.conversations.revise_message(claim("2.0"), "again") is Revision.NOT_ASKED
    records = await stores.conversations.round_records(
        third.chat_id, before_round_id=third.round_id, limit=10
    )
    assert [r.text for r in records] == ["fixed"]


async def test_an_edit_handled_before_its_message_is_recorded_is_kept_for_it(stores):
    assert await stores.conversations.revise_message(claim("1.0"), "typo") is Revision.KEPT
    assert await stores.conversations.revise_message(claim("1.0"), "fixed") is Revision.KEPT
    started = await stores.round("1.0", "tpyo")
    assert started.text == "fixed"
    assert await stores.conversations.round_text(started.round_id) == "fixed"
    later = await stores.round("2.0", "and then?")
    assert [r.text for r in later.history] == ["fixed"]


async def test_an_edit_kept_for_a_thread_message_is_taken_by_its_turn(stores):
    first = await stores.round("1.0", "first")
    parent = await stores.conversations.parent_answer("C1", f"1.0{first.answers[1].answer_id}")
    assert parent is not None
    assert await stores.conversations.revise_message(claim("1.5"), "why that?") is Revision.KEPT
    turn = await start_turn(stores, parent, "1.5", "why tht?")
    assert turn.text == "why that?"
    assert await stores.conversations.turn_text(turn.turn_id) == "why that?"


async def test_an_edit_made_while_its_message_is_recorded_is_never_lost(stores):
    async def edit(ts: str) -> Revision:
        return await stores.conversations.revise_message(claim(ts), f"edited {ts}")

    for n in range(20):
        ts = f"{n + 1}.0"
        started, revision = await asyncio.gather(start(stores, claim(ts)), edit(ts))
        assert started is not None
        assert await stores.conversations.round_text(started.round_id) == f"edited {ts}"
        assert revision is not Revision.NOT_ASKED
        assert (started.text == f"edited {ts}") == (revision is Revision.KEPT)


async def test_an_edit_kept_for_a_message_that_never_came_is_forgotten(stores):
    await stores.conversations.revise_message(claim("1.0"), "never recorded")
    await EventInbox(stores.database).forget_handled(before=stores.database.now() + 1)
    started = await stores.round("1.0", "as first written")
    assert started.text == "as first written"


async def test_a_continuation_of_a_long_answer_is_traced_back_to_its_answer(stores):
    first = await stores.round("1.0", "write a lot")
    long_answer = first.answers[1].answer_id
    await stores.answers.shown(long_answer, ["1.7", "1.8"])
    answer_ts = f"1.0{long_answer}"
    conversations = stores.conversations
    assert await conversations.answer_continued_at("C1", "1.8") == answer_ts
    assert await conversations.answer_continued_at("C2", "1.8") is None
    assert await conversations.answer_continued_at("C1", answer_ts) is None
    assert await conversations.answer_continued_at("C1", "1.9") is None


async def test_a_deleted_in_chat_answer_gives_way_to_the_next(stores):
    first = await stores.round("1.0", "q")
    await stores.conversations.forget_message(claim(f"1.0{first.answers[0].answer_id}"))
    second = await stores.round("2.0", "next")
    records = await stores.conversations.round_records(
        second.chat_id, before_round_id=second.round_id, limit=10
    )
    assert context_round(records[0]).in_chat_answer == "gpt: q"


async def test_interrupted_answers_are_taken_over_exactly_once_and_then_owed_to_slack(stores):
    started = await start(stores, claim("9.0"))
    await stores.answers.progress(started.answers[0].answer_id, "partial", stores.database.now())
    await asyncio.sleep(0.01)
    silent_since = stores.database.now()
    results = await asyncio.gather(
        *(
            stores.answers.take_over_interrupted(stale_before=silent_since, error="restarted")
            for _ in range(4)
        )
    )
    assert [round_id for result in results for round_id in result.rounds] == [started.round_id]
    owed = await stores.replica("replica-b").take_over_unshown(
        stale_before=stores.database.now() + 1
    )
    assert sorted(a.answer_id for a in owed) == sorted(a.answer_id for a in started.answers)
    partial = next(a for a in owed if a.answer_id == started.answers[0].answer_id)
    assert (partial.status, partial.text, partial.error) == (
        AnswerStatus.INTERRUPTED,
        "partial",
        "restarted",
    )
    await stores.replica("replica-b").shown(partial.answer_id)
    owed_now = await stores.replica("replica-b").take_over_unshown(
        stale_before=stores.database.now() + 1
    )
    assert partial.answer_id not in [a.answer_id for a in owed_now]


async def test_an_interrupted_thread_reply_is_taken_over_under_its_thread_turn(stores):
    first = await stores.round("1.0", "first")  # its answers finish at once
    parent = await stores.conversations.parent_answer("C1", f"1.0{first.answers[1].answer_id}")
    turn = await start_turn(stores, parent, "1.5", "why?", answered=False)

    taken = await stores.replica("replica-b").take_over_interrupted(
        stale_before=stores.database.now() + 1, error="restarted"
    )

    assert (taken.rounds, taken.thread_turns) == ((), (turn.turn_id,))


async def test_an_answer_streams_where_its_placeholder_was_posted(stores):
    started = await start(stores, claim("9.0"))
    claude = started.answers[0].answer_id

    assert await stores.answers.streams_at(claude, "9.0c")

    parent = await stores.conversations.parent_answer("C1", "9.0c")
    assert parent is not None and parent.answer_id == claude


async def test_an_answer_taken_over_is_no_longer_written_by_its_first_writer(stores):
    started = await start(stores, claim("9.0"))
    claude, gpt = (answer.answer_id for answer in started.answers)
    assert await stores.answers.progress(claude, "partial", stores.database.now())
    await stores.answers.take_over_interrupted(
        stale_before=stores.database.now() + 1, error="restarted"
    )

    # The first writer was alive after all (a long pause): its writes no longer land.
    assert not await stores.answers.streams_at(claude, "9.0c")
    assert not await stores.answers.progress(claude, "partial and more", stores.database.now())
    assert not await stores.answers.finish(gpt, FinishedAnswer(AnswerStatus.DONE, "late"))
    owed = await stores.replica("replica-b").take_over_unshown(
        stale_before=stores.database.now() + 1
    )
    assert {(a.answer_id, a.status, a.text) for a in owed} == {
        (claude, AnswerStatus.INTERRUPTED, "partial"),
        (gpt, AnswerStatus.INTERRUPTED, ""),
    }


async def test_an_answer_taken_over_and_regenerated_is_written_by_its_new_writer_only(stores):
    started = await start(stores, claim("9.0"))
    claude = started.answers[0].answer_id
    await stores.answers.posted(claude, "9.0c")
    assert await stores.answers.progress(claude, "partial", stores.database.now())
    other = stores.replica("replica-b")
    await other.take_over_interrupted(stale_before=stores.database.now() + 1, error="restarted")
    for owed in await other.take_over_unshown(stale_before=stores.database.now() + 1):
        await other.shown(owed.answer_id)
    assert isinstance(await restart(stores, "9.0c"), Regeneration)  # on replica-b

    # The first writer wakes from a long pause: the answer is no longer its to write.
    assert not await stores.answers.progress(claude, "partial and more", stores.database.now())
    assert not await stores.answers.finish(claude, FinishedAnswer(AnswerStatus.DONE, "stale"))
    assert await other.progress(claude, "new", stores.database.now())
    assert await other.finish(claude, FinishedAnswer(AnswerStatus.DONE, "new answer"))


async def test_a_replica_never_takes_over_an_answer_it_still_streams_however_late(stores):
    started = await start(stores, claim("9.0"))
    claude = started.answers[0].answer_id
    assert await stores.answers.progress(claude, "partial", stores.database.now())
    long_after = stores.database.now() + 600  # its event loop was held up past the heartbeats

    with stores.answers.in_hand([claude]):
        taken = await stores.answers.take_over_interrupted(stale_before=long_after, error="x")
        assert await stores.answers.progress(claude, "partial and more", stores.database.now())

    assert taken.rounds == (started.round_id,)  # for the other answer, which nobody holds
    # Another replica judges by the heartbeat alone: the writer may be dead, for all it knows.
    other = stores.replica("replica-b")
    taken = await other.take_over_interrupted(stale_before=long_after, error="x")
    assert taken.rounds == (started.round_id,)
    assert not await stores.answers.progress(claude, "too late", stores.database.now())


async def test_a_replica_never_takes_over_a_final_edit_it_is_still_making(stores):
    started = await start(stores, claim("9.0"))
    claude = started.answers[0].answer_id
    await stores.answers.finish(claude, FinishedAnswer(AnswerStatus.DONE, "final"))
    long_after = stores.database.now() + 600

    with stores.answers.in_hand([claude]):
        assert await stores.answers.take_over_unshown(stale_before=long_after) == []

    (owed,) = await stores.answers.take_over_unshown(stale_before=long_after)
    assert owed.answer_id == claude


async def test_live_answers_of_other_replicas_are_left_alone(stores):
    await start(stores, claim("9.0"))
    long_ago = stores.database.now() - 60
    taken = await stores.answers.take_over_interrupted(
        stale_before=long_ago, error="x", previous_life=("replica-b", stores.database.now())
    )
    assert not taken
    mine = await stores.answers.take_over_interrupted(
        stale_before=long_ago, error="x", previous_life=("replica-a", stores.database.now() + 1)
    )
    assert len(mine.rounds) == 1


async def test_a_final_edit_still_owed_is_found_once_its_replica_is_silent(stores):
    await stores.round("1.0", "q")  # finished and shown
    assert (
        await stores.replica("replica-b").take_over_unshown(stale_before=stores.database.now() + 1)
        == []
    )
    started = await start(stores, claim("2.0"))
    answer_id = started.answers[0].answer_id
    await stores.answers.posted(answer_id, "2.1")
    await stores.answers.finish(answer_id, FinishedAnswer(AnswerStatus.DONE, "final"))
    await stores.answers.shown(started.answers[1].answer_id)
    assert (
        await stores.replica("replica-b").take_over_unshown(stale_before=stores.database.now() - 60)
        == []
    )
    (owed,) = await stores.replica("replica-b").take_over_unshown(
        stale_before=stores.database.now() + 1
    )
    assert (owed.answer_id, owed.text) == (answer_id, "final")


async def test_each_final_edit_owed_is_handed_to_one_replica(stores):
    started = await start(stores, claim("9.0"))
    for answer in started.answers:
        await stores.answers.finish(answer.answer_id, FinishedAnswer(AnswerStatus.DONE, "x"))
    await asyncio.sleep(0.01)
    silent_since = stores.database.now()
    handed = await asyncio.gather(
        *(
            stores.replica(f"replica-{n}").take_over_unshown(stale_before=silent_since)
            for n in range(4)
        )
    )
    answer_ids = sorted(owed.answer_id for taken in handed for owed in taken)
    assert answer_ids == sorted(answer.answer_id for answer in started.answers)
    # Whoever took them has its grace period: nobody else is handed them meanwhile.
    assert await stores.replica("replica-9").take_over_unshown(stale_before=silent_since) == []


async def test_stop_is_recorded_only_on_an_answer_still_streaming(stores):
    started = await start(stores, claim("9.0"))
    streaming, finished = (answer.answer_id for answer in started.answers[:2])
    for answer_id in (streaming, finished):
        await stores.answers.posted(answer_id, f"9.{answer_id}")
    await stores.answers.finish(finished, FinishedAnswer(AnswerStatus.DONE, "done"))

    assert await stores.answers.request_stop("C1", f"9.{streaming}", "Bob") == StopPress(streaming)
    assert await stores.answers.request_stop("C1", f"9.{finished}", "Bob") == StopPress(None)
    assert await stores.answers.request_stop("C2", f"9.{streaming}", "Bob") == StopPress(None)
    assert await stores.answers.stop_requests([streaming, finished]) == {streaming: "Bob"}
    # A second press stops nothing more, and renames nobody: Bob stopped it.
    assert await stores.answers.request_stop("C1", f"9.{streaming}", "Carol") == StopPress(
        None, "Bob"
    )
    await stores.answers.finish(streaming, FinishedAnswer(AnswerStatus.STOPPED, "half"))
    assert await stores.answers.request_stop("C1", f"9.{streaming}", "Carol") == StopPress(
        None, "Bob"
    )
    assert await stores.answers.stop_requests([streaming]) == {streaming: "Bob"}


async def test_a_stop_press_after_the_message_was_deleted_leaves_the_deletion_as_the_stop(stores):
    started = await start(stores, claim("9.0"))
    answer_id = started.answers[0].answer_id
    await stores.answers.posted(answer_id, "9.1")
    await stores.conversations.forget_message(claim("9.0"))

    press = await stores.answers.request_stop("C1", "9.1", "Bob")

    assert press == StopPress(None, STOPPED_BY_DELETION)
    assert await stores.answers.stop_requests([answer_id]) == {answer_id: STOPPED_BY_DELETION}
    assert await stores.answers.stop_requests([]) == {}


async def test_state_survives_reopening_the_database(database_url):
    database = await connect(database_url)
    stores = stores_over(database)
    first = await stores.round("1.0", "remember me")
    await database.close()

    database = await connect(database_url)
    reopened = stores_over(database)
    parent = await reopened.conversations.parent_answer("C1", f"1.0{first.answers[0].answer_id}")
    assert parent is not None and parent.round_id == first.round_id
    assert await start(reopened, claim("1.0")) is None
    await database.close()


async def restart(stores: Stores, slack_ts: str, models=MODELS):
    return await stores.regenerations.restart(
        "C1", slack_ts, owner="replica-b", answerable=models.__contains__
    )


async def test_only_answers_to_the_latest_message_are_regenerated(stores):
    first = await stores.round("1.0", "first")
    second = await stores.round("2.0", "second")
    old_ts = f"1.0{first.answers[0].answer_id}"
    latest_ts = f"2.0{second.answers[0].answer_id}"

    assert await restart(stores, old_ts) is RegenerationRefused.NOT_LATEST
    assert await restart(stores, "9.9") is RegenerationRefused.NOT_AN_ANSWER
    assert await restart(stores, latest_ts, models=[MODELS[1]]) is RegenerationRefused.UNKNOWN_MODEL
    regeneration = await restart(stores, latest_ts)
    assert isinstance(regeneration, Regeneration)
    assert regeneration.source == RoundSource(second.chat_id, second.round_id, "Alice")
    assert regeneration.answer_id == second.answers[0].answer_id
    third = await stores.round("3.0", "third")
    records = await stores.conversations.round_records(
        second.chat_id, before_round_id=third.round_id, limit=10
    )
    restarted = records[-1].answers[0]
    assert (restarted.status, restarted.text) == (AnswerStatus.PENDING, "")


async def test_an_answer_to_a_deleted_message_is_not_regenerated_and_says_why(stores):
    asked = await stores.round("1.0", "q")
    parent = await stores.conversations.parent_answer("C1", f"1.0{asked.answers[0].answer_id}")
    turn = await start_turn(stores, parent, "1.1", "why?")
    await stores.answers.posted(turn.answer.answer_id, "reply")
    await stores.answers.shown(turn.answer.answer_id)
    await stores.conversations.forget_message(claim("1.0"))
    await stores.conversations.forget_message(claim("1.1"))

    assert await restart(stores, parent.slack_ts) is RegenerationRefused.QUESTION_GONE
    assert await restart(stores, "reply") is RegenerationRefused.QUESTION_GONE


async def test_concurrent_presses_regenerate_an_answer_once(stores):
    started = await stores.round("1.0", "q")
    slack_ts = f"1.0{started.answers[1].answer_id}"
    results = await asyncio.gather(*(restart(stores, slack_ts) for _ in range(4)))
    assert sum(isinstance(result, Regeneration) for result in results) == 1
    assert results.count(RegenerationRefused.STILL_STREAMING) == 3


async def test_an_answer_whose_final_edit_is_still_owed_is_not_regenerated_yet(stores):
    started = await start(stores, claim("1.0"))
    answer_id = started.answers[0].answer_id
    await stores.answers.posted(answer_id, "1.0a")
    await stores.answers.finish(answer_id, FinishedAnswer(AnswerStatus.DONE, "shown soon"))

    assert await restart(stores, "1.0a") is RegenerationRefused.STILL_SHOWING
    await stores.answers.shown(answer_id)
    regeneration = await restart(stores, "1.0a")
    assert isinstance(regeneration, Regeneration) and regeneration.answer_id == answer_id


async def test_a_thread_reply_is_regenerated_only_while_it_is_the_latest_turn(stores):
    started = await stores.round("1.0", "q")
    parent = await stores.conversations.parent_answer("C1", f"1.0{started.answers[0].answer_id}")
    turns = [
        await start_turn(stores, parent, ts, text) for ts, text in [("2.0", "a"), ("3.0", "b")]
    ]
    for turn in turns:
        await stores.answers.posted(turn.answer.answer_id, f"reply{turn.turn_id}")
        await stores.answers.shown(turn.answer.answer_id)

    assert await restart(stores, f"reply{turns[0].turn_id}") is RegenerationRefused.NOT_LATEST
    regeneration = await restart(stores, f"reply{turns[1].turn_id}")
    assert isinstance(regeneration, Regeneration)
    assert regeneration.source == TurnSource(turns[1].reply_thread_id, turns[1].turn_id, "Bob")


async def test_a_regenerated_first_answer_that_now_succeeds_is_in_chat_again(stores):
    started = await start(stores, claim("1.0"))
    claude, gpt = started.answers
    for answer, outcome in (
        (claude, FinishedAnswer(AnswerStatus.FAILED, "", "overloaded")),
        (gpt, FinishedAnswer(AnswerStatus.DONE, "gpt text")),
    ):
        await stores.answers.posted(answer.answer_id, f"1.0{answer.answer_id}")
        await stores.answers.finish(answer.answer_id, outcome)
        await stores.answers.shown(answer.answer_id)
    assert isinstance(await restart(stores, f"1.0{claude.answer_id}"), Regeneration)
    regenerated = FinishedAnswer(AnswerStatus.DONE, "claude text")
    await stores.replica("replica-b").finish(claude.answer_id, regenerated)
    (record,) = (await start(stores, claim("2.0"))).history
    assert context_round(record).in_chat_answer == "claude text"


async def test_a_message_deleted_before_it_is_recorded_never_starts_a_round(stores):
    await stores.conversations.forget_message(claim("5.0"))  # the deletion's event came first
    assert await start(stores, claim("5.0")) is None
    later = await stores.round("6.0", "later")
    records = await stores.conversations.round_records(
        later.chat_id, before_round_id=later.round_id, limit=10
    )
    assert records == []


async def make_in_chat(stores: Stores, round_ts: str, started: StartedRound, index: int):
    """Pick the round's answer at `index` (its message as `Stores.round` posts it) as In Chat."""
    answer_ts = f"{round_ts}{started.answers[index].answer_id}"
    parent = await stores.conversations.parent_answer("C1", answer_ts)
    assert parent is not None
    choice, _ = await stores.conversations.choose_in_chat(parent)
    return choice


async def test_a_deleted_later_round_leaves_the_one_before_it_the_latest_for_in_chat(stores):
    first = await stores.round("1.0", "first")
    await stores.round("2.0", "second")
    assert await make_in_chat(stores, "1.0", first, 1) is InChatChoice.NOT_LATEST_ROUND
    await stores.conversations.forget_message(claim("2.0"))
    assert await make_in_chat(stores, "1.0", first, 1) is InChatChoice.CHOSEN


async def test_the_answers_to_a_deleted_message_lose_the_in_chat_mark_and_cannot_get_it(stores):
    await stores.round("1.0", "first")
    second = await stores.round("2.0", "second")
    owed = await stores.conversations.forget_message(claim("2.0"))
    assert [(answer.answer_id, answer.in_chat) for answer in owed] == [
        (second.answers[0].answer_id, False)
    ]
    assert await make_in_chat(stores, "2.0", second, 1) is InChatChoice.QUESTION_DELETED


async def test_rounds_take_their_place_by_when_they_were_said_not_when_recorded(stores):
    """A message recorded late (its author's name took a lookup, a crashed replica's event was
    taken over) still comes before one said after it."""
    said_second = await stores.round("2.0", "said second")
    said_first = await stores.round("1.0", "said first")
    assert said_first.history == () and said_second.history == ()

    assert await make_in_chat(stores, "1.0", said_first, 1) is InChatChoice.NOT_LATEST_ROUND
    assert await restart(stores, f"1.0{said_first.answers[0].answer_id}") is (
        RegenerationRefused.NOT_LATEST
    )
    assert await make_in_chat(stores, "2.0", said_second, 1) is InChatChoice.CHOSEN

    third = await stores.round("3.0", "third")
    assert [record.text for record in third.history] == ["said first", "said second"]


async def test_thread_turns_take_their_place_by_when_they_were_said(stores):
    asked = await stores.round("1.0", "q")
    parent = await stores.conversations.parent_answer("C1", f"1.0{asked.answers[0].answer_id}")
    await start_turn(stores, parent, "1.3", "said second")
    said_first = await start_turn(stores, parent, "1.2", "said first")
    history = await stores.conversations.thread_history(
        said_first.reply_thread_id, before_turn_id=said_first.turn_id, limit=10
    )
    assert history.turns == ()
    latest = await start_turn(stores, parent, "1.4", "latest")
    history = await stores.conversations.thread_history(
        latest.reply_thread_id, before_turn_id=latest.turn_id, limit=10
    )
    assert [turn.text for turn in history.turns] == ["said first", "said second"]


async def test_an_answer_in_chat_by_default_or_by_choice_is_in_chat_already(stores):
    started = await stores.round("1.0", "q")
    assert await make_in_chat(stores, "1.0", started, 0) is InChatChoice.ALREADY  # the default
    assert await make_in_chat(stores, "1.0", started, 1) is InChatChoice.CHOSEN
    assert await make_in_chat(stores, "1.0", started, 1) is InChatChoice.ALREADY
    assert await make_in_chat(stores, "1.0", started, 0) is InChatChoice.CHOSEN


async def test_a_deleted_answer_cannot_be_made_in_chat(stores):
    started = await stores.round("1.0", "q")
    await stores.conversations.forget_message(claim(f"1.0{started.answers[1].answer_id}"))
    assert await make_in_chat(stores, "1.0", started, 1) is InChatChoice.NOT_USABLE


async def test_each_new_chat_starts_from_nothing_and_keeps_its_own_history(stores):
    await stores.round("1.0", "before")
    await stores.conversations.start_new_chat(CHAT)
    await stores.round("2.0", "after the first new")
    await stores.conversations.start_new_chat(CHAT)
    assert (await start(stores, claim("3.0"))).history == ()
    (record,) = (await start(stores, claim("4.0"))).history
    assert record.text == "hi"


async def test_the_model_chooser_gets_the_channel_models_of_its_own_workspace(stores):
    await stores.channels.set_models("T2", "C1", ["openai:gpt-5.1"], set_by="U1")
    seen: list[object] = []

    def models(channel_models):
        seen.append(channel_models)
        return MODELS

    for team, ts in (("T1", "1.0"), ("T2", "2.0")):
        await stores.conversations.start_round(
            MessageClaim(team, "C1", ts),
            ChatKey(team, "C1"),
            user_id="U1",
            author="Alice",
            text="hi",
            models=models,
            post_thread_ts=None,
            owner="replica-a",
            history_limit=50,
        )
    assert seen == [None, ["openai:gpt-5.1"]]


async def test_a_message_in_another_channel_with_the_same_ts_is_another_message(stores):
    first = await stores.round("1.0", "kept")
    answer_ts = f"1.0{first.answers[0].answer_id}"
    assert await stores.conversations.parent_answer("C2", answer_ts) is None
    await stores.conversations.forget_message(MessageClaim("T1", "C2", "1.0"))
    await stores.conversations.forget_message(MessageClaim("T1", "C2", answer_ts))
    (record,) = (await start(stores, claim("2.0"))).history
    assert (record.text, context_round(record).in_chat_answer) == ("kept", "claude: kept")


async def test_a_thread_turn_knows_while_the_answers_before_it_still_stream(stores):
    started = await start(stores, claim("1.0"))
    claude = started.answers[0].answer_id
    await stores.answers.posted(claude, "1.1")
    parent = await stores.conversations.parent_answer("C1", "1.1")
    early = await start_turn(stores, parent, "1.2", "early", answered=False)
    assert early.history.settled is False, "the answer it hangs under streams"
    await stores.answers.finish(claude, FinishedAnswer(AnswerStatus.DONE, "done"))
    later = await start_turn(stores, parent, "1.3", "later", answered=False)
    assert later.history.settled is False, "the reply to the early turn streams"
    for turn in (early, later):
        await stores.answers.finish(turn.answer.answer_id, FinishedAnswer(AnswerStatus.DONE, "ok"))
    assert (await start_turn(stores, parent, "1.4", "last")).history.settled is True


async def test_an_answer_still_being_written_is_not_owed_to_slack(stores):
    await start(stores, claim("1.0"))
    owed = await stores.replica("replica-b").take_over_unshown(
        stale_before=stores.database.now() + 60
    )
    assert owed == []


async def test_a_replica_heartbeats_only_the_answers_it_still_owns(stores):
    started = await start(stores, claim("1.0"))
    claude = started.answers[0].answer_id
    await stores.answers.finish(claude, FinishedAnswer(AnswerStatus.DONE, "final"))
    await asyncio.sleep(0.05)
    taken = await stores.replica("replica-b").take_over_unshown(stale_before=stores.database.now())
    assert [a.answer_id for a in taken] == [claude]
    await asyncio.sleep(0.05)
    silent_since = stores.database.now()  # replica-b dies here, before showing it
    with stores.answers.in_hand([claude]):  # replica-a still holds it from before
        await stores.answers.heartbeat()
    owed = await stores.replica("replica-c").take_over_unshown(stale_before=silent_since)
    assert [a.answer_id for a in owed] == [claude]


async def test_a_deleted_answer_is_not_regenerated(stores):
    started = await stores.round("1.0", "q")
    answer_ts = f"1.0{started.answers[0].answer_id}"
    await stores.conversations.forget_message(claim(answer_ts))
    assert await restart(stores, answer_ts) is RegenerationRefused.NOT_AN_ANSWER


async def test_a_deleted_later_message_makes_the_one_before_it_regenerable(stores):
    first = await stores.round("1.0", "first")
    await stores.round("2.0", "second")
    await stores.conversations.forget_message(claim("2.0"))
    assert isinstance(await restart(stores, f"1.0{first.answers[0].answer_id}"), Regeneration)


async def test_a_regenerated_answer_starts_clean_and_hands_back_its_old_continuations(stores):
    started = await start(stores, claim("1.0"))
    answer_id = started.answers[0].answer_id
    await stores.answers.posted(answer_id, "1.1")
    assert await stores.answers.request_stop("C1", "1.1", "Bob") == StopPress(answer_id)
    await stores.answers.finish(answer_id, FinishedAnswer(AnswerStatus.STOPPED, "long"))
    await stores.answers.shown(answer_id, ["1.2", "1.3"])

    regeneration = await restart(stores, "1.1")
    assert isinstance(regeneration, Regeneration)
    assert regeneration.old_continuations == ("1.2", "1.3")
    assert await stores.answers.stop_requests([answer_id]) == {}


async def test_a_channel_prompt_set_to_none_is_removed(stores):
    await stores.channels.set_prompt("C1", "Answer in French.", set_by="U1")
    await stores.channels.set_prompt("C1", None, set_by="U1")
    assert await stores.channels.prompt("C1") is None
    assert (await start(stores, claim("1.0"))).channel_prompt is None


async def test_claims_on_messages_that_got_nothing_are_forgotten_after_a_while(stores):
    await stores.round("1.0", "kept")  # claimed by its round
    parent = await stores.conversations.parent_answer("C1", "1.01")
    await start_turn(stores, parent, "1.5", "a thread turn")  # claimed by its turn
    await stores.conversations.claim(MessageClaim("T1", "C1", "2.0"))  # a help reply
    await stores.conversations.forget_message(MessageClaim("T1", "C1", "3.0"))  # chatter

    inbox = EventInbox(stores.database)
    await inbox.forget_handled(before=stores.database.now() - 60)
    assert len(await claimed(stores)) == 4, "Slack may still send them again"
    await inbox.forget_handled(before=stores.database.now() + 60)
    assert await claimed(stores) == ["1.0", "1.5"]


async def test_a_claim_from_before_claims_told_they_were_recorded_is_kept_and_marked(stores):
    await stores.round("1.0", "kept")
    await stores.conversations.claim(MessageClaim("T1", "C1", "2.0"))  # a help reply

    def as_claimed_before_0014(session: Session) -> None:
        session.execute(update(ClaimedMessage).values(recorded=False))

    await stores.database.run(as_claimed_before_0014)
    await EventInbox(stores.database).forget_handled(before=stores.database.now() + 60)

    def recorded(session: Session) -> list[tuple[str, bool]]:
        return list(session.execute(select(ClaimedMessage.message_ts, ClaimedMessage.recorded)))

    assert await stores.database.run(recorded) == [("1.0", True)]


async def claimed(stores: Stores) -> list[str]:
    def ts_claimed(session: Session) -> list[str]:
        return sorted(session.scalars(select(ClaimedMessage.message_ts)))

    return await stores.database.run(ts_claimed)


async def test_an_answer_stopped_before_its_first_word_cannot_be_made_in_chat(stores):
    started = await start(stores, claim("1.0"))
    assert started is not None
    outcomes = [FinishedAnswer(AnswerStatus.DONE, "text"), FinishedAnswer(AnswerStatus.STOPPED, "")]
    for answer, outcome in zip(started.answers, outcomes, strict=True):
        await stores.answers.posted(answer.answer_id, f"1.0{answer.answer_id}")
        await stores.answers.finish(answer.answer_id, outcome)
        await stores.answers.shown(answer.answer_id)
    assert await make_in_chat(stores, "1.0", started, 1) is InChatChoice.NOT_USABLE


async def test_a_late_final_edit_of_an_answer_taken_over_never_lands_on_its_regeneration(
    stores,
):
    started = await start(stores, claim("9.0"))
    claude, gpt = (answer.answer_id for answer in started.answers)
    await stores.answers.posted(claude, "9.0c")
    for answer_id in (claude, gpt):
        await stores.answers.finish(answer_id, FinishedAnswer(AnswerStatus.DONE, "final"))
    other = stores.replica("replica-b")
    for owed in await other.take_over_unshown(stale_before=stores.database.now() + 1):
        await other.shown(owed.answer_id)
    assert isinstance(await restart(stores, "9.0c"), Regeneration)  # on replica-b

    # The first writer's final edit went through at last, after a long pause.
    await stores.answers.shown(claude)
    await asyncio.sleep(0.5)
    with other.in_hand([claude]):
        await other.heartbeat()  # replica-b streams the new answer
    # Its heartbeat just now counts, one from before the pause would not (with room for a
    # loaded machine between the heartbeat and this line).
    alive_since = stores.database.now() - 0.25
    taken = await stores.replica("replica-c").take_over_interrupted(
        stale_before=alive_since, error="restarted"
    )
    assert not taken


async def test_a_message_said_earlier_is_waited_for_until_it_is_recorded(stores):
    inbox = EventInbox(stores.database)
    await inbox.accept("Ev1", {}, "r1", SaidAt("C1", "", "1.0"))
    await inbox.accept("Ev2", {}, "r1", SaidAt("C1", "", "2.0"))
    await inbox.accept("Ev3", {}, "r1", SaidAt("C1", "5.0", "3.0"))  # in a thread

    async def recorded(ts: str, thread_ts: str = "") -> bool:
        try:
            await start(stores, claim(ts), after=SaidAt("C1", thread_ts, ts))
        except EarlierMessageUnrecorded:
            return False
        return True

    assert not await recorded("2.0"), "1.0 was said before it"
    assert await recorded("1.0")
    assert await recorded("2.0")
    assert not await recorded("4.0", thread_ts="5.0"), "3.0 was said before it in its thread"
    await inbox.finish("Ev3")  # handled without a record: a thread message not for the bot
    assert await recorded("4.0", thread_ts="5.0")
    assert await recorded("9.0", thread_ts="8.0")
