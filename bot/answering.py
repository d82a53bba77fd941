"""Streams one model's answer from its provider into its Slack message, recording each step."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot.chat.catalog import ModelSpec
from bot.chat.in_chat import AnswerStatus
from bot.chat.messages import MessageWithdrawn, ModelRequest, PendingRequest
from bot.chat.quoting import as_sentence
from bot.in_chat_marks import InChatMarks
from bot.providers.base import (
    ModelProvider,
    ProviderError,
    StreamEvent,
    TextDelta,
    TextRetracted,
    Usage,
)
from bot.providers.buffered import BufferedStream
from bot.providers.errors import reason_for_log
from bot.providers.retry import RetryPolicy, stream_with_retries
from bot.slack.answer_message import AnswerMessage, refused_as_drawn
from bot.slack.rendering import outcome_messages
from bot.slack.slack_errors import refused_for_good, slack_error_code, token_refused
from bot.stopping import AnswerStops
from storage.answers import STOPPED_BY_DELETION, AnswerStore, Ended, FinishedAnswer
from storage.database import unreachable

log = logging.getLogger(__name__)

# While the database can't be reached, an answer's end is recorded again after these pauses.
_FIRST_PAUSE_TO_RECORD = 0.5
_LONGEST_PAUSE_TO_RECORD = 4.0

INTERNAL_ERROR = (
    "Something went wrong on Chorus's side; press Regenerate or ask again (the bot's log says "
    "what)."
)
EMPTY_ANSWER = "The model returned an empty answer."
INTERRUPTED = "The bot stopped before this answer was finished; press Regenerate or ask again."


class AnswerTakenOver(Exception):
    """Recovery (on this replica or another) found the answer silent for too long and ended
    it; it shows the end, so this writer lets go."""


class AnswerTooLong(Exception):
    """The answer passed the longest the bot shows: a model caught in a loop is cut off."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The answer passed {limit:,} characters, the most Chorus shows.")


class AnswerUnshowable(Exception):
    """Slack refuses the answer's message for good (deleted, its channel archived, the bot
    removed from it…): nobody would see the rest, so the model is not kept writing it."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Slack refused this answer's message ({code}).")


STOPPED_AS_DELETED = "Stopped: the message it answers was deleted."


class AnswerStopped(Exception):
    """A person pressed Stop, or deleted the message being answered."""

    def __init__(self, by: str) -> None:
        super().__init__(by)
        self.by_deletion = by == STOPPED_BY_DELETION
        self.note = STOPPED_AS_DELETED if self.by_deletion else as_sentence(f"Stopped by {by}")


@dataclass(frozen=True, slots=True)
class AnswerJob:
    answer_id: int
    spec: ModelSpec
    stream: BufferedStream  # from `AnswerRunner.start`
    message: AnswerMessage  # its placeholder already posted


@dataclass(slots=True)
class _Progress:
    text: str = ""
    first_token_at: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    unsaved: bool = False  # the last save found the database out of reach

    @property
    def tokens_noted(self) -> str:
        """The token counts for the log, as far as the provider reported them."""
        if self.input_tokens is None and self.output_tokens is None:
            return ""
        counts = (
            "?" if count is None else count for count in (self.input_tokens, self.output_tokens)
        )
        return ", {} → {} tokens".format(*counts)

    def count(self, usage: Usage) -> None:
        """Keep the counts `usage` reports; one it leaves out keeps its last value."""
        if usage.input_tokens is not None:
            self.input_tokens = usage.input_tokens
        if usage.output_tokens is not None:
            self.output_tokens = usage.output_tokens

    @property
    def has_words(self) -> bool:
        return bool(self.text.strip())

    @property
    def failed_status(self) -> AnswerStatus:
        """A failure keeps the answer's text, if it has any, as cut off."""
        return AnswerStatus.CUT_OFF if self.has_words else AnswerStatus.FAILED


async def usage_on_closing(stream: BufferedStream) -> Usage:
    """Stop reading `stream`: the tokens the model reported among what was not read yet, so an
    answer ended early still records what it cost."""
    unread = _Progress()
    for event in await stream.close():
        if isinstance(event, Usage):
            unread.count(event)
    return Usage(unread.input_tokens, unread.output_tokens)


