"""The emulator's Socket Mode speaks to slack_sdk's Socket Mode client as Slack does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from slack_sdk import WebClient
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.doubles import SlackEmulator, SlackEventSender, wait_until
from tests.doubles.slack_emulator.socket_mode import SocketModeError
from tests.test_doubles.scene import TOKEN, post_with_a_button, slack_error


@dataclass
class SocketModeApp:
    """slack_sdk's own Socket Mode client (the bot's, on aiohttp), connected to the emulator:
    keeps every request and acknowledges it (a command with a reply) while `acknowledging`."""

    client: SocketModeClient
    received: list[SocketModeRequest]
    acknowledging: bool = True

    async def on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        self.received.append(request)
        if self.acknowledging:
            reply = {"text": "done"} if request.accepts_response_payload else None
            await client.send_socket_mode_response(SocketModeResponse(request.envelope_id, reply))


@pytest.fixture
async def socket_app(emulator: SlackEmulator) -> AsyncIterator[SocketModeApp]:
    web_client = AsyncWebClient(base_url=emulator.api_url)
    app = SocketModeApp(SocketModeClient(emulator.app_token, web_client=web_client), [])
    app.client.socket_mode_request_listeners.append(app.on_request)
    await app.client.connect()
    await asyncio.to_thread(emulator.socket_mode.wait_for_connection)
    yield app
    await app.client.close()


def test_only_the_app_token_opens_socket_mode_connections(emulator: SlackEmulator):
    client = WebClient(base_url=emulator.api_url)
    url = client.apps_connections_open(app_token=emulator.app_token)["url"]
    assert url.startswith(emulator.url.replace("http://", "ws://") + "/link/?ticket=")
    refusals = [
        slack_error(lambda: client.apps_connections_open(app_token=TOKEN)),
        slack_error(lambda: client.apps_connections_open(app_token="xapp-1-A0CHORUS-1-wrong")),
        slack_error(lambda: WebClient(emulator.app_token, emulator.api_url).auth_test()),
    ]
    assert [error.response["error"] for error in refusals] == [
        "not_allowed_token_type",
        "invalid_auth",
        "not_allowed_token_type",
    ]


def test_urls_served_at_a_front_for_as_many_times_as_asked(emulator: SlackEmulator):
    client = WebClient(base_url=emulator.api_url)
    emulator.socket_mode.serve_at("https://127.0.0.1:4443", times=2)
    urls = [client.apps_connections_open(app_token=emulator.app_token)["url"] for _ in range(3)]
    fronted = "wss://127.0.0.1:4443/link/?ticket="
    assert [url.startswith(fronted) for url in urls] == [True, True, False]
    assert urls[2].startswith(emulator.url.replace("http://", "ws://") + "/link/?ticket=")


def test_pushing_without_a_connection_fails(emulator: SlackEmulator):
    with pytest.raises(SocketModeError, match="no Socket Mode connection is open"):
        emulator.socket_mode.deliver({"type": "event_callback"})


async def test_a_ticket_opens_one_connection_only(emulator: SlackEmulator):
    web_client = AsyncWebClient(base_url=emulator.api_url)
    url = (await web_client.apps_connections_open(app_token=emulator.app_token))["url"]
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        hello = await socket.receive_json()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url)
    assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": "A0CHORUS"}
    assert refused.value.status == 401
    assert len(emulator.socket_mode.connections()) == 1


async def test_events_go_over_the_socket_and_their_acks_are_recorded(
    emulator: SlackEmulator, sender: SlackEventSender, socket_app: SocketModeApp
):
    await asyncio.to_thread(
        lambda: sender.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> hi", to=[emulator.socket_mode])
    )

    message, mention = socket_app.received
    assert [message.payload, mention.payload] == sender.last_envelopes
    assert mention.payload["event"]["type"] == "app_mention"
    assert (message.type, message.retry_attempt, message.retry_reason) == ("events_api", 0, "")
    assert not message.accepts_response_payload
    deliveries = emulator.socket_mode.deliveries()
    assert sender.last_responses == deliveries
    assert [d.envelope_id for d in deliveries] == [message.envelope_id, mention.envelope_id]
    assert all(d.acked and d.ack_payload is None for d in deliveries)


async def test_a_redelivery_carries_its_attempt_and_a_missing_ack_is_recorded(
    emulator: SlackEmulator, sender: SlackEventSender, socket_app: SocketModeApp
):
    envelope = sender.envelope({"type": "app_home_opened", "user": "U0ALICE"})
    socket_app.acknowledging = False
    delivery = await asyncio.to_thread(
        lambda: emulator.socket_mode.deliver(
            envelope, retry_attempt=2, retry_reason="timeout", timeout=0.2
        )
    )
    assert not delivery.acked and delivery.ack_seconds is None
    (request,) = await asyncio.to_thread(wait_until, lambda: socket_app.received)
    assert (request.retry_attempt, request.retry_reason) == (2, "timeout")
    assert request.payload["event_id"] == envelope["event_id"]


async def test_a_slash_command_goes_over_the_socket_and_its_ack_carries_the_reply(
    emulator: SlackEmulator, sender: SlackEventSender, socket_app: SocketModeApp
):
    delivery = await asyncio.to_thread(
        lambda: sender.user_runs_command("C0GENERAL", "U0ALICE", "help", to=emulator.socket_mode)
    )
    (request,) = socket_app.received
    assert (request.type, request.accepts_response_payload) == ("slash_commands", True)
    assert (request.payload["command"], request.payload["text"]) == ("/chorus", "help")
    assert request.payload["channel_id"] == "C0GENERAL" and request.payload["user_id"] == "U0ALICE"
    assert delivery.envelope_type == "slash_commands" and delivery.ack_payload == {"text": "done"}


async def test_a_button_click_goes_over_the_socket_as_an_interactive_envelope(
    emulator: SlackEmulator, sender: SlackEventSender, socket_app: SocketModeApp, slack: WebClient
):
    ts = post_with_a_button(slack)
    delivery = await asyncio.to_thread(
        lambda: sender.user_clicks("C0GENERAL", ts, "stop", "U0BOB", to=emulator.socket_mode)
    )
    (request,) = socket_app.received
    assert (request.type, request.accepts_response_payload) == ("interactive", False)
    click = request.payload
    assert click["type"] == "block_actions" and click["container"]["message_ts"] == ts
    assert (click["user"]["id"], click["actions"][0]["value"]) == ("U0BOB", "a1")
    assert delivery.envelope_type == "interactive" and delivery.payload == click
    assert delivery.acked and delivery.ack_payload is None
