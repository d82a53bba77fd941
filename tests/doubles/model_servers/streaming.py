"""Sending one scripted answer down a provider's stream, faults included."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.doubles.model_servers.scripts import ModelFault
from tests.doubles.model_servers.wire import StreamContext, WireError, WireFormat

HANG_LIMIT_SECONDS = 600.0
DISCONNECT_POLL_SECONDS = 0.05
KEEP_ALIVE_SECONDS = 0.2


@dataclass(frozen=True)
class ScriptedStream:
    """The reasoning and text chunks to send, their pacing, and the stream fault to end with
    (if any)."""

    chunks: list[str]
    thoughts: list[str] = field(default_factory=list)
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    fault: ModelFault | None = None
    # True once the test needs the rest at once (`FakeModelServer.hurry`): no more delays.
    hurried: Callable[[], bool] = lambda: False

    def delay(self, first: bool) -> float:
        """How long to wait before the next chunk."""
        if self.hurried():
            return 0.0
        return self.first_token_delay if first else self.chunk_delay


async def send_stream(
    request: web.Request, wire: WireFormat, context: StreamContext, stream: ScriptedStream
) -> web.StreamResponse:
    """Answer `request` with `stream` in the wire's format; a vanished client just ends it."""
    response = web.StreamResponse(
        headers={"Content-Type": wire.content_type, "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    # A client that hangs up mid-stream (a Stop button, a timeout) leaves nothing to finish.
    with contextlib.suppress(ConnectionError):
        await _send(request, response, wire, context, stream)
    return response


async def _send(
    request: web.Request,
    response: web.StreamResponse,
    wire: WireFormat,
    context: StreamContext,
    stream: ScriptedStream,
) -> None:
    fault = stream.fault
    kind = fault.stream_fault if fault else None
    if kind == "hang_before_first_token":
        await _wait_for_disconnect(request)
        return
    await _write_all(response, wire.opening(context))
    if kind == "keep_alive_only":
        await _keep_alive_until_disconnect(request, response, wire.keep_alive())
        return
    if kind == "refusal":
        await _write_all(response, wire.closing(context, "refusal"))
        await response.write_eof()
        return
    pieces = stream.chunks if fault is None else stream.chunks[: fault.chunks_before_fault]
    for index, thought in enumerate(stream.thoughts):
        await asyncio.sleep(stream.delay(first=index == 0))
        # A provider that streams no reasoning thinks in silence for as long.
        if event := wire.reasoning(context, thought):
            await response.write(event)
    for index, piece in enumerate(pieces):
        first = index == 0 and not stream.thoughts
        await asyncio.sleep(stream.delay(first))
        await response.write(wire.text(context, piece))
    if fault is None:
        await _write_all(response, wire.closing(context, "stop"))
    elif kind == "cut_after_chunks":
        if request.transport is not None:
            request.transport.close()  # no terminal chunk: the client sees a broken body
        return
    elif kind == "keep_alive_after_chunks":
        await _keep_alive_until_disconnect(request, response, wire.keep_alive())
        return
    elif kind == "output_limit_after_chunks":
        await _write_all(response, wire.closing(context, "output_limit"))
    elif kind == "malformed_after_chunks":
        await response.write(wire.malformed())
    else:
        error = WireError(fault.status, fault.message, fault.error_type)
        await response.write(wire.stream_error(context, error))
    await response.write_eof()


async def _write_all(response: web.StreamResponse, events: list[bytes]) -> None:
    for event in events:
        await response.write(event)


async def _keep_alive_until_disconnect(
    request: web.Request, response: web.StreamResponse, keep_alive: bytes | None
) -> None:
    """Send `keep_alive` every KEEP_ALIVE_SECONDS until the client hangs up (silence without)."""
    if keep_alive is None:
        await _wait_for_disconnect(request)
        return
    deadline = time.monotonic() + HANG_LIMIT_SECONDS
    while time.monotonic() < deadline:
        if request.transport is None or request.transport.is_closing():
            return
        await response.write(keep_alive)
        await asyncio.sleep(KEEP_ALIVE_SECONDS)


async def _wait_for_disconnect(request: web.Request) -> None:
    """Stay silent until the client hangs up (or the server stops, or a long time passes)."""
    deadline = time.monotonic() + HANG_LIMIT_SECONDS
    while time.monotonic() < deadline:
        if request.transport is None or request.transport.is_closing():
            return
        await asyncio.sleep(DISCONNECT_POLL_SECONDS)
