"""The Regenerate button: an answer written again, in its own message, from its messages as
they read once the answers before it are settled, at once mostly (SPEC §2.4)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from bot.answering import INTERNAL_ERROR, AnswerJob, AnswerRunner
from bot.chat.catalog import ModelCatalog
from bot.chat.in_chat import AnswerStatus
from bot.chat.messages import PendingRequest
from bot.fan_out import FanOut
from bot.model_requests import ModelRequests
from bot.slack.notices import Notices
from storage.answers import AnswerStore, FinishedAnswer
from storage.regeneration import (
    RegenerationRefused,
    RegenerationStore,
    RoundSource,
    TurnSource,
)

log = logging.getLogger(__name__)


class Regenerating:
    """Restarts an answer of the latest message of its chat or thread, once however often
    (and on however many replicas) the button is pressed."""

    def __init__(
        self,
        *,
        catalog: ModelCatalog,
        regenerations: RegenerationStore,
        answers: AnswerStore,
        runner: AnswerRunner,
        fan_out: FanOut,
        requests: ModelRequests,
        notices: Notices,
        replica_id: str,
        set_up_providers: Collection[str],
    ) -> None:
        self._catalog = catalog
        self._set_up_providers = frozenset(set_up_providers)
        self._regenerations = regenerations
        self._answers = answers
        self._runner = runner
        self._fan_out = fan_out
        self._requests = requests
        self._notices = notices
        self._replica_id = replica_id

    def _answerable(self, model: str) -> bool:
        """A model no longer listed still answers in its reply threads while its provider is
        set up: its answers there can be regenerated too."""
        return self._catalog.get(model).provider in self._set_up_providers

    async def regenerate(
        self, channel_id: str, answer_ts: str, user_id: str, *, thread_ts: str | None = None
    ) -> None:
        """A person pressed Regenerate on the answer `answer_ts` (in thread `thread_ts`)."""
        doing = "while regenerating that answer"
        async with self._notices.apologising(channel_id, user_id, doing, thread_ts=thread_ts):
            await self._regenerate(channel_id, answer_ts, user_id, thread_ts)

    async def _regenerate(
        self, channel_id: str, answer_ts: str, user_id: str, thread_ts: str | None
    ) -> None:
        restarted = await self._regenerations.restart(
            channel_id,
            answer_ts,
            owner=self._replica_id,
            answerable=self._answerable,
        )
        if isinstance(restarted, RegenerationRefused):
            await self._notices.tell(channel_id, user_id, restarted.value, thread_ts=thread_ts)
            return
        log.info("answer %s regenerated for %s", restarted.answer_id, user_id)
        source = restarted.source
        spec = self._catalog.get(restarted.model)
        message = self._fan_out.message_of(
            restarted.answer_id, spec, channel_id, restarted.post_thread_ts, restarted.slack_ts
        )
        with self._answers.in_hand([restarted.answer_id]):
            # Built in the stream, so the message shows its placeholder and Stop at once, also
            # while the answers before it are still being written.
            stream = self._runner.start(
                restarted.answer_id, spec, self._request(channel_id, source)
            )
            job = AnswerJob(restarted.answer_id, spec, stream, message)
            try:
                await message.start_again(restarted.old_continuations)
            except Exception:
                # Never leave the answer pending: it fails with a line saying so (shown later by
                # recovery if Slack is the trouble).
                await stream.close()
                failed = FinishedAnswer(AnswerStatus.FAILED, text="", error=INTERNAL_ERROR)
                await self._answers.finish(restarted.answer_id, failed)
                raise
            except asyncio.CancelledError:
                # The bot is stopping (Slack slow to reset the message): the answer ends in its
                # message now, as those streaming do, not showing its placeholder until the
                # next start.
                await self._runner.interrupted(job)
                raise
            await self._runner.run(job)

    def _request(self, channel_id: str, source: RoundSource | TurnSource) -> PendingRequest:
        """The answer's request, built as its messages read once the answers before it are
        settled."""
        if isinstance(source, RoundSource):
            return self._requests.for_stored_round(
                channel_id, source.chat_id, source.round_id, source.author
            )
        return self._requests.for_stored_thread_turn(
            source.reply_thread_id, source.turn_id, source.author
        )
