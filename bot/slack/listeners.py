"""Bolt listeners: events are recorded and handed on; `/chorus` is answered in its ack (or,
held up, by its response_url after); the Home tab is published when opened; Stop and
Regenerate buttons act on answers."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.background import BackgroundWork
from bot.channel_commands import ChorusCommands, CommandReply
from bot.chat.quoting import quoted
from bot.regenerating import Regenerating
from bot.slack.app_home import HomeTab
from bot.slack.event_intake import EventIntake
from bot.slack.rendering import REGENERATE_ACTION, STOP_ACTION
from bot.stopping import AnswerStops

log = logging.getLogger(__name__)


def slack_retry(headers: Mapping[str, Sequence[str]]) -> str | None:
    """Which of Slack's retries a delivery is, from its `X-Slack-Retry-Num` and `-Reason`
    headers (as Bolt hands them on, in lower case): "retry 2, http_timeout"; None for a first
    delivery, which over Socket Mode comes numbered: `retry_attempt` 0, handed on as "0"."""
    number = next(iter(headers.get("x-slack-retry-num", ())), None)
    if not number or number == "0":
        return None
    reason = next(iter(headers.get("x-slack-retry-reason", ())), None)
    return f"retry {number}, {reason}" if reason else f"retry {number}"


def register_listeners(
    app: AsyncApp,
    intake: EventIntake,
    commands: ChorusCommands,
    home: HomeTab,
    stops: AnswerStops,
    regenerating: Regenerating,
    work: BackgroundWork,
) -> None:
    """`message`, `app_mention`, `reaction_added` and `reaction_removed` events are recorded,
    acknowledged, then handled; one mention arrives as both of the first two, and the claim on
    the message makes sure it is answered once. Each retry Slack sends is noted in the log."""

    async def note_slack_retries(
        body: dict[str, Any], request: AsyncBoltRequest, next_: Callable[[], Awaitable[None]]
    ) -> None:
        if retry := slack_retry(request.headers):
            # Slack had no acknowledgement of an earlier delivery (in time): worth a line, as
            # Slack turns an app's events off when that keeps happening.
            log.info("Slack delivered event %s again (%s)", body.get("event_id"), retry)
        await next_()

    app.middleware(note_slack_retries)

    async def note_rate_limiting(
        body: dict[str, Any], next_: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        if body.get("type") != RATE_LIMITED:
            await next_()
            return None
        log.warning(rate_limited_line(body))
        # Acknowledged like any delivery: Slack counts what is not answered 200 as failed.
        return BoltResponse(status=200, body="")

    app.middleware(note_rate_limiting)

    async def record_event(body: dict[str, Any]) -> None:
        await intake.receive(body)

    app.event("message")(record_event)
    app.event("app_mention")(record_event)
    app.event("reaction_added")(record_event)
    app.event("reaction_removed")(record_event)

    async def on_chorus_command(
        ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]
    ) -> None:
        text = command.get("text", "")
        # Background work from the start: should this listener be cancelled or left behind
        # (the bot shutting down) before the reply, shutdown still waits for the command.
        running = work.start(
            commands.run(
                team_id=command["team_id"],
                channel_id=command["channel_id"],
                user_id=command["user_id"],
                text=text,
                place=command_place(command),
            ),
            name=f"/chorus in {command['channel_id']}",
        )
        # asyncio.wait leaves the command running past the timeout.
        await asyncio.wait({running}, timeout=COMMAND_REPLY_SECONDS)
        if running.done():
            reply = running.result()
            await ack(response_type=_response_type(reply), text=reply.text)
            return
        await ack(response_type="ephemeral", text=_still_working(text))
        work.start(
            _reply_when_done(running, respond), name=f"/chorus reply in {command['channel_id']}"
        )

    app.command("/chorus")(on_chorus_command)

    async def on_app_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") == "home":
            work.start(home.show(event["user"]), name=f"home tab for {event['user']}")

    app.event("app_home_opened")(on_app_home_opened)

    async def on_stop_pressed(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        press = ButtonPress.of(body)
        stopping = stops.press(
            press.channel, press.ts, press.user, thread_ts=press.thread_ts, handle=press.handle
        )
        work.start(stopping, name=f"stop {press.ts}")

    async def on_regenerate_pressed(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        press = ButtonPress.of(body)
        regeneration = regenerating.regenerate(
            press.channel, press.ts, press.user, thread_ts=press.thread_ts
        )
        work.start(regeneration, name=f"regenerate {press.ts}")

    app.action(STOP_ACTION)(on_stop_pressed)
    app.action(REGENERATE_ACTION)(on_regenerate_pressed)

    async def acknowledge_only() -> None:
        """An event the app was subscribed to (by an admin, beyond the manifest) that the bot
        has no use for: acknowledged, or Slack would send it again and count it as failed."""

    app.event(_ANY_EVENT)(acknowledge_only)  # last: the listeners above come first


_ANY_EVENT = re.compile(".*")
# Slack gives a slash command 3 s to be acknowledged before it shows the person an error of
# its own; a reply not ready well before then (the database slow to answer) follows later.
COMMAND_REPLY_SECONDS = 2.0


# The envelope (no event inside) Slack sends to the request URL when it holds back the app's
# events of a workspace: over 30,000 an hour.
RATE_LIMITED = "app_rate_limited"


def rate_limited_line(body: Mapping[str, Any]) -> str:
    """What the log says of an `app_rate_limited` envelope: messages said meanwhile are not
    delivered, so go unanswered."""
    minute = body.get("minute_rate_limited")
    since = ""
    if type(minute) is int and 0 < minute < 2**32:  # a time: Slack's epoch seconds
        since = time.strftime(" since %H:%M UTC", time.gmtime(minute))
    return (
        f"Slack is holding back this app's events from workspace {body.get('team_id')}{since} "
        "(app_rate_limited: over 30,000 events an hour); messages meanwhile go unanswered"
    )


def _response_type(reply: CommandReply) -> str:
    return "in_channel" if reply.public else "ephemeral"


def _still_working(text: str) -> str:
    return (
        f"Still working on {quoted('/chorus ' + text)}: my database is slow to answer right "
        "now. The reply will follow here."
    )


async def _reply_when_done(running: asyncio.Future[CommandReply], respond: AsyncRespond) -> None:
    """The reply to a command acknowledged before it was done, by the command's response_url
    (valid for 30 minutes)."""
    reply = await running
    await respond(response_type=_response_type(reply), text=reply.text)


def command_place(command: dict[str, Any]) -> str:
    """What a slash command was run in, as a reply names it: Slack names a DM's channel
    `directmessage` and a group DM's `mpdm-…`."""
    name = command.get("channel_name") or ""
    if name == "directmessage" or command["channel_id"].startswith("D"):
        return "DM"
    return "conversation" if name.startswith("mpdm-") else "channel"


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """Who pressed a button on which message (and in which thread, if any)."""

    channel: str
    ts: str
    thread_ts: str | None
    user: str
    handle: str | None  # the presser's Slack handle, for one users.info does not describe

    @classmethod
    def of(cls, body: dict[str, Any]) -> ButtonPress:
        container = body["container"]
        return cls(
            channel=container["channel_id"],
            ts=container["message_ts"],
            thread_ts=container.get("thread_ts"),
            user=body["user"]["id"],
            handle=body["user"].get("username") or body["user"].get("name"),
        )
