"""An answer's life in the database: posted, streaming, finished, or found interrupted."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chat.history import RoundRecord, in_chat_answer_id
from bot.chat.in_chat import AnswerStatus
from storage.conversations import answer_records_by
from storage.tables import Answer, Round

_UNSETTLED = (AnswerStatus.PENDING.value, AnswerStatus.STREAMING.value)


@dataclass(frozen=True, slots=True)
class FinishedAnswer:
    """How an answer ended."""

    status: AnswerStatus
    text: str
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    continuation_ts: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class InterruptedAnswer:
    """An answer whose process stopped before it finished; now marked interrupted."""

    answer_id: int
    round_id: int | None
    model: str
    channel_id: str
    post_thread_ts: str | None
    slack_ts: str | None
    text: str
    started_at: float


class AnswerStore:
    """The one place that writes an answer's progress and outcome."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def posted(self, answer_id: int, slack_ts: str) -> None:
        """The answer's placeholder message is in Slack."""
        await self._update(answer_id, slack_ts=slack_ts, heartbeat_at=time.time())

    async def progress(self, answer_id: int, text: str, first_token_at: float | None) -> None:
        """Partial text so far (kept if the process dies), and a heartbeat."""
        await self._update(
            answer_id,
            text=text,
            status=AnswerStatus.STREAMING.value,
            first_token_at=first_token_at,
            heartbeat_at=time.time(),
        )

    async def finish(self, answer_id: int, outcome: FinishedAnswer) -> None:
        now = time.time()
        await self._update(
            answer_id,
            status=outcome.status.value,
            text=outcome.text,
            error=outcome.error,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            continuation_ts=list(outcome.continuation_ts),
            finished_at=now,
            heartbeat_at=now,
        )

    async def settle_round(self, round_id: int) -> int | None:
        """Record the round's In Chat answer once every answer has settled; returns it."""
        async with self._sessions.begin() as session:
            round_ = await session.get_one(Round, round_id)
            if round_.in_chat_answer_id is not None:
                return round_.in_chat_answer_id
            answers = (await answer_records_by(session, Answer.round_id, [round_id])).get(
                round_id, []
            )
            if not all(answer.status.settled for answer in answers):
                return None
            record = RoundRecord(round_id, round_.author_name, round_.text, None, tuple(answers))
            round_.in_chat_answer_id = in_chat_answer_id(record)
            return round_.in_chat_answer_id

    async def heartbeat(self, owner: str) -> None:
        """This replica is alive: its unsettled answers are not to be taken over."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Answer)
                .where(Answer.owner == owner, Answer.status.in_(_UNSETTLED))
                .values(heartbeat_at=time.time())
            )

    async def take_over_interrupted(
        self, *, stale_before: float, previous_owner: str | None = None
    ) -> list[InterruptedAnswer]:
        """Mark interrupted every unsettled answer whose replica stopped sending heartbeats, and
        (at start-up) those of this replica's previous life. Each is taken over exactly once."""
        stale = Answer.heartbeat_at < stale_before
        whose = stale if previous_owner is None else or_(stale, Answer.owner == previous_owner)
        async with self._sessions.begin() as session:
            candidates = (
                await session.scalars(
                    select(Answer.id).where(
                        Answer.status.in_(_UNSETTLED),
                        whose,
                    )
                )
            ).all()
            if not candidates:
                return []
            rows = (
                await session.execute(
                    update(Answer)
                    .where(Answer.id.in_(candidates), Answer.status.in_(_UNSETTLED))
                    .values(status=AnswerStatus.INTERRUPTED.value, finished_at=time.time())
                    .returning(
                        Answer.id.label("answer_id"),
                        Answer.round_id,
                        Answer.model,
                        Answer.channel_id,
                        Answer.post_thread_ts,
                        Answer.slack_ts,
                        Answer.text,
                        Answer.started_at,
                    )
                )
            ).all()
        return [InterruptedAnswer(**row._asdict()) for row in rows]

    async def _update(self, answer_id: int, **values: object) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(Answer).where(Answer.id == answer_id).values(**values))
