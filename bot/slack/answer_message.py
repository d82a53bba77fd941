"""One model's answer in Slack: a placeholder, throttled streaming updates, the final text."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import suppress
from functools import partial
from typing import TypeVar

from slack_sdk.errors import SlackApiError

from bot.chat.catalog import ModelSpec
from bot.slack.pacing import UpdateBudget
from bot.slack.rendering import (
    PROVIDER_ICONS,
    SlackMessage,
    as_plain_text,
    as_sections,
    placeholder_message,
    streaming_message,
)
from bot.slack.slack_errors import (
    SlackUnreachable,
    refused_for_good,
    slack_error_code,
    token_refused,
)
from bot.slack.web import Identity, MessageTag, SlackWeb

log = logging.getLogger(__name__)

T = TypeVar("T")

_BLOCKS_REFUSED = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long"}


def model_identity(spec: ModelSpec) -> Identity:
    """The name and icon a model's messages are posted under (`chat:write.customize`)."""
    return Identity(spec.display_name, PROVIDER_ICONS.get(spec.provider, ":robot_face:"))


async def show_final(
    web: SlackWeb,
    *,
    answer_id: int,
    channel: str,
    ts: str,
    continuation_thread: str,
    identity: Identity | None,
    messages: Sequence[SlackMessage],
    maybe_posted_since: float | None = None,
    left_over: Collection[str] = (),
) -> list[str]:
    """Put the final text in the answer's message and post what does not fit as continuation
    messages in `continuation_thread`. Returns the continuations' ts. `maybe_posted_since`: an
    earlier attempt may have posted some continuations already (they are found, not
    repeated). `left_over`: continuations of the answer's earlier text that are still there
    (never taken for new ones). Raises `SlackApiError` when Slack will not take it or cannot
    be reached (rate limits are waited out by the client first)."""
    first, *rest = messages
    await show_again(
        web, answer_id=answer_id, channel=channel, ts=ts, identity=identity, message=first
    )
    continuations = []
    for part, message in enumerate(rest, start=1):
        post = partial(
            web.post,
            channel,
            tag=MessageTag(answer_id, part),
            thread_ts=continuation_thread,
            identity=identity,
            maybe_posted_since=maybe_posted_since,
            not_these=left_over,
        )
        what = f"continuation {part} of answer {answer_id} in {channel}"
        continuations.append(await _in_blocks_or_plain(post, message, what))
    return continuations


async def show_again(
    web: SlackWeb,
    *,
    answer_id: int,
    channel: str,
    ts: str,
    identity: Identity | None,
    message: SlackMessage,
) -> None:
    """Put `message` in the answer's own message: its final text, or that text drawn again
    (its In Chat mark changed). Raises as `show_final` does."""
    await _in_blocks_or_plain(
        partial(web.update, channel, ts, answer_id=answer_id, identity=identity),
        message,
        f"final update of answer {answer_id} ({ts} in {channel})",
    )


def refused_as_drawn(error: SlackApiError) -> bool:
    """Slack refused a message for its blocks or its size: in its last, plainest form, the
    text is lost (a fault of the bot's rendering, not of the channel or the message)."""
    return slack_error_code(error) in _BLOCKS_REFUSED


def _forms_to_try(message: SlackMessage) -> Iterator[tuple[str, SlackMessage]]:
    """The message as built, then (each only once Slack has refused the one before) in
    sections and as plain text."""
    yield "blocks", message
    if (in_sections := as_sections(message)) != message:  # an error line has no Markdown
        yield "sections", in_sections
    yield "plain text", as_plain_text(message)


async def _in_blocks_or_plain(
    send: Callable[[SlackMessage], Awaitable[T]], message: SlackMessage, what: str
) -> T:
    """`send(message)`; when Slack refuses its blocks, the same text lands in sections, with
    its status line and Regenerate button, and when Slack refuses those too, as plain text."""
    forms = _forms_to_try(message)
    form, shown = next(forms)
    while True:
        try:
            return await send(shown)
        except SlackApiError as error:
            fallback = next(forms, None) if refused_as_drawn(error) else None
            if fallback is None:
                raise  # the caller says what it means for the answer
            # Handled: the answer is still shown, only plainer.
            log.warning(
                "%s in %s failed: %s; sending it in %s",
                what,
                form,
                slack_error_code(error),
                fallback[0],
            )
            form, shown = fallback


