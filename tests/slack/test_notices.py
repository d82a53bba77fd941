"""Notes only their reader sees, through the real slack_sdk client and the emulator."""

from __future__ import annotations

import logging

from bot.chat.routing import IncomingMessage
from bot.slack.notices import Notices

CHANNEL = "C0GENERAL"


def alices_reply(thread_ts: str) -> IncomingMessage:
    return IncomingMessage(
        team_id="T0CHORUS",
        channel_id=CHANNEL,
        ts="1764000000.000200",
        thread_ts=thread_ts,
        user_id="U0ALICE",
        text="+nosuchmodel hello",
        is_direct=False,
        mentions_bot=True,
    )


async def test_a_note_to_the_author_is_shown_where_they_wrote(web):
    slack, emulator = web
    thread = emulator.post_user_message(CHANNEL, "U0ALICE", "question")["ts"]

    await Notices(slack).tell_author(alices_reply(thread), "No model is called +nosuchmodel.")

    (note,) = emulator.ephemeral_messages(CHANNEL)
    assert (note["user"], note["thread_ts"]) == ("U0ALICE", thread)
    assert note["text"] == "No model is called +nosuchmodel."


async def test_a_note_slack_refuses_in_that_channel_is_sent_in_a_direct_message(web, caplog):
    slack, emulator = web
    caplog.set_level(logging.INFO, logger="bot.slack.notices")

    await Notices(slack).tell("C0NOSUCH", "U0ALICE", "invite me")

    assert emulator.ephemeral_messages() == []
    (dm,) = emulator.bot_messages(emulator.direct_message_channel("U0ALICE"))
    assert dm["text"] == "In <#C0NOSUCH>: invite me"
    assert "could not tell U0ALICE in C0NOSUCH (channel_not_found): told directly" in caplog.text


async def test_a_note_slack_refuses_for_another_reason_is_only_logged(web, caplog):
    slack, emulator = web

    await Notices(slack).tell(CHANNEL, "U0NOBODY", "help")

    assert emulator.ephemeral_messages() == []
    assert "could not tell U0NOBODY: user_not_found" in caplog.text
