"""A shared budget of streaming edits, so many answers at once stay inside Slack's rate limits.

`chat.update` is a Tier 3 method (about 50 calls a minute per workspace, with bursts). Each
streaming answer already coalesces its text; this budget spreads the edits of all the
answers of this process. Final edits do not wait for it: the final text always goes out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class UpdateBudget:
    """A token bucket: `rate_per_second` edits on average, up to `burst` at once."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = rate_per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    async def take(self) -> None:
        """Wait for the right to make one streaming edit."""
        async with self._lock:  # first come, first served
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1

    def spend(self) -> None:
        """Account for an edit that did not wait (a final edit); may go into debt."""
        self._refill()
        self._tokens -= 1
