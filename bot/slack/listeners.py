"""Bolt listeners: acknowledge at once, hand the message on, return."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.background import BackgroundWork
from bot.conversation import Conversations
from bot.slack.inbound import incoming_message

log = logging.getLogger(__name__)


def register_listeners(app: AsyncApp, conversations: Conversations, work: BackgroundWork) -> None:
    """`message` and `app_mention` events both lead to the same handling; one mention arrives
    as both, and the storage claim makes sure it is answered once."""

    async def on_message_event(body: dict[str, Any], event: dict[str, Any]) -> None:
        event_id = str(body.get("event_id", ""))
        if event.get("subtype") == "message_deleted" and event.get("deleted_ts"):
            work.start(
                conversations.forget(event["channel"], event["deleted_ts"]),
                name=f"forget:{event_id}",
            )
            return
        incoming = incoming_message(
            event, team_id=str(body.get("team_id", "")), bot_user_id=conversations.bot_user_id
        )
        if incoming is None:
            return
        work.start(conversations.handle(incoming, event_id), name=f"event:{event_id}")

    app.event("message")(on_message_event)
    app.event("app_mention")(on_message_event)
