"""A response body read as server-sent events, framed as httpx-sse frames them, but with a bound
on each event: a server that sends one line without end (or an event whose lines never end
with the blank line that closes it) would otherwise be held in memory until the bot runs out."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import httpx
from httpx_sse import ServerSentEvent, SSEError

# httpx-sse reads SSE lines only inside `EventSource.aiter_sse`; these are the decoders it
# uses there (stable within the `<0.5` pin), so events are framed exactly as it frames them.
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

MAX_EVENT_CHARS = 8 * 1024 * 1024
"""Far more than any event a provider sends: the longest is OpenAI Responses'
`response.completed`, which repeats the whole answer (128k output tokens, about 1 MB)."""


class EventTooLarge(Exception):
    """An event (its lines so far, or one line not yet ended) grew past `MAX_EVENT_CHARS`."""

    def __init__(self) -> None:
        super().__init__(f"an event over {MAX_EVENT_CHARS // (1024 * 1024)} MB long")


def check_event_stream(response: httpx.Response) -> None:
    """Raise `SSEError`, as httpx-sse does, unless the response is an event stream."""
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        raise SSEError(f"Expected a text/event-stream response, got {content_type!r}")


async def server_sent_events(response: httpx.Response) -> AsyncGenerator[ServerSentEvent, None]:
    """The response's events, as httpx-sse's `aiter_sse` reads them."""
    check_event_stream(response)
    decoder = SSEDecoder()
    async for line in event_stream_lines(response):
        if (event := decoder.decode(line)) is not None:
            yield event


async def event_stream_lines(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The body's lines as SSE splits them; `EventTooLarge` once the lines since the last
    blank one (which ends an event), with the line still coming, pass `MAX_EVENT_CHARS`."""
    lines = SSELineDecoder()
    event_chars = 0  # of the lines read since the last blank line
    unended_chars = 0  # of the line still coming, held by the decoder
    async for text in response.aiter_text():
        decoded = lines.decode(text)
        if decoded:
            unended_chars = len(text) - _after_last_line_break(text)
        else:
            unended_chars += len(text)
        for line in decoded:
            event_chars = 0 if not line else event_chars + len(line)
            yield line
        if event_chars + unended_chars > MAX_EVENT_CHARS:
            raise EventTooLarge()
    for line in lines.flush():
        yield line


def _after_last_line_break(text: str) -> int:
    return max(text.rfind("\n"), text.rfind("\r")) + 1
