"""Polling until something the test is waiting for has happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Waits end as soon as their condition holds, so a long limit costs nothing when the bot is
# right; it only spares a slow or busy CI machine a failure.
DEFAULT_TIMEOUT_SECONDS = 30.0


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = 0.02,
    message: str = "",
) -> T:
    """Poll `predicate` until it is truthy and return its value; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout} s")
        time.sleep(interval)
