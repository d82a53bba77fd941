"""A model's stream read from the start: nothing is lost or reordered while nobody reads it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.providers.base import StreamCut, StreamEvent, TextDelta, Usage
from bot.providers.buffered import BufferedStream


async def model(
    events: list[StreamEvent], error: Exception | None = None
) -> AsyncIterator[StreamEvent]:
    for event in events:
        await asyncio.sleep(0)
        yield event
    if error is not None:
        raise error


async def read_all(stream: BufferedStream) -> list[StreamEvent]:
    return [event async for event in stream.events()]


async def test_what_arrives_before_anyone_reads_is_kept_in_order():
    events: list[StreamEvent] = [TextDelta("4 and "), TextDelta("6."), Usage(10, 3)]
    stream = BufferedStream(model(events))
    assert not stream.complete
    await asyncio.sleep(0.01)  # the whole answer arrives while the placeholder is posted

    assert stream.complete
    assert await read_all(stream) == events


async def test_the_error_a_stream_ends_with_reaches_the_reader_after_its_text():
    stream = BufferedStream(model([TextDelta("half")], StreamCut("cut")))
    seen: list[StreamEvent] = []

    with pytest.raises(StreamCut):
        async for event in stream.events():
            seen.append(event)

    assert seen == [TextDelta("half")]


async def test_an_unexpected_error_still_ends_the_stream_for_its_reader():
    stream = BufferedStream(model([TextDelta("half")], RuntimeError("bug")))

    with pytest.raises(RuntimeError, match="bug"):
        await asyncio.wait_for(read_all(stream), 1.0)


async def test_closing_abandons_a_model_still_thinking():
    finished = asyncio.Event()

    async def slow() -> AsyncIterator[StreamEvent]:
        try:
            await asyncio.sleep(60)
            yield TextDelta("too late")
        finally:
            finished.set()

    stream = BufferedStream(slow())
    await asyncio.sleep(0)
    await stream.close()

    assert finished.is_set()


async def test_a_stream_opened_later_starts_its_clock_when_it_opens():
    request_built = asyncio.Event()

    async def open_events() -> AsyncIterator[StreamEvent]:
        await request_built.wait()
        return model([TextDelta("at last")])

    stream = BufferedStream(open_events)
    created_at = stream.started_at
    await asyncio.sleep(0.05)
    assert not stream.complete

    request_built.set()
    assert await read_all(stream) == [TextDelta("at last")]
    assert stream.started_at - created_at >= 0.05


async def test_a_stream_closed_before_it_opens_never_opens():
    opened: list[bool] = []

    async def open_events() -> AsyncIterator[StreamEvent]:
        opened.append(True)
        return model([])

    stream = BufferedStream(open_events)
    await stream.close()

    assert opened == []
