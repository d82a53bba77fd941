"""The emulator's Socket Mode as a synchronous test drives it: wait for the app to connect,
push envelopes and wait for their acknowledgements, ask the app to reconnect."""

from __future__ import annotations

from typing import Any

from tests.doubles.server_thread import ServerThread
from tests.doubles.slack_emulator.socket_messages import EnvelopeType
from tests.doubles.slack_emulator.socket_mode import (
    SocketConnection,
    SocketDelivery,
    SocketModeServer,
)
from tests.doubles.waiting import DEFAULT_TIMEOUT_SECONDS, wait_until

# What Slack allows an app before it redelivers an envelope.
ACK_DEADLINE_SECONDS = 3.0
# Slack retries an Events API event it had no acknowledgement for up to 3 times (over HTTP
# nearly at once, then after 1 and 5 minutes); over Socket Mode each retry is a new envelope
# numbered `retry_attempt` 1 to 3 with `retry_reason` "timeout", the first numbered 0. Slash
# commands and interactions are never sent again.
MAX_RETRY_ATTEMPTS = 3


class SocketModeLink:
    """Thread-safe handle on the emulator's Socket Mode; pass it as a delivery target
    (`SlackEventSender.user_says(..., to=[slack.socket_mode])`)."""

    def __init__(self, server: SocketModeServer, thread: ServerThread) -> None:
        self._server = server
        self._thread = thread

    def deliver(
        self,
        envelope: dict[str, Any],
        *,
        envelope_type: EnvelopeType = "events_api",
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 10.0,
    ) -> SocketDelivery:
        """Push `envelope` (an Events API envelope, a slash command's fields or an interaction's
        payload) to the newest open connection and wait up to `timeout` s for the ack; the
        returned record says whether and when it came, with its payload. SocketModeError if no
        connection is open."""
        delivery = self._server.deliver(
            envelope, envelope_type, retry_attempt, retry_reason, timeout
        )
        return self._thread.run(delivery, timeout=timeout + 5.0)

    def redeliver(self, delivery: SocketDelivery, *, timeout: float = 10.0) -> SocketDelivery:
        """Slack's next retry of an event envelope the app did not acknowledge in time (its
        ack missed ACK_DEADLINE_SECONDS, or never came); ValueError for one Slack would not
        send again."""
        late = delivery.ack_seconds is None or delivery.ack_seconds > ACK_DEADLINE_SECONDS
        if delivery.envelope_type != "events_api" or not late:
            raise ValueError(f"Slack sends envelope {delivery.envelope_id} no more")
        if delivery.retry_attempt >= MAX_RETRY_ATTEMPTS:
            raise ValueError(f"Slack gave up on envelope {delivery.envelope_id}")
        return self.deliver(
            delivery.payload,
            retry_attempt=delivery.retry_attempt + 1,
            retry_reason="timeout",
            timeout=timeout,
        )

    def wait_for_connection(
        self, *, since: float | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> SocketConnection:
        """The newest open connection (opened at or after monotonic time `since`, if given)."""

        def connected() -> SocketConnection | None:
            for connection in reversed(self.connections()):
                if connection.is_open and (since is None or connection.opened_at >= since):
                    return connection
            return None

        return wait_until(
            connected, timeout=timeout, message=f"no Socket Mode connection within {timeout} s"
        )

    def request_reconnect(self, reason: str = "refresh_requested") -> None:
        """Send `{"type": "disconnect", "reason": ...}` to every open connection."""
        self._thread.run(self._server.request_reconnect(reason))

    def close_connections(self) -> None:
        """Slack drops every open connection (close code 1001)."""
        self._thread.run(self._server.close_connections())

    def serve_at(self, base_url: str, *, times: int | None = None) -> None:
        """The next `times` URLs `apps.connections.open` gives (all, with None) are at
        `base_url`, a front to the emulator (`re_signed(slack.url)`: `wss://` URLs, as
        Slack's are)."""
        self._server.serve_at(base_url, times=times)

    def make_urls_unreachable(self, times: int) -> None:
        """The next `times` URLs `apps.connections.open` gives cannot be connected to, as when
        a firewall or a proxy keeps the app from Slack's WebSocket (the call itself succeeds)."""
        self._server.make_urls_unreachable(times)

    def connections(self) -> list[SocketConnection]:
        """Every connection the app opened, oldest first."""
        return self._server.connections()

    def open_connections(self) -> list[SocketConnection]:
        return [connection for connection in self.connections() if connection.is_open]

    def deliveries(self) -> list[SocketDelivery]:
        """Every envelope pushed, oldest first, with its acknowledgement if it came."""
        return self._server.deliveries()
