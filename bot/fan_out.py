"""Every chosen model asked at once, each answer in its own Slack message (SPEC §2.1)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence

from slack_sdk.errors import SlackApiError

from bot.answering import INTERRUPTED, AnswerJob, AnswerRunner, usage_on_closing
from bot.chat.catalog import ModelCatalog, ModelSpec
from bot.chat.in_chat import AnswerStatus
from bot.chat.messages import ModelRequest, PendingRequest
from bot.chat.routing import IncomingMessage
from bot.in_chat_marks import InChatMarks
from bot.providers.base import Usage
from bot.providers.buffered import BufferedStream
from bot.slack.answer_message import AnswerMessage, model_identity
from bot.slack.notices import Notices
from bot.slack.pacing import UpdateBudget
from bot.slack.slack_errors import SlackUnreachable, slack_error_code
from bot.slack.web import SlackWeb
from storage.answers import AnswerStore, FinishedAnswer
from storage.database import read_through_outages, unreachable
from storage.rows import NewAnswer

log = logging.getLogger(__name__)

# Slack refusals a person can do something about, and what.
SLACK_ERROR_ADVICE = {
    "not_in_channel": "I can't post here because I'm not in this channel: invite me with "
    "`/invite @Chorus` and ask again.",
    "channel_not_found": "I can't see this channel: invite me with `/invite @Chorus` and ask "
    "again.",
    "is_archived": "This channel is archived, so I can't answer in it.",
    "restricted_action": "This workspace's settings don't let me post in this channel; ask a "
    "Slack admin.",
    "missing_scope": "I'm missing a Slack permission to post here; ask an admin to reinstall "
    "the app from its manifest.",
    "ratelimited": "Slack kept rate-limiting my posts here, so some answers could not be "
    "shown; ask again in a minute.",
    "restricted_action_read_only_channel": "Only some people can post in this channel, and I'm "
    "not one of them: ask me in another channel or in a direct message.",
    "restricted_action_thread_only_channel": "This channel takes replies in threads only: "
    "mention me in a thread and I'll answer there.",
    "posting_to_general_channel_denied": "Only admins can post in this channel, and I'm not "
    "one: ask me in another channel or in a direct message.",
}
# How long after an answer was recorded a later answer's placeholder in the same place waits
# for its placeholder to be posted (a replica that died before posting it leaves it to
# recovery), and how often it looks.
EARLIER_PLACEHOLDERS_WAIT_SECONDS = 5.0
EARLIER_PLACEHOLDERS_POLL_SECONDS = 0.05
SLACK_UNREACHABLE = "Slack could not be reached to post this answer; press Regenerate or ask again."


def slack_refusal_advice(codes: set[str]) -> str | None:
    """What the person is told of Slack refusing to post their answers: what to do where a
    person can act, otherwise Slack's own words for it."""
    if not codes:
        return None
    advice = [SLACK_ERROR_ADVICE[code] for code in sorted(codes & SLACK_ERROR_ADVICE.keys())]
    if others := sorted(codes - SLACK_ERROR_ADVICE.keys()):
        refused = ", ".join(f"`{code}`" for code in others)
        advice.append(
            f"Slack refused to let me post answers here ({refused}); if it goes on, tell a "
            "Slack admin."
        )
    return " ".join(advice)