class AnswerMessage:
    """Shows an answer as it streams. `show()` never waits on Slack: the newest text is sent at
    most once per `update_interval`, so a fast model costs a few updates, not one per token."""

    def __init__(
        self,
        web: SlackWeb,
        *,
        answer_id: int,
        channel: str,
        thread_ts: str | None,
        display_name: str,
        identity: Identity | None,
        update_interval: float,
        budget: UpdateBudget | None = None,
        ts: str | None = None,
    ) -> None:
        self._web = web
        self.answer_id = answer_id
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
        self._old_continuations: list[str] = []  # an earlier text's, still to delete
        self._left_over: list[str] = []  # continuations of an earlier text Slack kept
        self._edits_until = math.inf  # by the monotonic clock; see `allow_edits_until`
        self._edits_allowed = asyncio.Event()
        # Slack's code, once a streaming edit met a refusal its final text would meet too
        # (the message deleted, the channel archived, the bot removed from it…).
        self.refused: str | None = None

    async def post_placeholder(self) -> None:
        self.ts = await self._web.post(
            self.channel,
            placeholder_message(self._name),
            tag=MessageTag(self.answer_id),
            thread_ts=self.thread_ts,
            identity=self._identity,
        )

    async def start_again(self, old_continuations: Sequence[str]) -> None:
        """The answer is being regenerated: its message goes back to the placeholder and the
        continuation messages of its previous text are removed."""
        assert self.ts is not None
        self._old_continuations = list(old_continuations)
        try:
            await self._web.update(
                self.channel,
                self.ts,
                placeholder_message(self._name),
                answer_id=self.answer_id,
                identity=self._identity,
            )
        except SlackApiError as error:  # the answer streams into the message all the same
            log.warning(
                "could not reset answer %s (%s): %s",
                self.answer_id,
                self.ts,
                slack_error_code(error),
            )
        await self._delete_old_continuations()

    async def _delete_old_continuations(self) -> None:
        """Delete the earlier text's continuations, oldest first: one Slack will not delete is
        left over; one whose deletion is cut short (the bot stopping) is still to delete."""
        while self._old_continuations:
            ts = self._old_continuations[0]
            try:
                await self._web.delete(self.channel, ts)
            except SlackApiError as error:
                log.warning(
                    "could not delete continuation %s of answer %s: %s",
                    ts,
                    self.answer_id,
                    slack_error_code(error),
                )
                self._left_over.append(ts)
            self._old_continuations.pop(0)

    def show(self, text: str) -> None:
        """The answer so far; shown at the next update slot."""
        self._latest = text
        if self._updater is None:
            self._updater = asyncio.create_task(self._run_updates(), name=f"updates:{self.ts}")
        self._changed.set()

    def allow_edits_until(self, deadline: float) -> None:
        """Streaming edits may go out until `deadline` (by `time.monotonic`), and then only
        once this is called again: the answer's writer knows until when the answer is surely
        still its own, so that no edit of its lands on the final text of whoever took it
        over meanwhile (after this process stood still longer than its heartbeats last)."""
        self._edits_until = deadline
        self._edits_allowed.set()

    def end_streaming(self) -> None:
        """The answer is complete: no streaming edit starts from now on (`finish` shows it)."""
        self._closed.set()
        self._changed.set()

    async def abandon(self) -> None:
        """Someone else shows the end of this answer: no more streaming edits from here."""
        await self._stop_updates()

    async def finish(self, messages: Sequence[SlackMessage]) -> list[str]:
        """Replace the streamed text with the final messages (see `show_final`), and delete
        the earlier text's continuations `start_again` did not get to: the bot stopping cut
        it short."""
        await self._stop_updates()
        assert self.ts is not None
        if self._budget is not None:
            self._budget.spend()
        continuations = await show_final(
            self._web,
            answer_id=self.answer_id,
            channel=self.channel,
            ts=self.ts,
            continuation_thread=self.thread_ts or self.ts,
            identity=self._identity,
            messages=messages,
            left_over=[*self._left_over, *self._old_continuations],
        )
        await self._delete_old_continuations()
        return continuations

    async def _stop_updates(self) -> None:
        # Let an in-flight update complete rather than cancel it: an abandoned request could
        # still reach Slack after the final one and overwrite it with older text.
        self.end_streaming()
        if self._updater is not None:
            await self._updater

    async def _until_closed_or(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)

    async def _unless_closed(self, awaitable: Awaitable[object]) -> bool:
        """Wait for `awaitable`; False (and it is cancelled) if the answer finished first."""
        waiting = asyncio.ensure_future(awaitable)
        closed = asyncio.ensure_future(self._closed.wait())
        await asyncio.wait({waiting, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if waiting.done() and not self._closed.is_set():
            return True
        waiting.cancel()
        with suppress(asyncio.CancelledError):
            await waiting
        return False

    async def _turn_in_budget(self) -> bool:
        """Wait for the shared budget to allow a streaming edit; False if the answer finished
        meanwhile (the final edit never queues behind streaming edits)."""
        return self._budget is None or await self._unless_closed(self._budget.take())

    async def _edits_still_allowed(self) -> bool:
        """Wait until streaming edits may go out (`allow_edits_until`); False if the answer
        finished meanwhile."""
        while time.monotonic() >= self._edits_until:
            self._edits_allowed.clear()
            if not await self._unless_closed(self._edits_allowed.wait()):
                return False
        return True

    async def _run_updates(self) -> None:
        while True:
            await self._changed.wait()
            delay = self._last_update + self._interval - time.monotonic()
            if delay > 0:
                await self._until_closed_or(delay)
            # Allowed is checked last: a turn in the budget may take a while.
            if (
                self._closed.is_set()
                or not await self._turn_in_budget()
                or not await self._edits_still_allowed()
            ):
                return
            self._changed.clear()
            text = self._latest
            if text == self._shown or self.ts is None:
                continue
            try:
                streaming = streaming_message(self._name, text)
            except Exception:
                # Half an answer is an odd shape of Markdown: one the renderer fails on costs
                # its edit, not the final one (`finish` awaits this task, and would raise).
                log.exception("streaming update of answer %s not drawn", self.answer_id)
                self._shown, self._last_update = text, time.monotonic()
                continue
            try:
                await self._web.update(
                    self.channel,
                    self.ts,
                    streaming,
                    answer_id=self.answer_id,
                    identity=self._identity,
                )
                self._shown = text
            except SlackApiError as error:
                code = slack_error_code(error)
                # The final text has other forms to try; a token refused gives up nothing:
                # the answer is shown once a token works again.
                gone = (
                    refused_for_good(error)
                    and code not in _BLOCKS_REFUSED
                    and not token_refused(error)
                )
                # A refusal that ends the answer is logged with its end (and an unreachable
                # Slack with its why already).
                if not gone and not isinstance(error, SlackUnreachable):
                    log.warning(
                        "streaming update of answer %s (%s in %s) failed: %s",
                        self.answer_id,
                        self.ts,
                        self.channel,
                        code,
                    )
                if gone:
                    self.refused = code
                if refused_for_good(error):
                    return  # no more streaming edits
            self._last_update = time.monotonic()
