"""Bolt listeners: events are recorded and handed on; `/chorus` is answered in its ack; the
Home tab is published when opened; Stop and Regenerate
buttons act on answers."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.background import BackgroundWork
from bot.channel_commands import ChorusCommands
from bot.conversation import Conversations
from bot.slack.app_home import HomeTab
from bot.slack.event_intake import EventIntake
from bot.slack.rendering import REGENERATE_ACTION, STOP_ACTION
from bot.stopping import AnswerStops


def register_listeners(
    app: AsyncApp,
    intake: EventIntake,
    commands: ChorusCommands,
    home: HomeTab,
    stops: AnswerStops,
    conversations: Conversations,
    work: BackgroundWork,
) -> None:
    """`message` and `app_mention` events both lead to the same handling; one mention arrives
    as both, and the claim on the message makes sure it is answered once."""

    async def on_message_event(body: dict[str, Any]) -> None:
        await intake.receive(body)

    app.event("message")(on_message_event)
    app.event("app_mention")(on_message_event)
    app.event("reaction_added")(on_message_event)

    async def on_chorus_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        reply = await commands.run(
            team_id=command["team_id"],
            channel_id=command["channel_id"],
            user_id=command["user_id"],
            text=command.get("text", ""),
        )
        await ack(response_type="in_channel" if reply.public else "ephemeral", text=reply.text)

    app.command("/chorus")(on_chorus_command)

    async def on_app_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") == "home":
            work.start(home.show(event["user"]), name=f"home tab for {event['user']}")

    app.event("app_home_opened")(on_app_home_opened)

    async def on_stop_pressed(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        channel, ts, user = _pressed_on(body)
        work.start(stops.press(channel, ts, user), name=f"stop {ts}")

    async def on_regenerate_pressed(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        channel, ts, user = _pressed_on(body)
        work.start(conversations.regenerate(channel, ts, user), name=f"regenerate {ts}")

    app.action(STOP_ACTION)(on_stop_pressed)
    app.action(REGENERATE_ACTION)(on_regenerate_pressed)


def _pressed_on(body: dict[str, Any]) -> tuple[str, str, str]:
    """(channel, message ts, user) of a button press on a message."""
    container = body["container"]
    return container["channel_id"], container["message_ts"], body["user"]["id"]