class AnswerRunner:
    """Runs answers: provider stream → Slack message → stored outcome. Never raises for a
    provider failure; the failure becomes a line in that model's message."""

    def __init__(
        self,
        answers: AnswerStore,
        provider_for: Mapping[str, ModelProvider],
        retry_policy: RetryPolicy,
        save_interval: float,
        stops: AnswerStops,
        marks: InChatMarks,
        max_answer_chars: int = 100_000,
        edit_lease: float = 30.0,
    ) -> None:
        """`edit_lease`: seconds after the answer was last found still this replica's (its
        progress recorded) that streaming edits may go out: well within the time another
        replica waits for a heartbeat before taking the answer over."""
        self._answers = answers
        self._edit_lease = edit_lease
        self._stops = stops
        self._marks = marks
        self._max_answer_chars = max_answer_chars
        self._provider_for = provider_for
        self._retry_policy = retry_policy
        self._save_interval = save_interval

    def start(
        self, answer_id: int, spec: ModelSpec, request: ModelRequest | PendingRequest
    ) -> BufferedStream:
        """Send the model its request for answer `answer_id` now, or once a pending one is
        built (with retries); `run` then shows what it streams."""
        if isinstance(request, ModelRequest):
            return BufferedStream(self._events(answer_id, spec, request))

        async def events_once_built() -> AsyncIterator[StreamEvent]:
            return self._events(answer_id, spec, await request())

        return BufferedStream(events_once_built)

    async def interrupted(self, job: AnswerJob) -> None:
        """The bot is stopping before `job` streams (its message not ready yet): it ends as
        interrupted, with what its model spent, as an answer cut off while streaming does."""
        await self._end(job, _Progress(), AnswerStatus.INTERRUPTED, INTERRUPTED)

    def _events(
        self, answer_id: int, spec: ModelSpec, request: ModelRequest
    ) -> AsyncIterator[StreamEvent]:
        return stream_with_retries(
            self._provider_for[spec.provider],
            spec.model_id,
            request,
            self._retry_policy,
            on_retry=lambda error, attempt, delay: log.info(
                "answer %s by %s: retrying in %.1fs after attempt %d failed: %s%s",
                answer_id,
                spec.name,
                delay,
                attempt,
                error,
                reason_for_log(error),
            ),
            on_shortened=lambda error, left_out: log.info(
                "answer %s by %s: sending it again without its %d oldest message(s), as its "
                "context is longer than the model's: %s",
                answer_id,
                spec.name,
                left_out,
                error,
            ),
        )

    async def run(self, job: AnswerJob) -> AnswerStatus:
        """Record where the answer's message is, stream into it, record and show the end."""
        progress = _Progress()
        # The answer was claimed for this replica (posted, or restarted) just now.
        job.message.allow_edits_until(time.monotonic() + self._edit_lease)
        try:
            if not job.stream.complete:
                # Where the answer streams, for Stop and recovery; an answer already complete
                # records it with its outcome, one transaction fewer.
                await self._record_where_it_streams(job, progress)
            await self._stream_until_stopped(job, progress)
        except AnswerStopped as stopped:
            if stopped.by_deletion and not progress.has_words:
                return await self._end(job, progress, AnswerStatus.FAILED, str(MessageWithdrawn()))
            return await self._end(job, progress, AnswerStatus.STOPPED, stopped.note)
        except AnswerTakenOver:
            return await self._let_go(job)
        except AnswerTooLong as too_long:
            return await self._end(
                job, progress, AnswerStatus.CUT_OFF, str(too_long), why=str(too_long)
            )
        except AnswerUnshowable as unshowable:
            return await self._end(
                job, progress, AnswerStatus.STOPPED, str(unshowable), why=str(unshowable)
            )
        except MessageWithdrawn as withdrawn:
            return await self._end(
                job,
                progress,
                AnswerStatus.FAILED,
                str(withdrawn),
                why=str(withdrawn),
                level=logging.INFO,
            )
        except ProviderError as error:
            why = f"{error}{reason_for_log(error)}"
            return await self._end(job, progress, progress.failed_status, str(error), why=why)
        except asyncio.CancelledError:
            await self._end(job, progress, AnswerStatus.INTERRUPTED, INTERRUPTED)
            raise
        except Exception as crash:
            return await self._end(
                job, progress, progress.failed_status, INTERNAL_ERROR, crash=crash
            )
        finally:
            await job.stream.close()
        if not progress.has_words:
            return await self._end(
                job, progress, AnswerStatus.FAILED, EMPTY_ANSWER, why=EMPTY_ANSWER
            )
        return await self._end(job, progress, AnswerStatus.DONE, None)

    async def _stream_until_stopped(self, job: AnswerJob, progress: _Progress) -> None:
        """Stream in a task of its own, which a Stop press cancels."""
        stream = asyncio.create_task(self._stream(job, progress), name=f"answer {job.answer_id}")
        with self._stops.streaming(job.answer_id, stream) as stop:
            try:
                await stream
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if stop.by is None or (current is not None and current.cancelling()):
                    raise  # the bot itself is stopping
                raise AnswerStopped(stop.by) from None

    async def _stream(self, job: AnswerJob, progress: _Progress) -> None:
        last_saved = time.monotonic()
        async for event in job.stream.events():
            if isinstance(event, Usage):
                progress.count(event)
            elif isinstance(event, TextRetracted):
                # Saved at once: a crash now must not leave recovery the thought to show.
                progress.text = ""
                last_saved = await self._save(job, progress)
                job.message.show(progress.text)
            elif isinstance(event, TextDelta):
                # Line breaks a model opens with would show as blank lines atop its message.
                text = (progress.text + event.text).lstrip("\r\n")
                if not text:
                    continue
                if progress.first_token_at is None:
                    progress.first_token_at = self._answers.now()
                progress.text = text
                if len(progress.text) > self._max_answer_chars:
                    progress.text = progress.text[: self._max_answer_chars]
                    raise AnswerTooLong(self._max_answer_chars)
                job.message.show(progress.text)
                if job.message.refused is not None:
                    raise AnswerUnshowable(job.message.refused)
                if time.monotonic() - last_saved >= self._save_interval:
                    last_saved = await self._save(job, progress)

    async def _record_where_it_streams(self, job: AnswerJob, progress: _Progress) -> None:
        """`AnswerStore.streams_at`, which renews this replica's hold on the answer. While the
        database can't be reached, the answer streams on as with its text unsaved (`_save`):
        the first save that goes through records where it streams."""
        assert job.message.ts is not None
        recorded_at = time.monotonic()
        try:
            still_ours = await self._answers.streams_at(job.answer_id, job.message.ts)
        except Exception as error:
            if not unreachable(error):
                raise
            _not_saved(job, progress, "where it streams", error)
            return
        if not still_ours:
            raise AnswerTakenOver
        job.message.allow_edits_until(recorded_at + self._edit_lease)

    async def _save(self, job: AnswerJob, progress: _Progress) -> float:
        """Save the text so far (which renews this replica's hold on the answer); when. While
        the database can't be reached (a restart, a failover), the answer streams on unsaved:
        its hold is not renewed, so its edits stop when the hold runs out, and nobody can take
        it over meanwhile without the database."""
        saved_at = time.monotonic()
        try:
            # Where it streams too, in case the database was out of reach when it started.
            still_ours = await self._answers.progress(
                job.answer_id, progress.text, progress.first_token_at, slack_ts=job.message.ts
            )
        except Exception as error:
            if not unreachable(error):
                raise
            _not_saved(job, progress, "its text so far", error)
            return saved_at
        if not still_ours:
            raise AnswerTakenOver
        progress.unsaved = False
        job.message.allow_edits_until(saved_at + self._edit_lease)
        return saved_at

    async def _end(
        self,
        job: AnswerJob,
        progress: _Progress,
        status: AnswerStatus,
        error: str | None,
        *,
        why: str | None = None,
        level: int = logging.WARNING,
        crash: Exception | None = None,
    ) -> AnswerStatus:
        """Record the outcome first (so it survives a crash), then show it; a final edit Slack
        does not take now stays owed, and recovery shows it later. `why` it ended as it did,
        if not as asked, goes in its one log line, at `level`; a `crash` makes that line an
        error with the traceback."""
        if crash is not None:
            why, level = "crashed", logging.ERROR
        job.message.end_streaming()  # a streaming edit now would only delay the final one
        # An answer the bot stopped reading (Stop, too long, unshowable) still cost the tokens
        # the model reported so far.
        progress.count(await usage_on_closing(job.stream))
        outcome = FinishedAnswer(
            status=status,
            text=progress.text,
            error=error,
            input_tokens=progress.input_tokens,
            output_tokens=progress.output_tokens,
        )
        try:
            ended = await self._record_end(job, outcome)
        except Exception:
            # A storage failure is logged, with its traceback, where it is handled; how the
            # answer ended, and why, only here.
            unrecorded = " (not recorded: storage failed)"
            _log_end(job, progress, status, why, level, unrecorded, crash=crash)
            raise
        if ended is None:
            if crash is not None:
                log.error("answer %s by %s crashed", job.answer_id, job.spec.name, exc_info=crash)
            return await self._let_go(job)
        seconds = _log_end(job, progress, status, why, level, crash=crash)
        messages = outcome_messages(
            job.spec.display_name,
            status=status,
            text=progress.text,
            error=error,
            seconds=seconds,
            input_tokens=progress.input_tokens,
            output_tokens=progress.output_tokens,
            in_chat=ended.in_chat,
        )
        try:
            continuations = await job.message.finish(messages)
        except SlackApiError as slack_error:
            # Refused as while it streamed, when its end says so: its line above told that.
            told = error == str(AnswerUnshowable(slack_error_code(slack_error)))
            await final_edit_refused(
                self._marks, job.answer_id, job.message.channel, slack_error, told=told
            )
            return status
        await self._marks.answer_shown(job.answer_id, continuations)
        return status

    async def _record_end(self, job: AnswerJob, outcome: FinishedAnswer) -> Ended | None:
        """`AnswerStore.finish`, tried again while the database can't be reached (a restart, a
        failover) for as long as another replica would wait before taking the answer over:
        its end is shown once it is recorded. Safe to repeat: it records only an answer still
        this replica's and unsettled."""
        give_up_at = time.monotonic() + 2 * self._edit_lease
        pause = _FIRST_PAUSE_TO_RECORD
        while True:
            try:
                return await self._answers.finish(job.answer_id, outcome, slack_ts=job.message.ts)
            except Exception as error:
                if not unreachable(error) or time.monotonic() + pause > give_up_at:
                    raise
                if pause == _FIRST_PAUSE_TO_RECORD:
                    log.warning(
                        "answer %s by %s: its end was not recorded; trying again",
                        job.answer_id,
                        job.spec.name,
                        exc_info=error,
                    )
            await asyncio.sleep(pause)
            pause = min(2 * pause, _LONGEST_PAUSE_TO_RECORD)

    async def _let_go(self, job: AnswerJob) -> AnswerStatus:
        await job.message.abandon()
        log.warning(
            "answer %s by %s was taken over by recovery (this replica looked silent)",
            job.answer_id,
            job.spec.name,
        )
        return AnswerStatus.INTERRUPTED


