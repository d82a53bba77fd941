"""Row-level pieces the stores share: a claimed message, new answers, answers read back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Subquery, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.chat.history import AnswerRecord
from bot.chat.in_chat import AnswerStatus
from storage.tables import Answer, Base, ClaimedMessage


@dataclass(frozen=True, slots=True)
class MessageClaim:
    """The person's message a round or thread turn answers; each gets one."""

    team_id: str
    channel_id: str
    message_ts: str


@dataclass(frozen=True, slots=True)
class NewAnswer:
    answer_id: int
    model: str


def claim_message(session: Session, claim: MessageClaim, now: float) -> None:
    """Insert the claim; a message claimed already raises IntegrityError."""
    session.execute(
        insert(ClaimedMessage.__table__).values(  # type: ignore[arg-type]
            team_id=claim.team_id,
            channel_id=claim.channel_id,
            message_ts=claim.message_ts,
            claimed_at=now,
        )
    )


def said_columns(
    claim: MessageClaim, *, user_id: str, author: str, text: str, now: float
) -> dict[str, Any]:
    """The columns a round and a thread turn share: the person's message they record."""
    return {
        "channel_id": claim.channel_id,
        "message_ts": claim.message_ts,
        "user_id": user_id,
        "author_name": author,
        "text": text,
        "deleted": False,
        "created_at": now,
    }


def insert_returning_id(session: Session, entity: type[Base], **values: Any) -> int:
    """A Core INSERT of one row (the ORM's unit of work costs more than the write itself)."""
    table: Table = entity.__table__  # type: ignore[assignment]
    new_id: int = (
        session.execute(insert(table).values(**values).returning(table.c.id))
    ).scalar_one()
    return new_id


def insert_or_ignore(session: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def new_answer_columns(
    *,
    model: str,
    position: int,
    channel_id: str,
    post_thread_ts: str | None,
    owner: str,
    now: float,
    round_id: int | None = None,
    thread_turn_id: int | None = None,
) -> dict[str, Any]:
    """A pending answer of a round (`round_id`) or of a thread turn (`thread_turn_id`)."""
    return {
        "round_id": round_id,
        "thread_turn_id": thread_turn_id,
        "position": position,
        "model": model,
        "channel_id": channel_id,
        "post_thread_ts": post_thread_ts,
        "deleted": False,
        **unstarted_answer(owner, now),
    }


def unstarted_answer(owner: str, now: float) -> dict[str, Any]:
    """An answer's columns before its model starts: a new answer, or one regenerated."""
    return {
        "status": AnswerStatus.PENDING.value,
        "text": "",
        "continuation_ts": [],
        "started_at": now,
        "owner": owner,
        "heartbeat_at": now,
    }


def insert_answers(session: Session, rows: Sequence[dict[str, Any]]) -> tuple[NewAnswer, ...]:
    """New answer rows in one statement, returned in model order."""
    if not rows:
        return ()
    table: Table = Answer.__table__  # type: ignore[assignment]
    inserted = session.execute(
        insert(table).returning(table.c.id, table.c.model, table.c.position), list(rows)
    )
    return tuple(
        NewAnswer(answer_id, model)
        for answer_id, model, _ in sorted(inserted, key=lambda row: row.position)
    )


def with_answers(
    session: Session, latest: Subquery, answer_owner: Any
) -> list[tuple[tuple[Any, ...], list[AnswerRecord]]]:
    """The rows of `latest` (rounds or thread turns, id first), oldest first, each with its
    answers in model order: one query, each trip to the database counts."""
    rows = session.execute(
        select(latest, Answer.id, Answer.status, Answer.text, Answer.deleted)
        .outerjoin(Answer, answer_owner == latest.c.id)
        .order_by(latest.c.id, Answer.position, Answer.id)
    )
    grouped: dict[int, tuple[tuple[Any, ...], list[AnswerRecord]]] = {}
    for *owner, answer_id, status, text, deleted in rows:
        _, answers = grouped.setdefault(owner[0], (tuple(owner), []))
        if answer_id is not None:
            answers.append(AnswerRecord(answer_id, _effective_status(status, deleted), text))
    return list(grouped.values())


def answer_records_by(
    session: Session, column: Any, owner_ids: Sequence[int]
) -> dict[int, list[AnswerRecord]]:
    """Answers grouped by round or thread turn id, each group in model order."""
    if not owner_ids:
        return {}
    rows = (
        session.execute(
            select(column, Answer.id, Answer.status, Answer.text, Answer.deleted)
            .where(column.in_(owner_ids))
            .order_by(Answer.position, Answer.id)
        )
    ).all()
    grouped: dict[int, list[AnswerRecord]] = {}
    for owner_id, answer_id, status, text, deleted in rows:
        answer = AnswerRecord(answer_id, _effective_status(status, deleted), text)
        grouped.setdefault(owner_id, []).append(answer)
    return grouped


def _effective_status(status: str, deleted: bool) -> AnswerStatus:
    """A deleted answer counts as failed: it never reaches a model again."""
    return AnswerStatus.FAILED if deleted else AnswerStatus(status)
