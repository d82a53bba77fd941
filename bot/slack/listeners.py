"""Bolt listeners: record the event, hand it on, let Bolt acknowledge."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.event_intake import EventIntake


def register_listeners(app: AsyncApp, intake: EventIntake) -> None:
    """`message` and `app_mention` events both lead to the same handling; one mention arrives
    as both, and the claim on the message makes sure it is answered once."""

    async def on_message_event(body: dict[str, Any]) -> None:
        await intake.receive(body)

    app.event("message")(on_message_event)
    app.event("app_mention")(on_message_event)
