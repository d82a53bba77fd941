"""An answer's life in the database: posted, streaming, finished, or found interrupted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from bot.chat.in_chat import AnswerStatus
from storage.database import Database
from storage.in_chat_marks import current_marks, hold_answers_chat, mark_settled, marks_owed
from storage.liveness import PreviousLife, left_behind
from storage.rows import InterruptedWork, SettledAnswer, insert_or_ignore
from storage.tables import Answer, AnswerContinuation

# An answer in one of these is still being written (or about to be).
UNSETTLED_STATUSES = (AnswerStatus.PENDING.value, AnswerStatus.STREAMING.value)
# Who stopped an answer, when it was the deletion of the message it answers: no person's
# display name is empty.
STOPPED_BY_DELETION = ""


@dataclass(frozen=True, slots=True)
class StopPress:
    """What a Stop press found: the answer it stops, or, with nothing left to stop, who
    stopped the answer before (`STOPPED_BY_DELETION`: the deletion of its message), if anyone."""

    answer_id: int | None
    stopped_by: str | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    """An answer's end, recorded."""

    in_chat: bool  # it is its round's In Chat answer: its message shows the mark


@dataclass(frozen=True, slots=True)
class FinishedAnswer:
    """How an answer ended."""

    status: AnswerStatus
    text: str
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class AnswerStore:
    """The one place that writes an answer's progress and outcome, for one replica: an
    answer another replica took over (or restarted) is no longer written from here."""

    def __init__(self, database: Database, *, replica_id: str) -> None:
        self._database = database
        self._replica_id = replica_id
        self._in_hand: Counter[int] = Counter()

    @contextmanager
    def in_hand(self, answer_ids: Iterable[int]) -> Iterator[None]:
        """This process works on these answers (streams or shows them) meanwhile: `heartbeat`
        keeps other replicas' recovery off them. An answer left unsettled or unshown after
        this gets no heartbeat, so recovery takes it over."""
        held = list(answer_ids)
        self._in_hand.update(held)
        try:
            yield
        finally:
            self._in_hand.subtract(held)
            for answer_id in held:
                if self._in_hand[answer_id] <= 0:
                    del self._in_hand[answer_id]

    def now(self) -> float:
        """The time, as storage records it (by the database server's clock)."""
        return self._database.now()

    async def posted(self, answer_id: int, slack_ts: str) -> None:
        """The answer's placeholder message is in Slack."""
        await self._update(answer_id, slack_ts=slack_ts, heartbeat_at=self._database.now())

    async def streams_at(self, answer_id: int, slack_ts: str) -> bool:
        """The answer's placeholder is in Slack, and the answer streams into it from here (a
        heartbeat too). False when it is no longer this replica's to write: recovery took it
        over while its placeholder was being posted."""
        return await self._database.run(
            _update_unsettled,
            answer_id,
            self._replica_id,
            {"slack_ts": slack_ts, "heartbeat_at": self._database.now()},
        )

    async def progress(
        self,
        answer_id: int,
        text: str,
        first_token_at: float | None,
        *,
        slack_ts: str | None = None,
    ) -> bool:
        """Partial text so far (kept if the process dies), and a heartbeat (and where its
        message is, when `streams_at` could not record it). False when the answer is no
        longer this replica's to write: recovery took it over (and someone may have
        regenerated it since)."""
        where = {"slack_ts": slack_ts} if slack_ts is not None else {}
        return await self._database.run(
            _update_unsettled,
            answer_id,
            self._replica_id,
            {
                **where,
                "text": text,
                "status": AnswerStatus.STREAMING.value,
                "first_token_at": first_token_at,
                "heartbeat_at": self._database.now(),
            },
        )

    async def finish(
        self, answer_id: int, outcome: FinishedAnswer, *, slack_ts: str | None = None
    ) -> Ended | None:
        """How the answer ended (and, when not yet recorded by `posted`, where its message is).
        None when it is no longer this replica's to end: recovery took it over, and shows it."""
        now = self._database.now()
        where = {"slack_ts": slack_ts} if slack_ts is not None else {}
        return await self._database.run(
            _finish,
            answer_id,
            self._replica_id,
            dict(
                **where,
                status=outcome.status.value,
                text=outcome.text,
                error=outcome.error,
                input_tokens=outcome.input_tokens,
                output_tokens=outcome.output_tokens,
                finished_at=now,
                shown_at=None,  # owed to Slack until `shown()`
                heartbeat_at=now,
            ),
        )

    async def heartbeat(self) -> None:
        """This replica is alive: the answers it has in hand, until Slack shows them, are not
        to be taken over."""
        if not self._in_hand:
            return
        await self._database.run(
            _heartbeat, self._replica_id, list(self._in_hand), self._database.now()
        )

    async def shown(
        self, answer_id: int, continuation_ts: Sequence[str] = ()
    ) -> list[SettledAnswer]:
        """The final text is in Slack (and any continuation messages). Not recorded once the
        answer is no longer this replica's: another took it over (after a long pause here) and
        showed it, and may have regenerated it since (its heartbeats need it unshown). Returns
        the answers of its round whose In Chat mark is now to change (`marks_owed`)."""
        values: dict[str, object] = {"shown_at": self._database.now()}
        if continuation_ts:
            values["continuation_ts"] = list(continuation_ts)
        return await self._database.run(
            _shown, answer_id, self._replica_id, values, list(continuation_ts)
        )

    async def current_marks(self, answer_ids: list[int]) -> dict[int, SettledAnswer]:
        """See `storage.in_chat_marks.current_marks`."""
        return await self._database.run(current_marks, answer_ids)

    async def take_over_interrupted(
        self, *, stale_before: float, error: str, previous_life: PreviousLife | None = None
    ) -> InterruptedWork:
        """Mark interrupted every unsettled answer whose replica stopped sending heartbeats,
        or (at start-up) that this replica (`previous_life`: its id and start time) left
        behind. Each is taken over once; returns the rounds and thread turns they answer.
        Their final text is shown by `take_over_unshown()`. Never the answers this process has
        in hand: their writer is alive, however late their heartbeat (an event loop held up)."""
        return await self._database.run(
            _take_over_interrupted,
            stale_before,
            error,
            previous_life,
            self._database.now(),
            sorted(self._in_hand),
        )

    async def take_over_unshown(
        self, *, stale_before: float, previous_life: PreviousLife | None = None
    ) -> list[SettledAnswer]:
        """Settled answers whose final edit is still owed to Slack, left so by a replica that
        stopped (or is stuck), or by this replica's previous life. Each is handed to one
        replica, which has `stale_before`'s grace to show it before it is handed on. Never
        the answers this process has in hand: it is showing them already."""
        return await self._database.run(
            _take_over_unshown,
            self._replica_id,
            stale_before,
            previous_life,
            self._database.now(),
            sorted(self._in_hand),
        )

    async def any_unshown(self) -> bool:
        """Whether this replica id holds an answer not yet shown whole in Slack (one being
        written, or whose final edit is owed)."""
        return await self._database.run(_any_unshown, self._replica_id)

    async def written_by_a_twin(self, this_life: PreviousLife) -> list[int]:
        """The unsettled answers of this replica id (`this_life`: it and when this process
        started) that another live process writes: recorded before this process started, yet
        with a heartbeat since, and not in hand here. (Only their writer sends them heartbeats;
        recovery settles the answers it takes over.)"""
        return await self._database.run(_written_by_a_twin, this_life, sorted(self._in_hand))

    async def placeholder_owed_before(
        self, answer_id: int, channel_id: str, thread_ts: str | None, *, recorded_since: float
    ) -> bool:
        """Whether an answer recorded before `answer_id` (an earlier round's or turn's), since
        `recorded_since`, to be posted in the same place, the channel's top level or the
        thread `thread_ts`, still waits for its placeholder to be posted."""
        return await self._database.run(
            _placeholder_owed_before, answer_id, channel_id, thread_ts, recorded_since
        )

    async def request_stop(self, channel_id: str, slack_ts: str, who: str) -> StopPress:
        """A person pressed Stop on the answer in this Slack message: the answer to stop, or
        nothing when it has settled, or was stopped before, or is no answer."""
        return await self._database.run(_request_stop, channel_id, slack_ts, who)

    async def stop_requests(self, answer_ids: Collection[int]) -> dict[int, str]:
        """Who asked to stop which of these answers (answers nobody stopped are left out)."""
        if not answer_ids:
            return {}
        return await self._database.run(_stop_requests, list(answer_ids))

    async def _update(self, answer_id: int, **values: object) -> None:
        await self._database.run(_update, answer_id, values)


