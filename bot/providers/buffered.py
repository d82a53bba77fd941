"""A model's stream read from the moment it starts, so waiting for the model overlaps other work
(posting the placeholders in Slack); what arrives meanwhile is kept until it is read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bot.providers.base import StreamEvent

OpenEvents = Callable[[], Awaitable[AsyncIterator[StreamEvent]]]


@dataclass(frozen=True, slots=True)
class _End:
    error: Exception | None


class BufferedStream:
    """Reads `events` in a background task at once; `events()` replays them in order and then
    raises the error the stream ended with, if any. `close()` stops reading. When `events`
    are to be opened later (their request is built first), the stream and its clock start
    once they are open."""

    def __init__(self, events: AsyncIterator[StreamEvent] | OpenEvents) -> None:
        self.started_at = time.monotonic()
        self._arrived: asyncio.Queue[StreamEvent | _End] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(events), name="model stream")

    async def _read(self, events: AsyncIterator[StreamEvent] | OpenEvents) -> None:
        try:
            if not isinstance(events, AsyncIterator):
                events = await events()
                self.started_at = time.monotonic()
            async for event in events:
                self._arrived.put_nowait(event)
        except Exception as error:  # handed to the reader of `events()`, who decides
            self._arrived.put_nowait(_End(error))
        else:
            self._arrived.put_nowait(_End(None))

    @property
    def complete(self) -> bool:
        """Every event has arrived (the stream ended, well or not): reading it takes no wait."""
        return self._reader.done()

    async def events(self) -> AsyncIterator[StreamEvent]:
        """The stream's events, those that already arrived first."""
        while True:
            item = await self._arrived.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    async def close(self) -> list[StreamEvent]:
        """Stop reading (the model's request is abandoned if it is still going); the events
        that arrived but were not read, the last usage the model reported among them when it
        reported any (a stream cancelled midway yields it as it stops)."""
        self._reader.cancel()
        await asyncio.wait({self._reader})
        unread: list[StreamEvent] = []
        while not self._arrived.empty():
            if not isinstance(item := self._arrived.get_nowait(), _End):
                unread.append(item)
        return unread
