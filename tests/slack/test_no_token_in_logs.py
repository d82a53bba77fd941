"""A Slack host (or a proxy before it) answering what aiohttp cannot parse: the failure is
logged, without the request's headers and so without the bot token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError

from bot.chat.attachments import AttachedFile
from bot.slack.files import SlackFiles
from bot.slack.rendering import SlackMessage
from bot.slack.web import SlackWeb
from bot.slack.web_client import make_web_client

TOKEN = "xoxb-never-in-a-log"


@pytest.fixture
async def garbled_host() -> AsyncIterator[str]:
    """The base URL of a server whose every answer has an unreadable status line."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 2OO NOT-A-STATUS\r\nX: y\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_a_failed_download_is_logged_without_the_token_or_the_file_name(garbled_host, caplog):
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as session:
        web = SlackWeb(make_web_client(TOKEN, f"{garbled_host}/api/", session=session))
        files = SlackFiles(web, session, TOKEN, f"{garbled_host}/api/")
        note = AttachedFile(
            "a.txt", "text/plain", "text", 5, url=f"{garbled_host}/files/a.txt", file_id="F1"
        )
        assert await files.read(note) is None
    assert "F1 (text/plain) not downloaded" in caplog.text
    assert "a.txt" not in caplog.text  # a file's name is something a person said
    assert TOKEN not in caplog.text


async def test_a_web_api_failure_is_logged_without_the_token(garbled_host, caplog):
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as session:
        web = SlackWeb(make_web_client(TOKEN, f"{garbled_host}/api/", session=session))
        with pytest.raises(SlackApiError):
            await web.update("C1", "1.0", SlackMessage("x", []), answer_id=1)
    assert "no answer from Slack" in caplog.text
    assert TOKEN not in caplog.text