def _not_saved(job: AnswerJob, progress: _Progress, what: str, error: Exception) -> None:
    """The database was out of reach to save `what`: said once each time saving stops
    working, and the answer streams on."""
    if not progress.unsaved:
        log.warning(
            "answer %s by %s: %s was not saved; streaming on",
            job.answer_id,
            job.spec.name,
            what,
            exc_info=error,
        )
    progress.unsaved = True


def _log_end(
    job: AnswerJob,
    progress: _Progress,
    status: AnswerStatus,
    why: str | None,
    level: int,
    unrecorded: str = "",
    *,
    crash: Exception | None = None,
) -> float:
    """Log the answer's one outcome line (at `level` when it says `why`, with the traceback of
    a `crash`); the seconds it took from when its model was asked."""
    seconds = time.monotonic() - job.stream.started_at
    log.log(
        logging.INFO if why is None else level,
        "answer %s by %s in %s: %s in %.1f s%s%s%s",
        job.answer_id,
        job.spec.name,
        job.message.channel,
        status.value,
        seconds,
        progress.tokens_noted,
        "" if why is None else f": {why}",
        unrecorded,
        exc_info=crash,
    )
    return seconds


async def final_edit_refused(
    marks: InChatMarks, answer_id: int, channel: str, error: SlackApiError, *, told: bool = False
) -> None:
    """Slack did not take an answer's final edit: it stays owed and recovery shows it later
    (after an outage, or once the bot has a token Slack takes), unless Slack would refuse it
    again (its message or channel is gone): then it is given up, and logged unless the
    answer's outcome line `told` that refusal already."""
    code = slack_error_code(error)
    if not refused_for_good(error) or token_refused(error):
        log.warning(  # an outage or a rate limit, waited out: no fault of the bot's
            "could not show the end of answer %s in %s (%s); it will be shown later",
            answer_id,
            channel,
            code,
        )
        return
    # Refused in every form, the answer's text is lost through the bot's own fault; a message
    # or channel that is gone, or a channel closed to the bot, is no fault to fix.
    level = logging.ERROR if refused_as_drawn(error) else logging.WARNING
    if not told:
        log.log(level, "answer %s cannot be shown in %s (%s): given up", answer_id, channel, code)
    await marks.answer_shown(answer_id)  # nowhere left to show it
