"""Socket Mode's WebSocket, tried again until it opens. Left to itself, slack_sdk's client
retries the one-use URL it holds every 10 s, for ever, each time with an ERROR and a traceback
that do not say what to check: when the URL Slack gives cannot be connected to (a firewall, a
proxy), start-up never ends and a dropped connection is never made again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient

from bot.slack.log_secrets import without_slack_secrets
from bot.slack.slack_errors import slack_error_code, transport_failure, untrusted_certificate
from bot.slack.web_client import proxy_bypassed

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 60.0
_UNREACHABLE = (aiohttp.ClientError, OSError, TimeoutError)


def keep_trying_to_connect(
    socket_client: SocketModeClient, new_url: Callable[[], Awaitable[str]]
) -> None:
    """Have `socket_client` open its WebSocket, at start-up and on each reconnect, through
    `_PersistentWebSockets`, which gets each new URL from `new_url`."""
    persistent = _PersistentWebSockets(socket_client.aiohttp_client_session, new_url)
    # The client calls only `ws_connect`, `closed` and `close` on its session.
    socket_client.aiohttp_client_session = cast(aiohttp.ClientSession, persistent)


class _PersistentWebSockets:
    """The aiohttp session of slack_sdk's Socket Mode client, whose `ws_connect` tries until the
    socket opens: each try after the first with a new URL (a ticket is good for one try), after
    a wait that doubles up to MAX_RETRY_SECONDS, each failure one WARNING line saying what to
    check (never the URL's ticket)."""

    def __init__(
        self, session: aiohttp.ClientSession, new_url: Callable[[], Awaitable[str]]
    ) -> None:
        self._session = session
        self._new_url = new_url

    @property
    def closed(self) -> bool:
        return self._session.closed

    async def close(self) -> None:
        await self._session.close()

    async def ws_connect(self, url: str, **options: Any) -> aiohttp.ClientWebSocketResponse:
        wait = FIRST_RETRY_SECONDS
        while True:
            direct = {"proxy": None} if options.get("proxy") and proxy_bypassed(url) else {}
            try:
                return await self._session.ws_connect(url, **options | direct)
            except _UNREACHABLE as error:
                if self._session.closed:  # the client was closed: it stops trying
                    raise
                failure = _websocket_failure(url, error)
            url = ""
            while not url:
                log.warning("%s; trying again in %.0f s with a new URL", failure, wait)
                await asyncio.sleep(wait)
                wait = min(2 * wait, MAX_RETRY_SECONDS)
                url, failure = await self._url_or_failure()

    async def _url_or_failure(self) -> tuple[str, str]:
        """A new URL from `apps.connections.open`, or "" and why there is none."""
        try:
            return await self._new_url(), ""
        except SlackApiError as error:
            return "", f"Slack gave no Socket Mode URL ({slack_error_code(error)})"
        except _UNREACHABLE as error:
            return "", (
                "cannot reach Slack's Web API for a Socket Mode URL "
                f"({transport_failure(error)}); check SLACK_API_URL and the network"
            )


def _websocket_failure(url: str, error: BaseException) -> str:
    host = urlsplit(url).hostname
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return (
            f"Slack's Socket Mode WebSocket at {host} presented a certificate "
            f"{untrusted_certificate(error)}"
        )
    # aiohttp's message may quote the URL, ticket and all.
    reason = without_slack_secrets(transport_failure(error))
    return (
        f"cannot open the Socket Mode WebSocket to {host} ({reason}); check "
        "that the bot may open outbound WebSocket connections (wss://, port 443) to Slack, "
        "directly or through the proxy HTTPS_PROXY names"
    )
