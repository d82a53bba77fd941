"""The wait for the answers before a message to settle is bounded in time, however slowly the
database reads them."""

from __future__ import annotations

import asyncio
import time

from bot import model_requests
from bot.model_requests import _once_settled


async def test_the_settled_wait_counts_the_time_reads_take(monkeypatch) -> None:
    monkeypatch.setattr(model_requests, "SETTLED_POLL_SECONDS", 0.01)
    reads = 0

    async def slow_read() -> str:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.1)
        return "still streaming"

    deadline = time.monotonic() + 0.5
    assert await _once_settled(slow_read, lambda history: history == "settled", deadline) == (
        "still streaming"
    )
    # Counting only the pauses between reads, it would read 50 times (over 5 s).
    assert reads <= 10, reads


async def test_the_settled_wait_ends_as_soon_as_the_history_is_settled() -> None:
    histories = iter(["streaming", "streaming", "settled", "never read"])

    async def read() -> str:
        return next(histories)

    deadline = time.monotonic() + 5
    assert await _once_settled(read, lambda history: history == "settled", deadline) == "settled"
    assert next(histories) == "never read"
