"""Attached files are downloaded from Slack with the bot token, and from nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web

from bot.chat.attachments import MAX_FILE_BYTES, AttachedFile
from bot.slack.files import SlackFiles
from bot.slack.inbound import attached_files
from bot.slack.web import SlackWeb
from bot.slack.web_client import make_web_client, open_web_session
from tests.doubles import ServerThread, SharedFile, SlackEmulator


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def slack_files(
    emulator: SlackEmulator, session: aiohttp.ClientSession, token: str = ""
) -> SlackFiles:
    """The bot's file access, with `token` (the bot's, unless given) for downloads."""
    web = SlackWeb(make_web_client(emulator.bot_token, emulator.api_url))
    return SlackFiles(web, session, token or emulator.bot_token, emulator.api_url)


def shared(emulator: SlackEmulator, *files: SharedFile) -> list[AttachedFile]:
    message = emulator.post_user_message("C0GENERAL", "U0ALICE", "see attached", files=files)
    return list(attached_files(message["files"]))


async def test_a_shared_file_is_read_with_the_bot_token(emulator, session):
    (notes,) = shared(emulator, SharedFile("notes.txt", "the plan\n"))
    files = slack_files(emulator, session)

    assert await files.read(notes) == b"the plan\n"
    assert [d.authorized for d in emulator.file_downloads()] == [True]


async def test_a_file_near_the_limit_is_read_whole_however_it_arrives(emulator, session):
    content = "0123456789" * (MAX_FILE_BYTES // 10)
    (log,) = shared(emulator, SharedFile("build.log", content))
    files = slack_files(emulator, session)

    assert await files.read(log) == content.encode()


async def test_a_refused_token_gives_nothing_rather_than_the_sign_in_page(emulator, session):
    (notes,) = shared(emulator, SharedFile("notes.txt", "the plan\n"))
    files = slack_files(emulator, session, "xoxb-revoked")

    assert await files.read(notes) is None
    assert [d.authorized for d in emulator.file_downloads()] == [False]


async def test_a_file_larger_than_slack_said_is_not_read(emulator, session):
    (log,) = shared(emulator, SharedFile("build.log", "x" * (MAX_FILE_BYTES + 1)))
    files = slack_files(emulator, session)

    assert await files.read(replace(log, size=10)) is None


async def test_the_token_is_never_sent_to_a_host_that_is_not_slacks(emulator, session):
    received: list[str] = []

    async def record(request: web.Request) -> web.Response:
        received.append(request.headers.get("Authorization", ""))
        return web.Response(text="secret plans")

    app = web.Application()
    app.router.add_get("/{name}", record)
    with ServerThread(app, name="elsewhere") as elsewhere:
        (notes,) = shared(emulator, SharedFile("notes.txt", "the plan\n"))
        # The same machine under another name is another host.
        url = elsewhere.url.replace("127.0.0.1", "localhost") + "/notes.txt"
        files = slack_files(emulator, session)

        assert await files.read(replace(notes, url=url)) is None
    assert received == []
    assert emulator.file_downloads() == []


async def test_a_file_from_another_organisation_is_looked_up_then_read(emulator, session):
    (stub,) = shared(emulator, SharedFile("their-notes.txt", "from them\n", external=True))
    assert not stub.described
    files = slack_files(emulator, session)

    described = await files.describe(stub)
    assert (described.name, described.mimetype, described.described) == (
        "their-notes.txt",
        "text/plain",
        True,
    )
    assert await files.read(described) == b"from them\n"
    assert [call.params["file"] for call in emulator.calls_for("files.info")] == [stub.file_id]


async def test_a_file_that_cannot_be_looked_up_is_named_for_what_it_is(emulator, session):
    files = slack_files(emulator, session)
    unknown = AttachedFile("F0NOPE", file_id="F0NOPE", described=False)

    described = await files.describe(unknown)
    assert described.name == "a file shared from another organisation"
    assert not described.is_text and not described.described


async def test_files_come_through_the_proxy_the_environment_names(emulator, monkeypatch):
    """Where the only way out is a proxy (HTTPS_PROXY, HTTP_PROXY), which slack_sdk and the
    providers' client take from the environment, files are downloaded through it too."""
    through: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        through.append(str(request.url))
        async with (
            aiohttp.ClientSession() as onward,
            onward.get(request.url, headers=request.headers, allow_redirects=False) as got,
        ):
            return web.Response(status=got.status, body=await got.read(), headers=got.headers)

    app = web.Application()
    app.router.add_route("GET", "/{path:.*}", forward)
    with ServerThread(app, name="proxy") as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):  # the lower-case one wins when both are set
            monkeypatch.setenv(name, proxy.url)
        for bypass in ("NO_PROXY", "no_proxy"):  # a CI machine's, which may name 127.0.0.1
            monkeypatch.delenv(bypass, raising=False)
        (notes,) = shared(emulator, SharedFile("notes.txt", "the plan\n"))
        async with open_web_session() as session:
            assert await slack_files(emulator, session).read(notes) == b"the plan\n"
    assert through == [notes.url]
