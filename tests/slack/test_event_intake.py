"""Events in: each person's message is recorded and handled once, whichever events carry it."""

from __future__ import annotations

from typing import Any

from bot.background import BackgroundWork
from bot.chat.routing import IncomingMessage
from bot.slack.event_intake import EventIntake
from tests.doubles.slack_payloads import (
    AppInstallation,
    app_mention_event,
    event_callback,
    message_changed_event,
    message_event,
)

INSTALL = AppInstallation("T0CHORUS", "A0CHORUS", "U0BOT")
MENTION = {"user": "U0ALICE", "text": "<@U0BOT> hello", "ts": "1764000000.000100"}


class RecordingInbox:
    def __init__(self) -> None:
        self.accepted: list[str] = []

    async def accept(self, event_id: str, payload: dict[str, Any], owner: str) -> bool:
        if event_id in self.accepted:
            return False
        self.accepted.append(event_id)
        return True

    async def finish(self, event_id: str) -> None:
        pass


class RecordingConversations:
    bot_user_id = "U0BOT"

    def __init__(self) -> None:
        self.handled: list[IncomingMessage] = []

    async def handle(self, message: IncomingMessage) -> None:
        self.handled.append(message)


async def receive_all(*envelopes: dict[str, Any]) -> tuple[RecordingInbox, RecordingConversations]:
    inbox, conversations, work = RecordingInbox(), RecordingConversations(), BackgroundWork()
    intake = EventIntake(inbox, conversations, work, replica_id="r1")  # type: ignore[arg-type]
    for envelope in envelopes:
        await intake.receive(envelope)
    await work.drain(grace_seconds=5)
    return inbox, conversations


async def test_the_second_event_of_a_mention_is_not_recorded_again():
    message = event_callback(INSTALL, message_event("C0GENERAL", "channel", MENTION))
    mention = event_callback(INSTALL, app_mention_event("C0GENERAL", MENTION))

    inbox, conversations = await receive_all(message, mention)

    assert inbox.accepted == [message["event_id"]]
    assert [handled.ts for handled in conversations.handled] == [MENTION["ts"]]


async def test_other_messages_and_edits_are_each_recorded():
    first = event_callback(INSTALL, message_event("C0GENERAL", "channel", MENTION))
    later = {**MENTION, "ts": "1764000000.000200"}
    second = event_callback(INSTALL, message_event("C0GENERAL", "channel", later))
    elsewhere = event_callback(INSTALL, message_event("C0RANDOM", "channel", MENTION))
    # A mention added by editing the message arrives as an app_mention of the same ts.
    edited = {**MENTION, "text": "<@U0BOT> hello, and one more thing"}
    edit = event_callback(INSTALL, app_mention_event("C0GENERAL", edited))

    inbox, conversations = await receive_all(first, second, elsewhere, edit)

    assert len(inbox.accepted) == 4
    assert len(conversations.handled) == 4


async def test_a_channel_message_not_for_the_bot_is_not_recorded():
    chatter = {"user": "U0ALICE", "text": "lunch?", "ts": "1764000000.000300"}
    in_a_thread = {**chatter, "ts": "1764000000.000400", "thread_ts": "1764000000.000100"}
    in_a_dm = {**chatter, "ts": "1764000000.000500"}
    top_level = event_callback(INSTALL, message_event("C0GENERAL", "channel", chatter))
    # A thread reply may be a turn of the reply thread under an answer: that is looked up.
    reply = event_callback(INSTALL, message_event("C0GENERAL", "channel", in_a_thread))
    direct = event_callback(INSTALL, message_event("D0ALICE", "im", in_a_dm))

    inbox, conversations = await receive_all(top_level, reply, direct)

    assert inbox.accepted == [reply["event_id"], direct["event_id"]]
    assert [handled.ts for handled in conversations.handled] == [
        in_a_thread["ts"],
        in_a_dm["ts"],
    ]


class RevisingConversations(RecordingConversations):
    def __init__(self) -> None:
        super().__init__()
        self.revised: list[IncomingMessage] = []

    async def revise(self, message: IncomingMessage) -> None:
        self.revised.append(message)


async def test_an_edit_is_recorded_only_when_it_may_change_what_the_bot_answered():
    def edit(before: dict[str, Any], text: str, channel: str = "C0GENERAL") -> dict[str, Any]:
        after = {**before, "text": text, "edited": {"user": before["user"], "ts": "1.0"}}
        kind = "im" if channel.startswith("D") else "channel"
        event = message_changed_event(channel, kind, before, after, "1764000001.000100")
        return event_callback(INSTALL, event)

    chatter = {"user": "U0ALICE", "text": "lunch?", "ts": "1764000000.000300"}
    ours = {"user": "U0BOT", "bot_id": "B0BOT", "text": "thinking…", "ts": "1764000000.000600"}
    envelopes = [
        edit(MENTION, "<@U0BOT> hello, better"),  # a question the bot answered
        edit(MENTION, "hello, no mention now"),  # still the question of a round
        edit(chatter, "lunch at noon?"),  # never for the bot
        edit({**chatter, "thread_ts": "1764000000.000100"}, "in a thread"),  # maybe a turn
        edit(chatter, "in a DM", channel="D0ALICE"),
        edit(ours, "the answer"),  # the bot's own streaming edit
    ]
    inbox, conversations = RecordingInbox(), RevisingConversations()
    work = BackgroundWork()
    intake = EventIntake(inbox, conversations, work, replica_id="r1")  # type: ignore[arg-type]
    for envelope in envelopes:
        await intake.receive(envelope)
    await work.drain(grace_seconds=5)

    recorded = [envelopes.index(e) for e in envelopes if e["event_id"] in inbox.accepted]
    assert recorded == [0, 1, 3, 4]
    assert [m.text for m in conversations.revised] == [
        "<@U0BOT> hello, better",
        "hello, no mention now",
        "in a thread",
        "in a DM",
    ]
    assert conversations.handled == []
