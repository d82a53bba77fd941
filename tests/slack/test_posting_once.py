"""A post is never repeated blindly: when its reply is lost, the tagged message is looked for
before it is sent again, through the real slack_sdk client and the emulator."""

from __future__ import annotations

import time

import pytest

from bot.slack.rendering import placeholder_message
from bot.slack.slack_errors import SlackUnreachable
from bot.slack.web import MessageTag, SlackWeb
from tests.doubles.slack_emulator.emulator import REPLY_LOST

CHANNEL = "C0GENERAL"
PLACEHOLDER = placeholder_message("Claude")


def post_calls(emulator):
    return [call.status for call in emulator.calls_for("chat.postMessage")]


@pytest.mark.parametrize(
    ("carried_out", "statuses"),
    [(True, [REPLY_LOST]), (False, [REPLY_LOST, 200])],
    ids=["done-so-found-not-posted-again", "never-done-so-sent-again"],
)
async def test_a_post_whose_reply_is_lost_is_looked_for_before_it_is_sent_again(
    web, carried_out, statuses
):
    slack, emulator = web
    emulator.lose_replies("chat.postMessage", carried_out=carried_out)

    ts = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7))

    (message,) = emulator.bot_messages(CHANNEL)
    assert message["ts"] == ts
    assert post_calls(emulator) == statuses
    history = emulator.calls_for("conversations.history")
    assert [call.params.get("include_all_metadata") for call in history] == ["1"]


async def test_other_answers_tagged_messages_are_not_mistaken_for_it(web):
    slack, emulator = web
    other = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(6))
    continuation = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7, part=1))
    emulator.lose_replies("chat.postMessage", carried_out=False)

    ts = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7))

    assert ts not in (other, continuation)
    assert [m["ts"] for m in emulator.bot_messages(CHANNEL)] == [other, continuation, ts]


async def test_a_post_that_may_have_landed_earlier_is_looked_for_first(web):
    slack, emulator = web
    before = time.time()
    thread = emulator.post_user_message(CHANNEL, "U0ALICE", "question")["ts"]
    first = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(9, part=2), thread_ts=thread)

    again = await slack.post(
        CHANNEL,
        PLACEHOLDER,
        tag=MessageTag(9, part=2),
        thread_ts=thread,
        maybe_posted_since=before,
    )

    assert again == first
    assert len(emulator.bot_messages(CHANNEL, thread)) == 1
    assert len(emulator.calls_for("conversations.replies")) == 1


async def test_slack_out_of_reach_is_said_so_after_looking_twice(web, caplog):
    slack, emulator = web
    emulator.lose_replies("chat.postMessage", times=2, carried_out=False)

    with pytest.raises(SlackUnreachable):
        await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7, part=2))

    # Which answer's post it was, as the provider's retry lines of that answer name it.
    assert f"posting continuation 2 of answer 7 in {CHANNEL} (attempt 2)" in caplog.text

    assert emulator.bot_messages(CHANNEL) == []
    assert post_calls(emulator) == [REPLY_LOST, REPLY_LOST]
    assert len(emulator.calls_for("conversations.history")) == 2


async def test_a_post_slack_failed_after_doing_it_is_found_not_posted_again(web):
    slack, emulator = web
    emulator.inject("chat.postMessage", status=500, error="internal_error", carried_out=True)

    ts = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7))

    assert [m["ts"] for m in emulator.bot_messages(CHANNEL)] == [ts]
    assert post_calls(emulator) == [500]


async def test_a_lost_post_is_found_though_our_clock_is_ahead_of_slacks(web):
    slack, emulator = web
    ahead = SlackWeb(slack.client, clock=lambda: time.time() + 60)
    emulator.lose_replies("chat.postMessage", carried_out=True)

    ts = await ahead.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7))

    assert [m["ts"] for m in emulator.bot_messages(CHANNEL)] == [ts]
    assert post_calls(emulator) == [REPLY_LOST]


async def test_a_lost_post_is_found_behind_a_full_page_of_newer_messages(web):
    slack, emulator = web
    before = time.time()
    first = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7))
    for n in range(200):  # one page of what slack.post reads back
        emulator.post_user_message(CHANNEL, "U0ALICE", f"chatter {n}")

    again = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7), maybe_posted_since=before)

    assert again == first
    assert len(emulator.calls_for("conversations.history")) == 2
    assert post_calls(emulator) == [200]


async def test_a_message_said_not_to_be_this_post_is_never_taken_for_it(web):
    slack, emulator = web
    before = time.time()
    stale = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7, part=1))

    ts = await slack.post(
        CHANNEL,
        PLACEHOLDER,
        tag=MessageTag(7, part=1),
        maybe_posted_since=before,
        not_these=[stale],
    )

    assert ts != stale
    assert [m["ts"] for m in emulator.bot_messages(CHANNEL)] == [stale, ts]


@pytest.mark.parametrize("error", ["internal_error", "fatal_error"])
async def test_a_post_slack_refused_as_failed_midway_is_looked_for_before_it_is_given_up(
    web, error
):
    # Slack answers these as its JSON (HTTP 200), and says "it's possible some aspect of
    # the operation succeeded before the error was raised": the post may be there.
    slack, emulator = web
    emulator.inject("chat.postMessage", status=200, error=error, carried_out=True)

    ts = await slack.post(CHANNEL, PLACEHOLDER, tag=MessageTag(7))

    assert [m["ts"] for m in emulator.bot_messages(CHANNEL)] == [ts]
    assert post_calls(emulator) == [200]


def test_a_tag_is_found_whatever_else_slack_adds_to_the_metadata():
    listed = {"ts": "1.0", "metadata": {**MessageTag(7).as_metadata(), "app_id": "A0CHORUS"}}
    assert MessageTag(7).is_on(listed)
    assert not MessageTag(7, part=1).is_on(listed)
    assert not MessageTag(6).is_on(listed)
    assert not MessageTag(7).is_on({"ts": "1.0"})
