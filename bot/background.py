"""Work that runs after Slack's event has been acknowledged, tracked so shutdown can drain it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundWork:
    """Starts coroutines as tasks, logs their crashes, and lets them finish at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s crashed", task.get_name(), exc_info=task.exception())

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_seconds: float, hurry: asyncio.Event | None = None) -> None:
        """Wait up to `grace_seconds` (or until `hurry` is set) for running work, then cancel
        the rest (answers in flight are then finalised as interrupted)."""
        if not self._tasks:
            return
        # asyncio.wait never cancels what it waits for: cancelling `finished` leaves the work.
        finished = asyncio.ensure_future(asyncio.wait(set(self._tasks)))
        hurried = asyncio.ensure_future((hurry or asyncio.Event()).wait())
        await asyncio.wait(
            {finished, hurried}, timeout=grace_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        finished.cancel()
        hurried.cancel()
        pending = {task for task in self._tasks if not task.done()}
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
