"""Slack's side of Socket Mode: single-use connection tickets, the WebSocket, envelopes pushed
to the app and the acknowledgements it sends back. Runs in the emulator's event loop; the
records are safe to read from any thread."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSCloseCode, WSMsgType, web

from tests.doubles.bot_process import free_port
from tests.doubles.slack_emulator.socket_messages import (
    Ack,
    EnvelopeType,
    disconnect_message,
    envelope_message,
    hello_message,
    read_ack,
)

SOCKET_PATH = "/link/"  # as Slack's: wss://wss-primary.slack.com/link/?ticket=…&app_id=…


class SocketModeError(RuntimeError):
    """An envelope cannot be pushed: no Socket Mode connection is open."""


@dataclass
class SocketConnection:
    """One WebSocket the app opened with a ticket from `apps.connections.open`."""

    ticket: str
    opened_at: float  # time.monotonic()
    closed_at: float | None = None
    pings: int = 0  # answered with a pong carrying the same data

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass
class SocketDelivery:
    """One envelope pushed over a connection, and the app's acknowledgement once it came."""

    envelope_id: str
    envelope_type: EnvelopeType
    payload: dict[str, Any]
    retry_attempt: int
    retry_reason: str
    ticket: str  # of the connection it went over
    pushed_at: float  # time.monotonic()
    acked_at: float | None = None
    ack_payload: dict[str, Any] | None = None

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def ack_seconds(self) -> float | None:
        """The time from push to acknowledgement (None while unacknowledged)."""
        return None if self.acked_at is None else self.acked_at - self.pushed_at


