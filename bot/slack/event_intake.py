"""Slack events in: recorded once before Slack is acknowledged, then handled in the background.

Recording first means a retried event, or the same event at another replica, stops at the
record; and an event whose replica dies mid-way is still there to be taken over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.background import BackgroundWork
from bot.chat.in_chat import IN_CHAT_REACTION
from bot.conversation import Conversations
from bot.slack.inbound import incoming_message
from storage.inbox import EventInbox

log = logging.getLogger(__name__)


def _is_deletion(event: dict[str, Any]) -> bool:
    return event.get("subtype") == "message_deleted" and bool(event.get("deleted_ts"))


def _is_in_chat_pick(event: dict[str, Any]) -> bool:
    item = event.get("item") or {}
    return (
        event.get("type") == "reaction_added"
        and event.get("reaction") == IN_CHAT_REACTION
        and item.get("type") == "message"
    )


class EventIntake:
    def __init__(
        self,
        inbox: EventInbox,
        conversations: Conversations,
        work: BackgroundWork,
        *,
        replica_id: str,
    ) -> None:
        self._inbox = inbox
        self._conversations = conversations
        self._work = work
        self._replica_id = replica_id

    async def receive(self, body: dict[str, Any]) -> None:
        """Record a relevant event (a person's message, a deletion) and start handling it."""
        event = body.get("event") or {}
        event_id = body.get("event_id")
        relevant = (
            _is_deletion(event) or _is_in_chat_pick(event) or self._person_message(body, event)
        )
        if not event_id or not relevant:
            return
        payload = {"team_id": body.get("team_id", ""), "event": event}
        if await self._inbox.accept(str(event_id), payload, self._replica_id):
            self.start(str(event_id), payload)
        else:
            log.info("event %s already received; ignoring the repeat", event_id)

    def start(self, event_id: str, payload: dict[str, Any]) -> None:
        self._work.start(self._process(event_id, payload), name=f"event:{event_id}")

    async def _process(self, event_id: str, payload: dict[str, Any]) -> None:
        event = payload["event"]
        try:
            if _is_deletion(event):
                await self._conversations.forget(event["channel"], event["deleted_ts"])
            elif _is_in_chat_pick(event):
                item = event["item"]
                await self._conversations.choose_in_chat(item["channel"], item["ts"], event["user"])
            else:
                incoming = incoming_message(
                    event,
                    team_id=payload["team_id"],
                    bot_user_id=self._conversations.bot_user_id,
                )
                if incoming is not None:
                    await self._conversations.handle(incoming)
        except asyncio.CancelledError:
            raise  # shutting down: left unfinished, so it is taken over after the restart
        except Exception:
            # Finished all the same: retrying a message that crashes us would crash us again.
            log.exception("handling event %s failed", event_id)
        await self._inbox.finish(event_id)

    def _person_message(self, body: dict[str, Any], event: dict[str, Any]) -> bool:
        team_id = str(body.get("team_id", ""))
        bot_user_id = self._conversations.bot_user_id
        return incoming_message(event, team_id=team_id, bot_user_id=bot_user_id) is not None
