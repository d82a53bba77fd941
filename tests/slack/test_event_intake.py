"""Events in: each person's message is recorded and handled once, whichever events carry it.
The real event inbox on each database; the handler behind it (`MessageHandler`) records what
it is handed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.background import BackgroundWork
from bot.chat.in_chat import IN_CHAT_REACTION
from bot.chat.routing import IncomingMessage
from bot.slack.event_intake import EventIntake, installation_team
from storage.database import connect
from storage.inbox import EventInbox
from tests.doubles.slack_payloads import (
    AppInstallation,
    app_mention_event,
    event_callback,
    message_changed_event,
    message_deleted_event,
    message_event,
    reaction_event,
)

INSTALL = AppInstallation("T0CHORUS", "A0CHORUS", "U0BOT")
MENTION = {"user": "U0ALICE", "text": "<@U0BOT> hello", "ts": "1764000000.000100"}


class RecordingHandler:
    """Stands where `Conversations` does: keeps what it is handed. What these tests pin is
    which operation each event is routed to, and for many (a thread reply that turns out to
    be no turn, an edit or deletion of a message the bot never answered) the real one rightly
    does nothing visible; the routing seen through real answers is tests/e2e's."""

    bot_user_id = "U0BOT"

    def __init__(self) -> None:
        self.handled: list[IncomingMessage] = []
        self.resumed: list[IncomingMessage] = []  # of those, the ones handed on as resumed
        self.revised: list[IncomingMessage] = []
        self.forgotten: list[str] = []
        self.picked: list[str] = []
        self.unpinned: list[str] = []

    async def handle(self, message: IncomingMessage, *, resumed: bool = False) -> None:
        self.handled.append(message)
        if resumed:
            self.resumed.append(message)

    async def apologise(self, message: IncomingMessage) -> None:
        raise AssertionError(f"handling {message.ts} failed")

    async def revise(
        self, message: IncomingMessage, *, rewritten: bool, before: IncomingMessage | None
    ) -> None:
        self.revised.append(message)

    async def forget(self, team_id: str, channel_id: str, message_ts: str) -> None:
        self.forgotten.append(message_ts)

    async def choose_in_chat(self, channel_id: str, answer_ts: str, user_id: str) -> None:
        self.picked.append(answer_ts)

    async def unpin_in_chat(self, channel_id: str, answer_ts: str, user_id: str) -> None:
        self.unpinned.append(answer_ts)


@pytest.fixture
async def inbox(database_url: str) -> AsyncIterator[EventInbox]:
    database = await connect(database_url)
    yield EventInbox(database)
    await database.close()


async def receive_all(inbox: EventInbox, *envelopes: dict[str, Any]) -> RecordingHandler:
    handler, work = RecordingHandler(), BackgroundWork()
    intake = EventIntake(inbox, handler, work, replica_id="r1")
    for envelope in envelopes:
        await intake.receive(envelope)
    await work.drain(grace_seconds=5)
    return handler


async def recorded(inbox: EventInbox, *envelopes: dict[str, Any]) -> list[int]:
    """Which of `envelopes` the inbox holds already (asking records the others)."""
    return [
        index
        for index, envelope in enumerate(envelopes)
        if not await inbox.accept(envelope["event_id"], {}, "probe")
    ]


async def test_the_second_event_of_a_mention_is_not_recorded_again(inbox, caplog):
    caplog.set_level(logging.DEBUG, logger="bot.slack.event_intake")
    message = event_callback(INSTALL, message_event("C0GENERAL", "channel", MENTION))
    mention = event_callback(INSTALL, app_mention_event("C0GENERAL", MENTION))

    handler = await receive_all(inbox, message, mention)

    assert await recorded(inbox, message, mention) == [0]
    assert [handled.ts for handled in handler.handled] == [MENTION["ts"]]
    # Said as the message's ts and channel, not as the key the bot remembers it by.
    assert caplog.messages == [
        f"event {mention['event_id']} is a second event of message {MENTION['ts']} in "
        "C0GENERAL; skipped"
    ]


async def test_an_event_another_replica_received_first_is_skipped_without_an_info_line(
    inbox, caplog
):
    """With several replicas every event reaches each of them: the ones that find it
    recorded already skip it many times a minute, which is no news."""
    caplog.set_level(logging.DEBUG, logger="bot.slack.event_intake")
    mention = event_callback(INSTALL, app_mention_event("C0GENERAL", MENTION))
    await receive_all(inbox, mention)

    other_replica, work = RecordingHandler(), BackgroundWork()
    intake = EventIntake(inbox, other_replica, work, replica_id="r2")
    await intake.receive(mention)
    await work.drain(grace_seconds=5)

    assert other_replica.handled == []
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (logging.DEBUG, f"event {mention['event_id']} already received; ignoring the repeat")
    ]


