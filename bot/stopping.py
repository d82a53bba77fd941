"""Stop buttons: a person stops a streaming answer, on whichever replica streams it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.slack.notices import Notices
from bot.slack.web import SlackWeb
from storage.answers import STOPPED_BY_DELETION, AnswerStore

log = logging.getLogger(__name__)
STOP_POLL_SECONDS = 1.0  # how soon a Stop pressed on another replica is seen here
ALREADY_FINISHED = "That answer has already finished: there is nothing to stop."


def nothing_to_stop(stopped_by: str | None) -> str:
    """What a person pressing Stop on an answer no longer streaming is told: who stopped it
    first (`STOPPED_BY_DELETION`: its message's deletion), if anyone did."""
    if stopped_by is None:
        return ALREADY_FINISHED
    if stopped_by == STOPPED_BY_DELETION:
        return "That answer is stopped already: the message it answers was deleted."
    return f"That answer is stopped already: {stopped_by} stopped it."


@dataclass(slots=True)
class StopRequest:
    """Filled in when someone stops the answer: who did (their display name)."""

    by: str | None = None


class AnswerStops:
    """Records Stop presses in the database and cancels the answers this replica streams.

    The press may reach any replica: it is recorded, cancelled at once when the answer
    streams here, and otherwise found by the streaming replica's `watch_forever` poll."""

    def __init__(self, answers: AnswerStore, web: SlackWeb, notices: Notices) -> None:
        self._answers = answers
        self._web = web
        self._notices = notices
        self._streaming: dict[int, tuple[asyncio.Task[Any], StopRequest]] = {}

    @contextmanager
    def streaming(self, answer_id: int, stream: asyncio.Task[Any]) -> Iterator[StopRequest]:
        """While inside, a Stop press on `answer_id` cancels `stream` and fills the request."""
        request = StopRequest()
        self._streaming[answer_id] = (stream, request)
        try:
            yield request
        finally:
            self._streaming.pop(answer_id, None)

    async def press(
        self,
        channel_id: str,
        message_ts: str,
        user_id: str,
        *,
        thread_ts: str | None = None,
        handle: str | None = None,
    ) -> None:
        """Someone (whose Slack handle is `handle`) pressed Stop on the message `message_ts`
        (in thread `thread_ts`)."""
        doing = "while stopping that answer"
        async with self._notices.apologising(channel_id, user_id, doing, thread_ts=thread_ts):
            who = await self._web.user_name(user_id, known_as=handle)
            await self._press(channel_id, message_ts, user_id, who, thread_ts)

    async def _press(
        self, channel_id: str, message_ts: str, user_id: str, who: str, thread_ts: str | None
    ) -> None:
        press = await self._answers.request_stop(channel_id, message_ts, who)
        if press.answer_id is None:
            log.info("Stop pressed on %s in %s: not streaming", message_ts, channel_id)
            told = nothing_to_stop(press.stopped_by)
            await self._notices.tell(channel_id, user_id, told, thread_ts=thread_ts)
            return
        log.info("answer %s stopped by %s", press.answer_id, user_id)
        self._stop(press.answer_id, who)

    async def watch_forever(self) -> None:
        """Stop the answers streaming here that were stopped through another replica. A
        failure is logged once until looking works again: polled each second, an outage of
        the database would otherwise say so each second."""
        failing = False
        while True:
            await asyncio.sleep(STOP_POLL_SECONDS)
            if not self._streaming:
                continue
            try:
                requests = await self._answers.stop_requests(list(self._streaming))
            except Exception:
                if not failing:
                    log.exception("looking for Stop presses failed (said once until it works)")
                failing = True
                continue
            if failing:
                log.info("looking for Stop presses works again")
                failing = False
            for answer_id, who in requests.items():
                self._stop(answer_id, who)

    def _stop(self, answer_id: int, who: str) -> None:
        streaming = self._streaming.get(answer_id)
        if streaming is None:
            return
        stream, request = streaming
        if request.by is None:
            request.by = who
            stream.cancel()
