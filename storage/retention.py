"""Forgetting what was said long ago (`CHORUS_FORGET_AFTER_DAYS`): the text of people's
messages and of the answers to them is erased, in the rows, in reply threads' snapshots and
in edits kept for messages never recorded.
Who said it, when, and each answer's model, timings and tokens stay (the Home tab's usage)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.database import Database
from storage.early_edits import forget_early_edits
from storage.tables import Answer, Chat, ReplyThread, Round, ThreadTurn

BATCH = 500


def forgetting_cutoff(now: float, keep_seconds: float | None) -> float | None:
    """By `now`, what was said before this time is forgotten; None where nothing is."""
    return None if keep_seconds is None else now - keep_seconds


def was_forgotten(message: Round | ThreadTurn, cutoff: float | None) -> bool:
    """Whether forgetting erased this message, not a person deleting it: both leave it deleted,
    but a deletion keeps its text (one edited down to nothing is told apart by its age)."""
    return (
        message.deleted and cutoff is not None and message.created_at < cutoff and not message.text
    )


class RetentionStore:
    def __init__(self, database: Database, *, batch: int = BATCH) -> None:
        self._database = database
        self._batch = batch

    async def forget_said_more_than(self, seconds: float) -> int:
        """`forget_said_before` the time `seconds` before now, by the clock that dated them."""
        return await self.forget_said_before(self._database.now() - seconds)

    async def forget_said_before(self, before: float) -> int:
        """Erase every message (round or thread turn) said before `before`, with its answers;
        returns how many messages, and the edits kept since before then for messages not
        recorded. One transaction per batch, so none holds locks for long."""
        await self._database.run(forget_early_edits, before)
        forgotten = 0
        while True:
            count = await self._database.run(_forget_batch, before, self._batch)
            forgotten += count
            if count < self._batch:
                return forgotten


def _forget_batch(session: Session, before: float, batch: int) -> int:
    round_ids = _unforgotten(session, Round, before, batch)
    turn_ids = _unforgotten(session, ThreadTurn, before, batch - len(round_ids))
    if round_ids:
        _erase_snapshot_entries(session, round_ids)
        session.execute(update(Round).where(Round.id.in_(round_ids)).values(text="", deleted=True))
        session.execute(update(Answer).where(Answer.round_id.in_(round_ids)).values(text=""))
    if turn_ids:
        session.execute(
            update(ThreadTurn).where(ThreadTurn.id.in_(turn_ids)).values(text="", deleted=True)
        )
        session.execute(update(Answer).where(Answer.thread_turn_id.in_(turn_ids)).values(text=""))
    return len(round_ids) + len(turn_ids)


def _unforgotten(
    session: Session, table: type[Round] | type[ThreadTurn], before: float, limit: int
) -> list[int]:
    """The oldest messages said before `before` whose text is still kept (a partial index
    holds only those, so the ones forgotten already are never read again)."""
    if limit <= 0:
        return []
    query = (
        select(table.id)
        .where(table.text != "", table.created_at < before)
        .order_by(table.created_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def _erase_snapshot_entries(session: Session, round_ids: Sequence[int]) -> None:
    """Drop these rounds from the snapshots of the reply threads of their chats (a snapshot
    only holds rounds of the chat its thread is in)."""
    chats = select(Round.chat_id).where(Round.id.in_(round_ids)).distinct()
    # A thread being created in these chats holds its chat (FOR SHARE) with the snapshot it
    # read: wait for it, so that it is found below, or it waits and reads these rounds deleted.
    session.execute(
        select(Chat.id).where(Chat.id.in_(chats)).order_by(Chat.id).with_for_update(key_share=True)
    )
    threads = session.execute(
        select(ReplyThread.id, ReplyThread.snapshot)
        .join(Answer, Answer.id == ReplyThread.answer_id)
        .join(Round, Round.id == Answer.round_id)
        .where(Round.chat_id.in_(chats))
    ).all()
    forgotten = set(round_ids)
    for thread_id, snapshot in threads:
        kept = [entry for entry in snapshot if entry["round_id"] not in forgotten]
        if len(kept) < len(snapshot):
            session.execute(
                update(ReplyThread).where(ReplyThread.id == thread_id).values(snapshot=kept)
            )