class SocketModeServer:
    """Issues tickets, serves `GET /link/?ticket=…` and pushes envelopes to the newest
    open connection, as Slack sends each envelope to one of an app's connections."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: list[SocketConnection] = []
        self._deliveries: dict[str, SocketDelivery] = {}
        self._unreachable_urls = 0
        self._served_at: str | None = None
        self._served_at_times: int | None = None  # None: every URL from `serve_at` on
        # Touched only in the event loop:
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._ack_events: dict[str, asyncio.Event] = {}

    # -- apps.connections.open -----------------------------------------------------------------

    def open_url(self, base_url: str) -> dict[str, Any]:
        """The body of `apps.connections.open`: a WebSocket URL with a fresh one-use ticket."""
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
            unreachable = self._unreachable_urls > 0
            if unreachable:
                self._unreachable_urls -= 1
            if self._served_at is not None:
                base_url = self._served_at
                if self._served_at_times is not None:
                    self._served_at_times -= 1
                    if self._served_at_times == 0:
                        self._served_at = None
        if unreachable:  # as the app sees Slack's WebSocket host behind a firewall
            base_url = f"http://127.0.0.1:{free_port()}"
        query = urlencode({"ticket": ticket, "app_id": self.app_id})
        return {"url": f"ws{base_url.removeprefix('http')}{SOCKET_PATH}?{query}"}

    def serve_at(self, base_url: str, *, times: int | None = None) -> None:
        """The next `times` URLs given (all, with None) are at `base_url` (`https://…` for a
        `wss://` URL), a front to this server, not at the emulator's own address."""
        with self._lock:
            self._served_at, self._served_at_times = base_url, times

    def make_urls_unreachable(self, times: int) -> None:
        """The next `times` URLs point at a port nothing listens on."""
        with self._lock:
            self._unreachable_urls += times

    # -- the WebSocket -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if not self._redeem(ticket):
            return web.Response(status=401, text="invalid or used ticket")
        socket = web.WebSocketResponse(autoping=False)
        await socket.prepare(request)
        connection = self._opened(ticket, socket)
        try:
            await socket.send_json(hello_message(self.app_id, len(self._sockets)))
            await self._receive(connection, socket)
        finally:
            self._closed(connection)
        return socket

    async def _receive(self, connection: SocketConnection, socket: web.WebSocketResponse) -> None:
        async for message in socket:  # ends when either side closes
            if message.type == WSMsgType.PING:
                await socket.pong(message.data)
                with self._lock:
                    connection.pings += 1
            elif message.type == WSMsgType.TEXT:
                ack = read_ack(message.data)
                if ack is not None:
                    self._record_ack(ack)

    def _redeem(self, ticket: str) -> bool:
        with self._lock:
            if ticket not in self._tickets:
                return False
            self._tickets.discard(ticket)
            return True

    def _opened(self, ticket: str, socket: web.WebSocketResponse) -> SocketConnection:
        connection = SocketConnection(ticket, time.monotonic())
        self._sockets[ticket] = socket
        with self._lock:
            self._connections.append(connection)
        return connection

    def _closed(self, connection: SocketConnection) -> None:
        self._sockets.pop(connection.ticket, None)
        with self._lock:
            connection.closed_at = time.monotonic()

    def _record_ack(self, ack: Ack) -> None:
        with self._lock:
            delivery = self._deliveries.get(ack.envelope_id)
            if delivery is None or delivery.acked:
                return  # Slack ignores unknown and repeated acknowledgements
            delivery.acked_at = time.monotonic()
            delivery.ack_payload = ack.payload
        self._ack_events[ack.envelope_id].set()

    # -- pushing -------------------------------------------------------------------------------

    async def deliver(
        self,
        envelope: dict[str, Any],
        envelope_type: EnvelopeType,
        retry_attempt: int,
        retry_reason: str,
        ack_timeout: float,
    ) -> SocketDelivery:
        """Push `envelope` and wait up to `ack_timeout` s for its acknowledgement."""
        envelope_id = await self.push(envelope, envelope_type, retry_attempt, retry_reason)
        # On a timeout the record shows the envelope unacknowledged.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ack_events[envelope_id].wait(), ack_timeout)
        return self.delivery(envelope_id)

    async def push(
        self,
        envelope: dict[str, Any],
        envelope_type: EnvelopeType,
        retry_attempt: int,
        retry_reason: str,
    ) -> str:
        """Send `envelope` as an `envelope_type` message; returns its envelope_id."""
        ticket, socket = self._newest_open_socket()
        envelope_id = str(uuid.uuid4())
        payload = copy.deepcopy(envelope)
        self._ack_events[envelope_id] = asyncio.Event()
        with self._lock:
            self._deliveries[envelope_id] = SocketDelivery(
                envelope_id,
                envelope_type,
                payload,
                retry_attempt,
                retry_reason,
                ticket,
                time.monotonic(),
            )
        message = envelope_message(envelope_type, envelope_id, payload, retry_attempt, retry_reason)
        await socket.send_json(message)
        return envelope_id

    async def request_reconnect(self, reason: str) -> None:
        """Tell every open connection that Slack will close it, so the app opens a new one."""
        for socket in list(self._sockets.values()):
            await socket.send_json(disconnect_message(reason))

    async def close_connections(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        """Close every open connection from Slack's side."""
        for socket in list(self._sockets.values()):
            await socket.close(code=code, message=b"closed by the Slack emulator")

    async def on_shutdown(self, _app: web.Application) -> None:
        await self.close_connections()

    def _newest_open_socket(self) -> tuple[str, web.WebSocketResponse]:
        for ticket, socket in reversed(self._sockets.items()):
            if not socket.closed:
                return ticket, socket
        raise SocketModeError("no Socket Mode connection is open")

    # -- records -------------------------------------------------------------------------------

    def connections(self) -> list[SocketConnection]:
        with self._lock:
            return [dataclasses.replace(connection) for connection in self._connections]

    def deliveries(self) -> list[SocketDelivery]:
        with self._lock:
            return [copy.deepcopy(delivery) for delivery in self._deliveries.values()]

    def delivery(self, envelope_id: str) -> SocketDelivery:
        with self._lock:
            return copy.deepcopy(self._deliveries[envelope_id])
