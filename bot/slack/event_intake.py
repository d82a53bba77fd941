"""Slack events in: recorded once before Slack is acknowledged, then handled in the background.

Recording first means a retried event, or the same event at another replica, stops at the
record; and an event whose replica dies mid-way is still there to be taken over.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bot.background import BackgroundWork
from bot.chat.in_chat import IN_CHAT_REACTION
from bot.chat.routing import Ignore, IncomingMessage, route_message
from bot.slack.inbound import (
    edited_message,
    incoming_message,
    message_before_edit,
    rewritten_by_author,
)
from storage.inbox import EventInbox
from storage.rows import SaidAt

log = logging.getLogger(__name__)

# How many recently recorded messages this replica remembers, to skip the second event of
# one message (Slack sends `message` and `app_mention` for every mention).
RECENT_MESSAGES = 10_000


class MessageHandler(Protocol):
    """What handles the events once recorded (`bot.conversation.Conversations`)."""

    @property
    def bot_user_id(self) -> str: ...

    async def handle(self, message: IncomingMessage, *, resumed: bool = False) -> None:
        """`resumed`: its event was left unfinished by a stopped replica."""

    async def apologise(self, message: IncomingMessage) -> None: ...

    async def revise(
        self, message: IncomingMessage, *, rewritten: bool, before: IncomingMessage | None
    ) -> None: ...

    async def forget(self, team_id: str, channel_id: str, message_ts: str) -> None: ...

    async def choose_in_chat(self, channel_id: str, answer_ts: str, user_id: str) -> None: ...

    async def unpin_in_chat(self, channel_id: str, answer_ts: str, user_id: str) -> None: ...


def _deleted_ts(event: dict[str, Any]) -> str | None:
    """The ts of the message a deletion event removes. A message with thread replies is not
    removed but replaced by a tombstone, which Slack reports as `message_changed`."""
    if event.get("subtype") == "message_deleted":
        return event.get("deleted_ts") or None
    changed_to = event.get("message") or {}
    if event.get("subtype") == "message_changed" and changed_to.get("subtype") == "tombstone":
        return changed_to.get("ts") or None
    return None


def _is_in_chat_pin(event: dict[str, Any]) -> bool:
    """The In Chat reaction added to a message, or taken off one."""
    item = event.get("item") or {}
    return (
        event.get("type") in ("reaction_added", "reaction_removed")
        and event.get("reaction") == IN_CHAT_REACTION
        and item.get("type") == "message"
    )


def _never_addressed(message: IncomingMessage) -> bool:
    """A top-level channel message without a mention: never for the bot. (A thread reply may
    be a turn of a reply thread, which only the database can tell.)"""
    return message.is_top_level and isinstance(route_message(message, None), Ignore)


def _message_key(message: IncomingMessage | None) -> tuple[object, ...] | None:
    """(team, channel, ts, hash of the text) of a person's message: the text tells a message
    from its edit, whose event (a mention added) is new."""
    if message is None:
        return None
    return (message.team_id, message.channel_id, message.ts, hash(message.text))


class EventIntake:
    def __init__(
        self,
        inbox: EventInbox,
        conversations: MessageHandler,
        work: BackgroundWork,
        *,
        replica_id: str,
    ) -> None:
        self._inbox = inbox
        self._conversations = conversations
        self._work = work
        self._replica_id = replica_id
        self._recent_messages: dict[tuple[object, ...], None] = {}
        self._in_hand: set[str] = set()  # events being handled here
        self._resumed: set[str] = set()  # of those, the ones a stopped replica left
        self._owed_finishes: set[str] = set()  # handled, but not yet recorded as such

    @property
    def in_hand(self) -> frozenset[str]:
        """The events this replica is responsible for: being handled, or handled with the
        record of it still owed (`finish_owed`). Their heartbeats keep them here."""
        return frozenset(self._in_hand | self._owed_finishes)

    async def finish_owed(self) -> None:
        """Record as handled the events whose record failed (the database was down)."""
        for event_id in list(self._owed_finishes):
            await self._inbox.finish(event_id)
            self._owed_finishes.discard(event_id)

    async def receive(self, body: dict[str, Any]) -> None:
        """Record a relevant event (a person's message, its edit or deletion, an In Chat
        pick) and start handling it; a shutdown meanwhile waits for both."""
        with self._work.in_flight():
            await self._receive(body)

    async def _receive(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        event_id = body.get("event_id")
        team_id = installation_team(body)
        incoming = self._new_message_in(event, team_id)
        edit = edited_message(event, team_id=team_id, bot_user_id=self._bot_user_id)
        if incoming is not None and _never_addressed(incoming):
            return  # nor recorded: the bot keeps no message that was not for it
        if edit is not None and self._edit_never_addressed(edit, event):
            return
        message = _message_key(incoming)
        relevant = (
            _deleted_ts(event) or _is_in_chat_pin(event) or message is not None or edit is not None
        )
        if not event_id or not relevant:
            return
        if incoming is not None and message in self._recent_messages:
            # Its other event is recorded, so it is answered (or taken over) through that one.
            log.debug(
                "event %s is a second event of message %s in %s; skipped",
                event_id,
                incoming.ts,
                incoming.channel_id,
            )
            return
        payload = {"team_id": team_id, "event": event}
        said = (
            None
            if incoming is None
            else SaidAt(incoming.channel_id, incoming.said_in_thread, incoming.ts)
        )
        if await self._inbox.accept(str(event_id), payload, self._replica_id, said):
            if message is not None:
                self._remember(message)
            self.start(str(event_id), payload)
        else:
            # Slack's retry, or (with several replicas) the same event at each replica: the
            # ordinary case, many times a minute, so not worth a line at INFO.
            log.debug("event %s already received; ignoring the repeat", event_id)

    def resume(self, event_id: str, payload: dict[str, Any]) -> None:
        """Handle an event a stopped replica left unfinished. The log names the message it
        brings, as the line on what became of that message does (often: already answered)."""
        incoming = self._new_message_in(payload.get("event") or {}, payload.get("team_id") or "")
        brings = "" if incoming is None else f" (message {incoming.ts} in {incoming.channel_id})"
        log.warning("resuming event %s%s, left unfinished by a stopped replica", event_id, brings)
        self._resumed.add(event_id)
        self.start(event_id, payload)

    def _new_message_in(self, event: dict[str, Any], team_id: str) -> IncomingMessage | None:
        # An edit of a message that mentions the app comes as `app_mention` again, marked
        # `edited`: it is handled as the edit its `message_changed` is, never as a new message.
        if event.get("edited"):
            return None
        return incoming_message(event, team_id=team_id, bot_user_id=self._bot_user_id)

    def start(self, event_id: str, payload: dict[str, Any]) -> None:
        self._in_hand.add(event_id)
        self._work.start(self._process(event_id, payload), name=f"event:{event_id}")

    async def _process(self, event_id: str, payload: dict[str, Any]) -> None:
        try:
            await self._handle(event_id, payload)
        finally:
            self._in_hand.discard(event_id)
            self._resumed.discard(event_id)

    async def _handle(self, event_id: str, payload: dict[str, Any]) -> None:
        event = payload["event"]
        incoming = None
        try:
            if deleted_ts := _deleted_ts(event):
                await self._conversations.forget(payload["team_id"], event["channel"], deleted_ts)
            elif edit := edited_message(
                event, team_id=payload["team_id"], bot_user_id=self._bot_user_id
            ):
                before = message_before_edit(
                    event, team_id=payload["team_id"], bot_user_id=self._bot_user_id
                )
                await self._conversations.revise(
                    edit, rewritten=rewritten_by_author(event), before=before
                )
            elif _is_in_chat_pin(event):
                item = event["item"]
                if event["type"] == "reaction_added":
                    pin = self._conversations.choose_in_chat
                else:
                    pin = self._conversations.unpin_in_chat
                await pin(item["channel"], item["ts"], event["user"])
            else:
                incoming = incoming_message(
                    event, team_id=payload["team_id"], bot_user_id=self._bot_user_id
                )
                if incoming is not None:
                    await self._conversations.handle(incoming, resumed=event_id in self._resumed)
        except asyncio.CancelledError:
            raise  # shutting down: left unfinished, so it is taken over after the restart
        except Exception:
            # Finished all the same: retrying a message that crashes us would crash us again.
            # The person is told, so it is never silently dropped.
            log.exception("handling event %s failed", event_id)
            if incoming is not None:
                await self._conversations.apologise(incoming)
        try:
            await self._inbox.finish(event_id)
        except Exception:
            # Handled all the same: not to be handled again (the person may have been told to
            # send it again), so the record is retried with the heartbeats.
            log.exception("recording event %s as handled failed; retried later", event_id)
            self._owed_finishes.add(event_id)

    @property
    def _bot_user_id(self) -> str:
        return self._conversations.bot_user_id

    def _edit_never_addressed(self, edit: IncomingMessage, event: dict[str, Any]) -> bool:
        """An edit of a top-level channel message that mentions the bot neither before nor
        after: nothing the bot answered changes."""
        before = message_before_edit(event, team_id=edit.team_id, bot_user_id=self._bot_user_id)
        return _never_addressed(edit) and (before is None or _never_addressed(before))

    def _remember(self, message: tuple[object, ...]) -> None:
        self._recent_messages[message] = None
        if len(self._recent_messages) > RECENT_MESSAGES:
            del self._recent_messages[next(iter(self._recent_messages))]


def installation_team(body: Mapping[str, Any]) -> str:
    """The workspace of the installation an event is delivered to, which slash commands come
    from too. In a channel shared with another organisation (Slack Connect) and hosted by it,
    the envelope's `team_id` is the host's; `authorizations` names ours (as Bolt reads it)."""
    authorizations = body.get("authorizations") or [{}]
    return str(authorizations[0].get("team_id") or body.get("team_id") or "")
