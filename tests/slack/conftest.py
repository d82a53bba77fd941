from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.slack.web import SlackWeb
from bot.slack.web_client import make_web_client
from tests.doubles.slack_emulator import SlackEmulator


@pytest.fixture
async def web() -> AsyncIterator[tuple[SlackWeb, SlackEmulator]]:
    """The bot's Slack client, talking to a fresh emulator."""
    emulator = SlackEmulator().start()
    client = make_web_client(emulator.bot_token, emulator.api_url)
    yield SlackWeb(client), emulator
    emulator.stop()