class FanOut:
    """Posts each answer's placeholder in model order and streams every answer into its own
    message, all at once."""

    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        answers: AnswerStore,
        runner: AnswerRunner,
        marks: InChatMarks,
        web: SlackWeb,
        notices: Notices,
        update_interval: float,
        update_budget: UpdateBudget | None = None,
    ) -> None:
        self._catalog = catalog
        self._answers = answers
        self._runner = runner
        self._marks = marks
        self._web = web
        self._notices = notices
        self._update_interval = update_interval
        self._update_budget = update_budget

    async def answer(
        self,
        message: IncomingMessage,
        answers: Sequence[NewAnswer],
        request: ModelRequest | PendingRequest,
        thread_ts: str | None,
        *,
        notice: str | None = None,
    ) -> None:
        """Every model is asked at once. While they think, the placeholders go out in model
        order, and each answer streams into its message as soon as that is posted (a pending
        `request` is sent once it is built, its placeholder showing meanwhile). An answer
        Slack refuses a message for is recorded as failed (its model is not waited for), and
        the person is told what to do about it when they can do something. A `notice` for
        the person goes out beside the answers, so a slow Slack never holds them up."""
        streams = {
            answer.answer_id: self._runner.start(
                answer.answer_id, self._catalog.get(answer.model), request
            )
            for answer in answers
        }
        runs: list[asyncio.Task[AnswerStatus]] = []
        refusals: set[str] = set()
        told = asyncio.create_task(self._notices.tell_author(message, notice)) if notice else None
        with self._answers.in_hand(answer.answer_id for answer in answers):
            try:
                await self._after_earlier_placeholders(answers, message.channel_id, thread_ts)
                for answer in answers:
                    spec = self._catalog.get(answer.model)
                    slack_message = self.message_of(
                        answer.answer_id, spec, message.channel_id, thread_ts
                    )
                    try:
                        await slack_message.post_placeholder()
                    except SlackApiError as error:
                        spent = await usage_on_closing(streams.pop(answer.answer_id))
                        refused = await self._not_posted(
                            answer.answer_id, spec, message.channel_id, error, spent
                        )
                        if refused is not None:
                            refusals.add(refused)
                        continue
                    stream = streams.pop(answer.answer_id)
                    job = AnswerJob(answer.answer_id, spec, stream, slack_message)
                    runs.append(asyncio.create_task(self._runner.run(job)))
                if advice := slack_refusal_advice(refusals):
                    await self._notices.tell_author(message, advice)
                await asyncio.gather(*runs)
            except BaseException as error:
                # No answer is left streaming unwatched; when the bot is stopping, those
                # already streaming are finalised as interrupted, and those not posted yet
                # are recorded so, with what their models spent. The gather cancelled its
                # runs already and gave up as soon as one ended: cancelling those again
                # would cut their final edits short.
                if isinstance(error, asyncio.CancelledError):
                    for task in [*runs, *filter(None, [told])]:
                        if not task.cancelling():
                            task.cancel()
                await asyncio.gather(*runs, return_exceptions=True)
                if isinstance(error, asyncio.CancelledError):
                    await self._interrupted_unposted(streams)
                raise
            finally:
                await asyncio.gather(*(stream.close() for stream in streams.values()))
                if told is not None:
                    await asyncio.gather(told, return_exceptions=True)

    async def _interrupted_unposted(self, streams: dict[int, BufferedStream]) -> None:
        """The bot is stopping before these answers' placeholders were posted: each is recorded
        as interrupted, with the tokens its model spent meanwhile (recovery shows it)."""
        for answer_id in list(streams):
            spent = await usage_on_closing(streams.pop(answer_id))
            interrupted = FinishedAnswer(
                AnswerStatus.INTERRUPTED, "", INTERRUPTED, spent.input_tokens, spent.output_tokens
            )
            await self._answers.finish(answer_id, interrupted)
            log.info("answer %s: interrupted before its placeholder was posted", answer_id)

    async def _after_earlier_placeholders(
        self, answers: Sequence[NewAnswer], channel_id: str, thread_ts: str | None
    ) -> None:
        """Wait until the answers recorded before these in the same place (at most
        `EARLIER_PLACEHOLDERS_WAIT_SECONDS` before now) have their placeholders posted: the
        answers to messages said moments apart follow each other in Slack, in the order their
        models are sent them, rather than being posted in between each other. The database
        out of reach meanwhile is waited out as long; then they are posted all the same (they
        stream on unsaved, as any answer does while it is away)."""
        first = min(answer.answer_id for answer in answers)
        give_up_at = time.monotonic() + EARLIER_PLACEHOLDERS_WAIT_SECONDS

        def owed() -> Awaitable[bool]:
            since = self._answers.now() - EARLIER_PLACEHOLDERS_WAIT_SECONDS
            return self._answers.placeholder_owed_before(
                first, channel_id, thread_ts, recorded_since=since
            )

        while True:
            try:
                still_owed = await read_through_outages(
                    owed,
                    until=give_up_at,
                    warning="the placeholders a message's answers wait for could not be read; "
                    "waiting on",
                    logger=log,
                )
            except Exception as error:
                if not unreachable(error):
                    raise
                return
            if not still_owed:
                return
            await asyncio.sleep(EARLIER_PLACEHOLDERS_POLL_SECONDS)

    def message_of(
        self,
        answer_id: int,
        spec: ModelSpec,
        channel_id: str,
        thread_ts: str | None,
        ts: str | None = None,
    ) -> AnswerMessage:
        """The Slack message of an answer: to be posted, or already at `ts`."""
        return AnswerMessage(
            self._web,
            answer_id=answer_id,
            channel=channel_id,
            thread_ts=thread_ts,
            display_name=spec.display_name,
            identity=model_identity(spec),
            update_interval=self._update_interval,
            budget=self._update_budget,
            ts=ts,
        )

    async def _not_posted(
        self,
        answer_id: int,
        spec: ModelSpec,
        channel_id: str,
        error: SlackApiError,
        spent: Usage,
    ) -> str | None:
        """The answer's placeholder is not in Slack: the answer is recorded as failed, with the
        tokens its model `spent` meanwhile (it is asked before the placeholder is posted).
        Returns Slack's refusal code; None when Slack could not be reached (the placeholder may
        be there after all, so the failure line stays owed for recovery to show)."""
        code = slack_error_code(error)
        # Handled: the person is told, or recovery shows the failure once Slack is back.
        log.warning(
            "could not post %s's answer %s in %s: %s", spec.name, answer_id, channel_id, code
        )
        unreachable = isinstance(error, SlackUnreachable)
        shown_error = SLACK_UNREACHABLE if unreachable else code
        failed = FinishedAnswer(
            AnswerStatus.FAILED, "", shown_error, spent.input_tokens, spent.output_tokens
        )
        await self._answers.finish(answer_id, failed)
        if unreachable:
            return None
        await self._marks.answer_shown(answer_id)  # nowhere to show it
        return code
