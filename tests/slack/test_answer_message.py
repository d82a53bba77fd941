"""A streamed answer's Slack message, through the real slack_sdk client and the emulator."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.chat.in_chat import AnswerStatus
from bot.slack.answer_message import AnswerMessage
from bot.slack.pacing import UpdateBudget
from bot.slack.rendering import REGENERATE_ACTION, SlackMessage, outcome_messages
from bot.slack.web import SlackWeb
from tests.e2e.slack_views import body, buttons, is_final, status_line

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


async def test_a_streaming_edit_waits_out_the_update_interval_after_the_last_one(web):
    # The coalescing above happens within one turn of the event loop, interval or not; here
    # new text comes after an edit went out, and waits its slot (which the final edit takes).
    slack, emulator = web
    message = claude_answer(slack, update_interval=60)
    await message.post_placeholder()
    message.show("the first words")
    await edits_reach(emulator, 1)
    message.show("the first words and more")
    await asyncio.sleep(0.2)
    assert len(emulator.calls_for("chat.update")) == 1, "an edit went out before its slot"

    await message.finish(done("the first words and more"))
    first, final = emulator.calls_for("chat.update")
    assert body(first.params) == "the first words" and not is_final(first.params)
    assert is_final(final.params) and body(final.params) == "the first words and more"


async def test_no_streaming_edit_goes_out_once_the_answer_may_no_longer_be_ours(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    message.allow_edits_until(time.monotonic())  # not known to be ours since
    message.show("text from before a long pause")
    await asyncio.sleep(0.1)
    assert emulator.calls_for("chat.update") == []

    message.allow_edits_until(time.monotonic() + 60)  # its writer found it still its own
    await edits_reach(emulator, 1)
    assert body(emulator.message(CHANNEL, message.ts)) == "text from before a long pause"


async def test_an_answer_taken_over_meanwhile_is_let_go_without_an_edit(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    message.allow_edits_until(time.monotonic())
    message.show("text from before a long pause")

    await asyncio.wait_for(message.abandon(), timeout=5)  # someone else shows its end

    assert emulator.calls_for("chat.update") == []


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


def with_continuation(text: str, rest: str) -> list[SlackMessage]:
    return [*done(text), SlackMessage(rest, [])]


@pytest.mark.parametrize("refusal", ["invalid_blocks", "msg_blocks_too_long"])
async def test_markdown_slack_refuses_lands_in_sections_keeping_the_regenerate_button(
    web, refusal, caplog
):
    caplog.set_level(logging.INFO, logger="bot.slack.answer_message")
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    emulator.inject("chat.update", status=200, error=refusal)

    await message.finish(done("the **whole** answer & more"))

    assert [update.ok for update in emulator.calls_for("chat.update")] == [False, True]
    shown = emulator.message(CHANNEL, message.ts)
    sections = [block["text"]["text"] for block in shown["blocks"] if block["type"] == "section"]
    assert sections == ["the **whole** answer &amp; more"]
    assert status_line(shown) == "*Claude* · 1.0 s"
    assert buttons(shown) == [REGENERATE_ACTION]
    # Handled, and the log says so: a warning, not an error.
    (refused,) = caplog.records
    assert refused.levelno == logging.WARNING
    assert refused.getMessage() == (
        f"final update of answer 1 ({message.ts} in {CHANNEL}) in blocks failed: {refusal}; "
        "sending it in sections"
    )


async def test_a_long_answer_slack_refuses_in_markdown_is_shown_whole_in_sections(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    emulator.inject("chat.update", status=200, error="invalid_blocks")
    text = "\n\n".join(f"paragraph {n} " + "word " * 150 for n in range(14))  # ~10,700 chars

    await message.finish(done(text))

    shown = emulator.message(CHANNEL, message.ts)
    sections = [block["text"]["text"] for block in shown["blocks"] if block["type"] == "section"]
    assert len(sections) > 3 and "\n\n".join(sections) == text
    assert buttons(shown) == [REGENERATE_ACTION]


async def test_blocks_slack_refuses_in_any_form_still_land_as_plain_text(web, caplog):
    caplog.set_level(logging.INFO, logger="bot.slack.answer_message")
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    emulator.inject("chat.update", times=2, status=200, error="invalid_blocks")

    await message.finish(done("the whole answer"))

    assert [update.ok for update in emulator.calls_for("chat.update")] == [False, False, True]
    shown = emulator.message(CHANNEL, message.ts)
    assert "the whole answer" in shown["text"] and not shown.get("blocks")
    assert [(r.levelno, r.getMessage().rsplit("; ", 1)[-1]) for r in caplog.records] == [
        (logging.WARNING, "sending it in sections"),
        (logging.WARNING, "sending it in plain text"),
    ]


async def test_an_error_line_slack_refuses_is_not_sent_again_as_it_was(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    emulator.inject("chat.update", status=200, error="invalid_blocks")
    failed = outcome_messages(
        "Claude", status=AnswerStatus.FAILED, text="", error="Boom.", seconds=1
    )

    await message.finish(failed)

    first, second = emulator.calls_for("chat.update")
    assert not first.ok and second.ok
    shown = emulator.message(CHANNEL, message.ts)
    assert "Boom." in shown["text"] and not shown.get("blocks")


async def test_a_continuation_slack_refuses_in_markdown_still_lands_in_sections(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    rest = SlackMessage("and the rest", [{"type": "markdown", "text": "and **the rest**"}])
    emulator.inject("chat.postMessage", status=200, error="invalid_blocks")

    (continuation,) = await message.finish([*done("the answer"), rest])

    shown = emulator.message(CHANNEL, continuation)
    assert [block["type"] for block in shown["blocks"]] == ["section"]
    assert shown["blocks"][0]["text"]["text"] == "and **the rest**"
    assert shown["thread_ts"] == message.ts


async def test_a_continuation_whose_reply_is_lost_is_not_taken_for_the_answer(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    emulator.lose_replies("chat.postMessage", carried_out=False)

    (continuation,) = await message.finish(with_continuation("the answer", "and the rest"))

    assert continuation != message.ts
    assert [m["text"] for m in emulator.replies(CHANNEL, message.ts)] == ["and the rest"]


async def test_a_continuation_slack_would_not_delete_is_never_taken_for_a_new_one(web):
    slack, emulator = web
    first = claude_answer(slack, update_interval=0)
    await first.post_placeholder()
    (old,) = await first.finish(with_continuation("first text", "old rest"))
    again = AnswerMessage(
        slack,
        answer_id=first.answer_id,
        channel=CHANNEL,
        thread_ts=None,
        display_name="Claude",
        identity=None,
        update_interval=0,
        ts=first.ts,
    )
    emulator.inject("chat.delete", status=200, error="cant_delete_message")
    await again.start_again([old])
    emulator.lose_replies("chat.postMessage", carried_out=False)

    (new,) = await again.finish(with_continuation("second text", "new rest"))

    assert new != old
    assert [m["text"] for m in emulator.replies(CHANNEL, first.ts)] == ["old rest", "new rest"]


async def test_streaming_stops_once_slack_says_the_message_is_gone(web):
    slack, emulator = web
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    emulator.delete_message(CHANNEL, message.ts)

    message.show("partial")
    await edits_reach(emulator, 1)
    message.show("partial text")
    await asyncio.sleep(0.2)

    (refused,) = emulator.calls_for("chat.update")
    assert refused.response["error"] == "message_not_found"
    await message.abandon()


async def test_a_streamed_text_that_fails_to_render_costs_its_edit_not_the_final_one(
    web, monkeypatch
):
    slack, emulator = web

    def failing_render(display_name: str, text: str) -> SlackMessage:
        raise IndexError("a renderer bug")

    monkeypatch.setattr("bot.slack.answer_message.streaming_message", failing_render)
    message = claude_answer(slack, update_interval=0)
    await message.post_placeholder()
    message.show("partial")
    await asyncio.sleep(0.1)

    await asyncio.wait_for(message.finish(done("the whole answer")), timeout=5)
    shown = emulator.message(CHANNEL, message.ts)
    assert is_final(shown) and body(shown) == "the whole answer"
