"""What the doubles are checked with: the bot's credentials, a stand-in request URL, and
Slack's refusals read back."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from aiohttp import web
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.doubles import ServerThread

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"


class RecordingEndpoint:
    """A stand-in for the bot's request URL: acknowledges and keeps every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[dict[str, str], bytes]] = []
        app = web.Application()
        app.router.add_post("/slack/events", self._receive)
        self.server = ServerThread(app, name="recording-endpoint").start()
        self.url = f"{self.server.url}/slack/events"

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self._received.append((dict(request.headers), body))
        return web.Response(text="")

    @property
    def received(self) -> list[tuple[dict[str, str], bytes]]:
        with self._lock:
            return list(self._received)

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


def post_with_a_button(slack: WebClient) -> str:
    """Post a message with one button (action_id "stop", value "a1", block "controls"); its ts."""
    button = {"type": "button", "action_id": "stop", "text": {"type": "plain_text", "text": "Stop"}}
    posted = slack.chat_postMessage(
        channel="C0GENERAL",
        text="streaming",
        blocks=[
            {"type": "actions", "block_id": "controls", "elements": [{**button, "value": "a1"}]}
        ],
    )
    return posted["ts"]
