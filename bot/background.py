"""Work that runs after Slack's event has been acknowledged, tracked so shutdown can drain it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class BackgroundWork:
    """Starts coroutines as tasks, logs their crashes, and lets them finish at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """`work` as a task shutdown waits for (returned, for a caller that waits on it too)."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s crashed", task.get_name(), exc_info=task.exception())

    @property
    def running(self) -> int:
        return len(self._tasks)

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """The current task is work in flight until the block ends: shutdown waits for it as
        for the work it starts (an event being recorded, before its handling starts)."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def drain(self, grace_seconds: float, hurry: asyncio.Event | None = None) -> None:
        """Wait up to `grace_seconds` (or until `hurry` is set) for running work, and for the
        work it starts meanwhile, then cancel the rest (answers in flight are then finalised
        as interrupted)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        hurried = asyncio.ensure_future((hurry or asyncio.Event()).wait())
        try:
            while self._tasks and not hurried.done() and loop.time() < deadline:
                # asyncio.wait never cancels what it waits for.
                await asyncio.wait(
                    {*self._tasks, hurried},
                    timeout=deadline - loop.time(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            hurried.cancel()
        pending = {task for task in self._tasks if not task.done()}
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
