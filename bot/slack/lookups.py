"""What Slack says about people and channels by id, kept for an hour and refreshed beside use."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

KEPT_SECONDS = 3600.0
FAILED_KEPT_SECONDS = 60.0  # an id Slack would not describe is not asked about again at once
MAX_KEPT = 10_000  # e.g. everyone a busy workspace has talking to the bot

Described = TypeVar("Described")


class SlackLookups(Generic[Described]):
    """Descriptions looked up by id. Only an id's first lookup waits for Slack: a stale
    description is used while a fresh lookup runs beside it, and kept if that one fails."""

    def __init__(
        self,
        look_up: Callable[[str], Awaitable[Described | None]],
        unknown: Callable[[str], Described],
        *,
        kept_seconds: float = KEPT_SECONDS,
        max_kept: int = MAX_KEPT,
    ) -> None:
        """`look_up` asks Slack (None: Slack would not say, logged by it); `unknown` is what
        an id Slack never described stands for."""
        self._look_up = look_up
        self._unknown = unknown
        self._kept_seconds = kept_seconds
        self._max_kept = max_kept
        self._kept: dict[str, tuple[Described, float]] = {}  # newest last
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def get(self, key: str) -> Described:
        kept = self._kept.get(key)
        if kept is None:
            return await self._fetch(key)
        described, fresh_until = kept
        if fresh_until <= time.monotonic() and key not in self._refreshing:
            refresh = asyncio.create_task(self._refresh(key))
            self._refreshing[key] = refresh
            refresh.add_done_callback(lambda _: self._refreshing.pop(key, None))
        return described

    async def _refresh(self, key: str) -> None:
        try:
            await self._fetch(key)
        except Exception:
            log.exception("looking %s up again failed", key)

    async def _fetch(self, key: str) -> Described:
        described = await self._look_up(key)
        if described is not None:
            self._keep(key, described, self._kept_seconds)
            return described
        if key in self._kept:  # what is known so far, asked about again in a minute
            known = self._kept[key][0]
            self._keep(key, known, FAILED_KEPT_SECONDS)
            return known
        unknown = self._unknown(key)
        self._keep(key, unknown, FAILED_KEPT_SECONDS)
        return unknown

    def _keep(self, key: str, described: Described, for_seconds: float) -> None:
        """Past `max_kept`, the description longest unrefreshed goes."""
        self._kept.pop(key, None)
        self._kept[key] = (described, time.monotonic() + for_seconds)
        while len(self._kept) > self._max_kept:
            del self._kept[next(iter(self._kept))]