async def test_a_resumed_event_is_handed_on_as_resumed(inbox):
    """What became of its message is then worth a line: the resume warning named it."""
    handler, work = RecordingHandler(), BackgroundWork()
    intake = EventIntake(inbox, handler, work, replica_id="r2")
    left = event_callback(INSTALL, app_mention_event("C0GENERAL", MENTION))
    later = {"user": "U0BOB", "text": "<@U0BOT> and me", "ts": "1764000000.000200"}
    received = event_callback(INSTALL, app_mention_event("C0GENERAL", later))

    intake.resume(left["event_id"], {"team_id": "T0CHORUS", "event": left["event"]})
    await intake.receive(received)
    await work.drain(grace_seconds=5)

    assert [message.ts for message in handler.handled] == [MENTION["ts"], later["ts"]]
    assert [message.ts for message in handler.resumed] == [MENTION["ts"]]


async def test_other_messages_and_edits_are_each_recorded(inbox):
    first = event_callback(INSTALL, message_event("C0GENERAL", "channel", MENTION))
    later = {**MENTION, "ts": "1764000000.000200"}
    second = event_callback(INSTALL, message_event("C0GENERAL", "channel", later))
    elsewhere = event_callback(INSTALL, message_event("C0RANDOM", "channel", MENTION))
    # A mention added by editing the message arrives as an app_mention of the same ts.
    edited = {**MENTION, "text": "<@U0BOT> hello, and one more thing"}
    edit = event_callback(INSTALL, app_mention_event("C0GENERAL", edited))

    handler = await receive_all(inbox, first, second, elsewhere, edit)

    assert await recorded(inbox, first, second, elsewhere, edit) == [0, 1, 2, 3]
    assert len(handler.handled) == 4


async def test_a_channel_message_not_for_the_bot_is_not_recorded(inbox):
    chatter = {"user": "U0ALICE", "text": "lunch?", "ts": "1764000000.000300"}
    in_a_thread = {**chatter, "ts": "1764000000.000400", "thread_ts": "1764000000.000100"}
    in_a_dm = {**chatter, "ts": "1764000000.000500"}
    top_level = event_callback(INSTALL, message_event("C0GENERAL", "channel", chatter))
    # A thread reply may be a turn of the reply thread under an answer: that is looked up.
    reply = event_callback(INSTALL, message_event("C0GENERAL", "channel", in_a_thread))
    direct = event_callback(INSTALL, message_event("D0ALICE", "im", in_a_dm))

    handler = await receive_all(inbox, top_level, reply, direct)

    assert await recorded(inbox, top_level, reply, direct) == [1, 2]
    assert [handled.ts for handled in handler.handled] == [
        in_a_thread["ts"],
        in_a_dm["ts"],
    ]


async def test_the_bots_own_posts_and_edits_are_not_recorded_but_their_deletion_is(inbox):
    # Bolt's own filter of the bot's events is off: it would drop the deletion too.
    answer = {"user": "U0BOT", "bot_id": "B0BOT", "text": "…", "ts": "1764000000.000600"}
    streamed = {**answer, "text": "4 and 6"}
    posted = event_callback(INSTALL, message_event("C0GENERAL", "channel", answer))
    updated = event_callback(
        INSTALL,
        message_changed_event("C0GENERAL", "channel", answer, streamed, "1764000000.000700"),
    )
    deleted = event_callback(
        INSTALL, message_deleted_event("C0GENERAL", "channel", streamed, "1764000000.000800")
    )

    handler = await receive_all(inbox, posted, updated, deleted)

    assert await recorded(inbox, posted, updated, deleted) == [2]
    assert (handler.handled, handler.revised) == ([], [])
    assert handler.forgotten == [answer["ts"]]


async def test_an_edit_is_recorded_only_when_it_may_change_what_the_bot_answered(inbox):
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
    handler = await receive_all(inbox, *envelopes)

    assert await recorded(inbox, *envelopes) == [0, 1, 3, 4]
    assert [m.text for m in handler.revised] == [
        "<@U0BOT> hello, better",
        "hello, no mention now",
        "in a thread",
        "in a DM",
    ]
    assert handler.handled == []


