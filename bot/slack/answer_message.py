"""One model's answer in Slack: a placeholder, throttled streaming updates, the final text."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from contextlib import suppress

from slack_sdk.errors import SlackApiError

from bot.slack.pacing import UpdateBudget
from bot.slack.rendering import (
    SlackMessage,
    as_plain_text,
    error_message,
    final_messages,
    placeholder_message,
    streaming_message,
)
from bot.slack.web import Identity, SlackWeb, slack_error_code

log = logging.getLogger(__name__)

_BLOCKS_REFUSED = {"invalid_blocks", "invalid_blocks_format", "msg_too_long"}


class AnswerMessage:
    """Shows an answer as it streams. `show()` never waits on Slack: the newest text is sent at
    most once per `update_interval`, so a fast model costs a few updates, not one per token."""

    def __init__(
        self,
        web: SlackWeb,
        *,
        channel: str,
        thread_ts: str | None,
        display_name: str,
        identity: Identity | None,
        update_interval: float,
        budget: UpdateBudget | None = None,
        ts: str | None = None,
    ) -> None:
        self._web = web
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts = ts
        self._name = display_name
        self._identity = identity
        self._interval = update_interval
        self._budget = budget
        self._latest = ""
        self._shown = ""
        self._last_update = -math.inf
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._updater: asyncio.Task[None] | None = None

    async def post_placeholder(self) -> str:
        self.ts = await self._web.post(
            self.channel,
            placeholder_message(self._name),
            thread_ts=self.thread_ts,
            identity=self._identity,
        )
        return self.ts

    def show(self, text: str) -> None:
        """The answer so far; shown at the next update slot."""
        self._latest = text
        if self._updater is None:
            self._updater = asyncio.create_task(self._run_updates(), name=f"updates:{self.ts}")
        self._changed.set()

    async def finish(self, text: str, footer: str) -> list[str]:
        """Replace the streamed text with the final answer; post what does not fit as
        continuation messages in the answer's thread. Returns the continuations' ts."""
        await self._stop_updates()
        first, *rest = final_messages(self._name, text, footer)
        await self._final_update(first)
        continuation_thread = self.thread_ts or self.ts
        posted = []
        for message in rest:
            ts = await self._web.post(
                self.channel, message, thread_ts=continuation_thread, identity=self._identity
            )
            posted.append(ts)
        return posted

    async def fail(self, error_line: str) -> None:
        """The model failed before writing anything: its message says why, in one line."""
        await self._stop_updates()
        await self._final_update(error_message(self._name, error_line))

    async def _final_update(self, message: SlackMessage) -> None:
        assert self.ts is not None
        if self._budget is not None:
            self._budget.spend()
        try:
            await self._web.update(self.channel, self.ts, message)
        except SlackApiError as error:
            code = slack_error_code(error)
            log.error("final update of %s in %s failed: %s", self.ts, self.channel, code)
            if code not in _BLOCKS_REFUSED:
                raise
            # Slack refused our blocks: the answer still lands, as plain text.
            await self._web.update(self.channel, self.ts, as_plain_text(message))

    async def _stop_updates(self) -> None:
        # Let an in-flight update complete rather than cancel it: an abandoned request could
        # still reach Slack after the final one and overwrite it with older text.
        self._closed.set()
        self._changed.set()
        if self._updater is not None:
            await self._updater

    async def _run_updates(self) -> None:
        while True:
            await self._changed.wait()
            delay = self._last_update + self._interval - time.monotonic()
            if delay > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), delay)
            if self._budget is not None and not self._closed.is_set():
                await self._budget.take()
            if self._closed.is_set():
                return
            self._changed.clear()
            text = self._latest
            if text == self._shown or self.ts is None:
                continue
            try:
                await self._web.update(self.channel, self.ts, streaming_message(self._name, text))
                self._shown = text
            except SlackApiError as error:
                log.warning(
                    "streaming update of %s in %s failed: %s",
                    self.ts,
                    self.channel,
                    slack_error_code(error),
                )
            self._last_update = time.monotonic()
