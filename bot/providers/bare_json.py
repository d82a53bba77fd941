"""Server-sent events, and the JSON a server writes into the same body outside SSE framing.

Gemini aborts a running stream (a quota hit, an overload) by writing its error straight into
the body, pretty-printed over many lines, with no `data:` before it; google-genai reads it by
buffering such lines until they make a whole JSON value. llama.cpp's server (builds before
September 2025) writes an error that comes once its stream has begun on one line under a field
SSE does not have, `error: {...}`, then `data: [DONE]`. The SSE rules, which httpx-sse keeps,
skip those lines, so the answer would seem merely cut off, or even whole."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import httpx
from httpx_sse import ServerSentEvent

# The decoder httpx-sse uses in `EventSource.aiter_sse` (stable within the `<0.5` pin).
from httpx_sse._decoders import SSEDecoder

from bot.providers.event_stream import check_event_stream, event_stream_lines

MAX_BARE_JSON_CHARS = 64 * 1024
"""More than any error body: past it, the lines are not JSON the server meant to send."""

_SSE_FIELDS = ("data:", "event:", "id:", "retry:", ":")
_ERROR_FIELD = "error:"


async def events_and_bare_json(response: httpx.Response) -> AsyncGenerator[ServerSentEvent, None]:
    """The response's events in order, a bare JSON value among them as one event more whose
    `data` is that JSON, as if it had come in a `data:` line; an `error:` line as an `error`
    event whose `data` is what follows the field name."""
    check_event_stream(response)
    reader = _EventLineReader()
    async for line in event_stream_lines(response):
        if (event := reader.read(line)) is not None:
            yield event


class _EventLineReader:
    """Reads one line at a time: SSE lines as httpx-sse does, an `error:` line as an event,
    and lines from one starting with `{` as one bare JSON value, until they parse."""

    def __init__(self) -> None:
        self._events = SSEDecoder()
        self._bare_json: list[str] = []
        self._bare_chars = 0

    def read(self, line: str) -> ServerSentEvent | None:
        if self._bare_json and line.startswith(_SSE_FIELDS):
            # The JSON never closed, and the stream goes on: the lines are dropped, as SSE
            # would have dropped them.
            self._bare_json, self._bare_chars = [], 0
        if not self._bare_json and line.startswith(_ERROR_FIELD):
            return ServerSentEvent(event="error", data=line.removeprefix(_ERROR_FIELD).strip())
        if not self._bare_json and not line.lstrip().startswith("{"):
            return self._events.decode(line)
        self._bare_json.append(line)
        self._bare_chars += len(line) + 1
        text = "\n".join(self._bare_json)
        if self._bare_chars > MAX_BARE_JSON_CHARS:
            self._bare_json, self._bare_chars = [], 0
            return None
        try:
            json.loads(text)
        except (ValueError, RecursionError):  # nested deeper than the parser goes
            return None
        self._bare_json, self._bare_chars = [], 0
        return ServerSentEvent(data=text)
