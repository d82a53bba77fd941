"""Answers left unfinished by a crash or a lost replica: finalised with a clear note."""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError

from bot.answering import INTERRUPTED
from bot.chat.catalog import ModelCatalog
from bot.conversation import identity_for
from bot.slack.rendering import error_message, final_messages, footer_line
from bot.slack.web import SlackWeb, slack_error_code
from storage.answers import AnswerStore, InterruptedAnswer

log = logging.getLogger(__name__)


class InterruptedAnswers:
    """Finds answers whose process died mid-answer and finalises them, once, in Slack."""

    def __init__(
        self,
        answers: AnswerStore,
        web: SlackWeb,
        catalog: ModelCatalog,
        *,
        replica_id: str,
        stale_seconds: float,
    ) -> None:
        self._answers = answers
        self._web = web
        self._catalog = catalog
        self._replica_id = replica_id
        self._stale_seconds = stale_seconds

    async def finalise(self, *, at_start_up: bool) -> int:
        """Finalise every interrupted answer; at start-up, all of this replica's earlier ones."""
        taken = await self._answers.take_over_interrupted(
            stale_before=time.time() - self._stale_seconds,
            previous_owner=self._replica_id if at_start_up else None,
        )
        for answer in taken:
            await self._show(answer)
            if answer.round_id is not None:
                await self._answers.settle_round(answer.round_id)
        if taken:
            log.warning("finalised %d answer(s) interrupted mid-stream", len(taken))
        return len(taken)

    async def sweep_forever(self) -> None:
        """Take over the answers of replicas that stopped (no heartbeat), periodically."""
        while True:
            await asyncio.sleep(self._stale_seconds / 2)
            try:
                await self.finalise(at_start_up=False)
            except Exception:
                log.exception("sweeping interrupted answers failed")

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