_ANSWERS: Table = Answer.__table__  # type: ignore[assignment]
_CONTINUATIONS: Table = AnswerContinuation.__table__  # type: ignore[assignment]
# The columns to set come with the parameters (all but "answer").
_UPDATE_ANSWER = update(_ANSWERS).where(_ANSWERS.c.id == bindparam("answer"))


def _update(session: Session, answer_id: int, values: dict[str, object]) -> None:
    session.execute(_UPDATE_ANSWER, {"answer": answer_id, **values})


_UPDATE_UNSETTLED_ANSWER = _UPDATE_ANSWER.where(
    _ANSWERS.c.status.in_(UNSETTLED_STATUSES), _ANSWERS.c.owner == bindparam("writer")
)


def _update_unsettled(
    session: Session, answer_id: int, writer: str, values: dict[str, object]
) -> bool:
    result = session.execute(
        _UPDATE_UNSETTLED_ANSWER, {"answer": answer_id, "writer": writer, **values}
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


_FINISH_ANSWER = _UPDATE_UNSETTLED_ANSWER.returning(_ANSWERS.c.round_id)


def _finish(
    session: Session, answer_id: int, writer: str, values: dict[str, object]
) -> Ended | None:
    ended = session.execute(
        _FINISH_ANSWER, {"answer": answer_id, "writer": writer, **values}
    ).first()
    if ended is None:
        return None
    round_id = ended.round_id
    # A failed answer is never In Chat: no need to read its round.
    may_be_in_chat = round_id is not None and AnswerStatus(str(values["status"])).keeps_text
    return Ended(in_chat=may_be_in_chat and mark_settled(session, answer_id, round_id))


_UPDATE_SETTLED_ANSWER = _UPDATE_ANSWER.where(
    _ANSWERS.c.status.not_in(UNSETTLED_STATUSES), _ANSWERS.c.owner == bindparam("writer")
)


def _update_settled(
    session: Session, answer_id: int, writer: str, values: dict[str, object]
) -> None:
    session.execute(_UPDATE_SETTLED_ANSWER, {"answer": answer_id, "writer": writer, **values})


def _shown(
    session: Session,
    answer_id: int,
    writer: str,
    values: dict[str, object],
    continuation_ts: list[str],
) -> list[SettledAnswer]:
    round_id = hold_answers_chat(session, answer_id)
    _update_settled(session, answer_id, writer, values)
    if continuation_ts:  # posted, whoever holds the answer now: a reaction on one is about it
        channel_id = session.scalar(select(Answer.channel_id).where(Answer.id == answer_id))
        session.execute(
            insert_or_ignore(session, _CONTINUATIONS),
            [
                {"channel_id": channel_id, "slack_ts": ts, "answer_id": answer_id}
                for ts in continuation_ts
            ],
        )
    # A reply in a reply thread is never In Chat.
    return [] if round_id is None else marks_owed(session, round_id)


def _heartbeat(session: Session, owner: str, answer_ids: list[int], now: float) -> None:
    session.execute(
        update(Answer)
        .where(Answer.id.in_(answer_ids), Answer.owner == owner, Answer.shown_at.is_(None))
        .values(heartbeat_at=now)
    )


def _take_over_interrupted(
    session: Session,
    stale_before: float,
    error: str,
    previous_life: PreviousLife | None,
    now: float,
    held: list[int],
) -> InterruptedWork:
    whose = left_behind(
        Answer.heartbeat_at, Answer.owner, stale_before, previous_life, key=Answer.id, in_hand=held
    )
    candidates = session.scalars(
        select(Answer.id).where(Answer.status.in_(UNSETTLED_STATUSES), whose).limit(500)
    ).all()
    if not candidates:
        return InterruptedWork()
    # Re-checking the condition in the UPDATE makes each answer change hands once.
    taken = session.execute(
        update(Answer)
        .where(Answer.id.in_(candidates), Answer.status.in_(UNSETTLED_STATUSES), whose)
        .values(status=AnswerStatus.INTERRUPTED.value, error=error, finished_at=now)
        .returning(Answer.round_id, Answer.thread_turn_id)
    ).all()
    return InterruptedWork(
        rounds=_distinct(round_id for round_id, _ in taken),
        thread_turns=_distinct(turn_id for _, turn_id in taken),
    )


def _distinct(ids: Iterable[int | None]) -> tuple[int, ...]:
    return tuple(sorted({id_ for id_ in ids if id_ is not None}))


def _take_over_unshown(
    session: Session,
    owner: str,
    stale_before: float,
    previous_life: PreviousLife | None,
    now: float,
    held: list[int],
) -> list[SettledAnswer]:
    whose = left_behind(
        Answer.heartbeat_at, Answer.owner, stale_before, previous_life, key=Answer.id, in_hand=held
    )
    owed = (~Answer.status.in_(UNSETTLED_STATUSES), Answer.shown_at.is_(None), whose)
    candidates = session.scalars(
        select(Answer.id).where(*owed).order_by(Answer.id).limit(200)
    ).all()
    if not candidates:
        return []
    # Re-checking the condition in the UPDATE makes each answer change hands once.
    rows = session.scalars(
        update(Answer)
        .where(Answer.id.in_(candidates), *owed)
        .values(owner=owner, heartbeat_at=now)
        .returning(Answer)
    ).all()
    return [SettledAnswer.of(row) for row in sorted(rows, key=lambda row: row.id)]


def _any_unshown(session: Session, owner: str) -> bool:
    unshown = select(Answer.id).where(Answer.shown_at.is_(None), Answer.owner == owner)
    return session.scalar(unshown.limit(1)) is not None


def _written_by_a_twin(session: Session, this_life: PreviousLife, held: list[int]) -> list[int]:
    replica_id, started_at = this_life
    return list(
        session.scalars(
            select(Answer.id)
            .where(
                Answer.status.in_(UNSETTLED_STATUSES),
                Answer.owner == replica_id,
                Answer.started_at < started_at,
                Answer.heartbeat_at >= started_at,
                Answer.id.not_in(held),
            )
            .order_by(Answer.id)
            .limit(100)
        )
    )


def _placeholder_owed_before(
    session: Session, answer_id: int, channel_id: str, thread_ts: str | None, since: float
) -> bool:
    in_place = (
        Answer.post_thread_ts.is_(None) if thread_ts is None else Answer.post_thread_ts == thread_ts
    )
    owed = session.scalar(
        select(Answer.id)
        .where(
            Answer.status.in_(UNSETTLED_STATUSES),
            Answer.slack_ts.is_(None),
            Answer.channel_id == channel_id,
            in_place,
            Answer.id < answer_id,
            Answer.started_at >= since,
        )
        .limit(1)
    )
    return owed is not None


# What an answer somebody stopped may have ended as: stopped, or failed for want of any text
# when its message was deleted.
_STOPPABLE_ENDS = (*UNSETTLED_STATUSES, AnswerStatus.STOPPED.value, AnswerStatus.FAILED.value)


def _request_stop(session: Session, channel_id: str, slack_ts: str, who: str) -> StopPress:
    at_message = (Answer.channel_id == channel_id, Answer.slack_ts == slack_ts)
    # The first stop counts: a second press, or one just after the message's deletion, does
    # not rename who stopped it.
    answer_id: int | None = session.scalar(
        update(Answer)
        .where(
            *at_message,
            Answer.status.in_(UNSETTLED_STATUSES),
            Answer.stop_requested_by.is_(None),
        )
        .values(stop_requested_by=who)
        .returning(Answer.id)
    )
    if answer_id is not None:
        return StopPress(answer_id)
    before = session.scalar(
        select(Answer.stop_requested_by).where(
            *at_message, Answer.status.in_(_STOPPABLE_ENDS), Answer.stop_requested_by.is_not(None)
        )
    )
    return StopPress(None, before)


def _stop_requests(session: Session, answer_ids: Collection[int]) -> dict[int, str]:
    rows = session.execute(
        select(Answer.id, Answer.stop_requested_by).where(
            Answer.id.in_(answer_ids), Answer.stop_requested_by.is_not(None)
        )
    )
    return {answer_id: str(who) for answer_id, who in rows}
