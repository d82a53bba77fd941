"""What a crash or a lost replica left unfinished: answers are finalised with a clear note,
events not yet handled are handled."""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError

from bot.answering import INTERRUPTED
from bot.chat.catalog import ModelCatalog
from bot.conversation import identity_for
from bot.slack.event_intake import EventIntake
from bot.slack.rendering import error_message, final_messages, footer_line
from bot.slack.web import SlackWeb, slack_error_code
from storage.answers import AnswerStore, InterruptedAnswer
from storage.inbox import EventInbox

log = logging.getLogger(__name__)


class Recovery:
    """Takes over, exactly once, what a dead process (this replica's previous life, or a
    replica that stopped sending heartbeats) left unfinished."""

    def __init__(
        self,
        answers: AnswerStore,
        inbox: EventInbox,
        intake: EventIntake,
        web: SlackWeb,
        catalog: ModelCatalog,
        *,
        replica_id: str,
        stale_seconds: float,
    ) -> None:
        self._answers = answers
        self._inbox = inbox
        self._intake = intake
        self._web = web
        self._catalog = catalog
        self._replica_id = replica_id
        self._stale_seconds = stale_seconds

    async def recover(self, *, at_start_up: bool) -> None:
        """Finalise interrupted answers, then resume events that were never handled."""
        stale_before = time.time() - self._stale_seconds
        previous_owner = self._replica_id if at_start_up else None
        answers = await self._answers.take_over_interrupted(
            stale_before=stale_before, previous_owner=previous_owner
        )
        for answer in answers:
            await self._show(answer)
            if answer.round_id is not None:
                await self._answers.settle_round(answer.round_id)
        if answers:
            log.warning("finalised %d answer(s) interrupted mid-stream", len(answers))
        events = await self._inbox.take_over_unfinished(
            owner=self._replica_id, stale_before=stale_before, previous_owner=previous_owner
        )
        for event in events:
            log.warning("resuming event %s, left unfinished by a stopped replica", event.event_id)
            self._intake.start(event.event_id, event.payload)

    async def sweep_forever(self) -> None:
        """Keep this replica's heartbeats fresh, and take over the work of replicas whose
        heartbeats stopped."""
        while True:
            await asyncio.sleep(self._stale_seconds / 4)
            try:
                await self._answers.heartbeat(self._replica_id)
                await self._inbox.heartbeat(self._replica_id)
                await self.recover(at_start_up=False)
            except Exception:
                log.exception("recovering interrupted work failed")

    async def _show(self, answer: InterruptedAnswer) -> None:
        spec = self._catalog.get(answer.model)
        if answer.text:
            seconds = time.time() - answer.started_at
            footer = footer_line(spec.display_name, seconds, None, None, note=INTERRUPTED)
            message = final_messages(spec.display_name, answer.text, footer)[0]
        else:
            message = error_message(spec.display_name, INTERRUPTED)
        try:
            if answer.slack_ts:
                await self._web.update(answer.channel_id, answer.slack_ts, message)
            else:
                await self._web.post(
                    answer.channel_id,
                    message,
                    thread_ts=answer.post_thread_ts,
                    identity=identity_for(spec),
                )
        except SlackApiError as error:
            log.error(
                "could not finalise interrupted answer %s: %s",
                answer.answer_id,
                slack_error_code(error),
            )
