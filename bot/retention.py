"""Forgetting what was said long ago, when `CHORUS_FORGET_AFTER_DAYS` asks for it."""

from __future__ import annotations

import asyncio
import logging

from storage.retention import RetentionStore

log = logging.getLogger(__name__)

SECONDS_A_DAY = 24 * 3600.0
LONGEST_PAUSE_SECONDS = 3600.0


def kept_seconds(forget_after_days: float | None) -> float | None:
    """How long what is said is kept, in seconds (`CHORUS_FORGET_AFTER_DAYS`); None: until
    it is deleted."""
    return None if forget_after_days is None else forget_after_days * SECONDS_A_DAY


async def forget_forever(store: RetentionStore, keep_seconds: float) -> None:
    """Erase what was said more than `keep_seconds` ago, now and then every hour (or a tenth
    of the period, if shorter). Every replica may run it: erasing twice changes nothing."""
    pause = min(LONGEST_PAUSE_SECONDS, keep_seconds / 10)
    while True:
        try:
            forgotten = await store.forget_said_more_than(keep_seconds)
        except Exception:
            log.exception("forgetting old messages failed")
        else:
            if forgotten:
                days = keep_seconds / SECONDS_A_DAY
                log.info("forgot %d message(s) said more than %g day(s) ago", forgotten, days)
        await asyncio.sleep(pause)
