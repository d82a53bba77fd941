"""The bot's Web API client on its kept-open session goes through the proxy the environment
names, though the session itself does not look the environment up on every call; it waits
out a 429 whatever form its Retry-After comes in."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from bot.slack.web import SlackWeb
from bot.slack.web_client import _whole_seconds, make_web_client, open_web_session
from tests.doubles import ServerThread, SlackEmulator


async def test_web_api_calls_on_the_bots_session_come_through_the_environments_proxy(
    monkeypatch,
):
    through: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        through.append(request.url.path)
        async with (
            aiohttp.ClientSession() as onward,
            onward.request(
                request.method, request.url, headers=request.headers, data=await request.read()
            ) as got,
        ):
            return web.Response(status=got.status, body=await got.read(), headers=got.headers)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", forward)
    with SlackEmulator() as emulator, ServerThread(app, name="proxy") as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for bypass in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(bypass, raising=False)
        async with open_web_session() as session:
            assert not session.trust_env
            slack = SlackWeb(make_web_client(emulator.bot_token, emulator.api_url, session=session))
            await slack.token_identity()
    assert through == ["/api/auth.test"]


@pytest.mark.parametrize(
    "retry_after",
    [
        "0.5",  # a fraction, as some proxies send
        "Thu, 01 Jan 1970 00:00:00 GMT",  # an HTTP date (RFC 9110), long past
        "soon",  # nothing a wait can be read from
        "nan",
    ],
)
async def test_a_rate_limit_is_waited_out_whatever_its_retry_after_says(retry_after):
    """slack_sdk reads Retry-After as whole seconds only, and fails the call on any other."""
    with SlackEmulator() as emulator:
        emulator.inject("auth.test", status=429, retry_after=retry_after)
        async with open_web_session() as session:
            slack = SlackWeb(make_web_client(emulator.bot_token, emulator.api_url, session=session))
            await slack.token_identity()
        assert [call.status for call in emulator.calls_for("auth.test")] == [429, 200]


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [
        ("30", 30),
        ("1e308", 3600),  # a proxy's mistake: not a call held for ever
        ("Wed, 21 Oct 2099 07:28:00 -0000", 3600),
        ("-5", 0),
    ],
)
def test_a_retry_after_is_waited_for_an_hour_at_most(retry_after, seconds):
    assert _whole_seconds(retry_after) == seconds
