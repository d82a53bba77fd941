"""A streamed answer's Slack message, through the real slack_sdk client and the emulator."""

from __future__ import annotations

import asyncio

from bot.chat.in_chat import AnswerStatus
from bot.slack.answer_message import AnswerMessage
from bot.slack.pacing import UpdateBudget
from bot.slack.rendering import outcome_messages
from bot.slack.web import SlackWeb
from tests.e2e.slack_views import body, is_final

CHANNEL = "C0GENERAL"


def done(text: str):
    return outcome_messages("Claude", status=AnswerStatus.DONE, text=text, error=None, seconds=1)


async def edits_reach(emulator, count: int) -> None:
    """Wait (up to 5 s) until the emulator, in its own thread, has seen `count` chat.update
    calls."""
    for _ in range(500):
        if len(emulator.calls_for("chat.update")) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} chat.update calls")


async def test_the_final_edit_never_queues_behind_the_streaming_budget(web):
    slack, emulator = web
    starved = UpdateBudget(rate_per_second=0.01, burst=1)  # one edit, then one per 100 s
    first, second = (
        AnswerMessage(
            slack,
            answer_id=answer_id,
            channel=CHANNEL,
            thread_ts=None,
            display_name="Claude",
            identity=None,
            update_interval=0,
            budget=starved,
        )
        for answer_id in (1, 2)
    )
    for message in (first, second):
        await message.post_placeholder()
        message.show("partial text")
    await edits_reach(emulator, 1)  # the first answer's edit: the second now waits for budget
    await asyncio.sleep(0.1)
    assert len(emulator.calls_for("chat.update")) == 1

    await asyncio.wait_for(second.finish(done("the whole answer")), timeout=5)
    await asyncio.wait_for(first.finish(done("another answer")), timeout=5)
    shown = emulator.message(CHANNEL, second.ts)
    assert is_final(shown) and body(shown) == "the whole answer"


def claude_answer(slack: SlackWeb, *, update_interval: float) -> AnswerMessage:
    return AnswerMessage(
        slack,
        answer_id=1,
        channel=CHANNEL,
        thread_ts=None,
        display_name="Claude",
        identity=None,
        update_interval=update_interval,
    )


async def test_streaming_edits_are_coalesced_to_the_newest_text(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=0.3)
    await message.post_placeholder()
    for length in range(1, 101):  # faster than any edit could go out
        message.show("x" * length)
    await edits_reach(emulator, 1)
    streamed = emulator.message(CHANNEL, message.ts)
    assert body(streamed) == "x" * 100 and not is_final(streamed)
    await message.finish(done("x" * 100))
    assert len(emulator.calls_for("chat.update")) == 2  # one streaming edit, then the final one
    assert is_final(emulator.message(CHANNEL, message.ts))


async def test_an_answer_complete_before_its_first_edit_costs_only_the_final_one(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=1.0)
    await message.post_placeholder()
    message.show("the whole answer")
    message.end_streaming()  # the answer is complete; its outcome is being recorded
    await asyncio.sleep(0.1)
    await message.finish(done("the whole answer"))

    (update,) = emulator.calls_for("chat.update")
    assert is_final(update.params) and body(update.params) == "the whole answer"
