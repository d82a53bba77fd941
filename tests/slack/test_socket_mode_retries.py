"""Socket Mode's WebSocket tried again with a new URL: what the log says of a failed try."""

from __future__ import annotations

import logging
from typing import Any, cast

import aiohttp
from aiohttp import RequestInfo, WSServerHandshakeError
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot.slack import socket_mode
from bot.slack.socket_mode import _PersistentWebSockets

FIRST_URL = "wss://wss-primary.slack.com/link/?ticket=first-ticket&app_id=A0CHORUS"
NEW_URL = "wss://wss-primary.slack.com/link/?ticket=new-ticket&app_id=A0CHORUS"


class RefusingOnce:
    """A session whose first WebSocket handshake is refused (HTTP 401), as for a stale ticket."""

    closed = False

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def ws_connect(self, url: str, **_options: Any) -> str:
        self.urls.append(url)
        if len(self.urls) == 1:
            info = RequestInfo(URL(url), "GET", CIMultiDictProxy(CIMultiDict()), URL(url))
            raise WSServerHandshakeError(info, (), status=401, message="Invalid response status")
        return "connected"


async def test_a_refused_handshake_is_one_line_without_the_ticket(monkeypatch, caplog):
    monkeypatch.setattr(socket_mode, "FIRST_RETRY_SECONDS", 0.01)
    session = RefusingOnce()

    async def new_url() -> str:
        return NEW_URL

    sockets = _PersistentWebSockets(cast(aiohttp.ClientSession, session), new_url)
    with caplog.at_level(logging.WARNING):
        assert await sockets.ws_connect(FIRST_URL, heartbeat=10) == "connected"

    assert session.urls == [FIRST_URL, NEW_URL]
    (line,) = caplog.messages
    assert "to wss-primary.slack.com (WSServerHandshakeError: 401" in line
    assert "ticket=(redacted)" in line and "first-ticket" not in line
    assert line.endswith("; trying again in 0 s with a new URL")
    assert not [record for record in caplog.records if record.exc_info]