async def test_a_question_deleted_under_its_thread_replies_is_forgotten(inbox):
    tombstone = {"subtype": "tombstone", "user": "USLACKBOT", "text": "This message was deleted."}
    deleted = {**MENTION, **tombstone, "thread_ts": MENTION["ts"]}
    event = message_changed_event("C0GENERAL", "channel", MENTION, deleted, "1764000002.000100")
    envelope = event_callback(INSTALL, event)

    handler = await receive_all(inbox, envelope)

    assert await recorded(inbox, envelope) == [0]
    assert handler.forgotten == [MENTION["ts"]]


async def test_only_the_in_chat_reaction_is_recorded_as_a_pick_or_unpin(inbox):
    answer = {"user": "U0BOT", "ts": "1764000000.000600"}

    def reaction(kind: str, name: str, event_ts: str) -> dict[str, Any]:
        event = reaction_event(kind, "C0GENERAL", answer, "U0ALICE", name, event_ts)
        return event_callback(INSTALL, event)

    pick = reaction("reaction_added", IN_CHAT_REACTION, "1764000003.000100")
    thumbs = reaction("reaction_added", "thumbsup", "1764000003.000200")
    unpin = reaction("reaction_removed", IN_CHAT_REACTION, "1764000003.000300")
    no_thumbs = reaction("reaction_removed", "thumbsup", "1764000003.000400")

    handler = await receive_all(inbox, pick, thumbs, unpin, no_thumbs)

    assert await recorded(inbox, pick, thumbs, unpin, no_thumbs) == [0, 2]
    assert handler.picked == [answer["ts"]] and handler.unpinned == [answer["ts"]]


# The database refuses to record an event as handled, as when it cannot be reached then: a
# fault at the storage edge, the inbox itself left as it is.
REFUSE_FINISHING = {
    "sqlite": [
        "CREATE TRIGGER refuse_finishing BEFORE UPDATE OF finished_at ON handled_events "
        "BEGIN SELECT RAISE(ABORT, 'the database is down'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_finishing() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RAISE EXCEPTION 'the database is down'; END $$",
        "CREATE TRIGGER refuse_finishing BEFORE UPDATE OF finished_at ON handled_events "
        "FOR EACH ROW EXECUTE FUNCTION refuse_finishing()",
    ],
}
ACCEPT_FINISHING = {
    "sqlite": ["DROP TRIGGER refuse_finishing"],
    "postgresql": ["DROP TRIGGER refuse_finishing ON handled_events"],
}


def _execute(session: Session, statements: list[str]) -> None:
    for statement in statements:
        session.execute(text(statement))


async def test_an_event_whose_handled_record_failed_is_recorded_later_not_handled_again(
    inbox, database_url
):
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    await inbox._database.run(_execute, REFUSE_FINISHING[dialect])
    handler, work = RecordingHandler(), BackgroundWork()
    intake = EventIntake(inbox, handler, work, replica_id="r1")
    mention = event_callback(INSTALL, app_mention_event("C0GENERAL", MENTION))

    await intake.receive(mention)
    await work.drain(grace_seconds=5)
    assert len(handler.handled) == 1
    assert intake.in_hand == {mention["event_id"]}, "kept by this replica's heartbeats"

    await inbox._database.run(_execute, ACCEPT_FINISHING[dialect])
    await intake.finish_owed()

    assert intake.in_hand == frozenset()
    stale = await inbox.take_over_unfinished(owner="r2", stale_before=inbox._database.now() + 60)
    assert stale == [], "recorded as handled: nobody takes it over"
    assert len(handler.handled) == 1


async def test_an_event_is_in_hand_only_while_it_is_handled(inbox):
    handler, work = RecordingHandler(), BackgroundWork()
    intake = EventIntake(inbox, handler, work, replica_id="r1")
    mention = event_callback(INSTALL, app_mention_event("C0GENERAL", MENTION))

    await intake.receive(mention)
    assert intake.in_hand == {mention["event_id"]}
    await work.drain(grace_seconds=5)
    assert intake.in_hand == frozenset()


def test_the_team_is_the_installations_even_in_a_channel_another_organisation_hosts():
    shared = {"team_id": "T0HOST", "authorizations": [{"team_id": "T0OURS", "user_id": "U0BOT"}]}
    assert installation_team(shared) == "T0OURS"
    assert installation_team({"team_id": "T0OURS"}) == "T0OURS"
    org_wide = {"team_id": "T0OURS", "authorizations": [{"team_id": None, "enterprise_id": "E1"}]}
    assert installation_team(org_wide) == "T0OURS"
