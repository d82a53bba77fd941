"""Row-level pieces the stores share: a claimed message, new answers, answers read back.

The statements of the hot path (a round, a thread turn, an answer's progress) are built once,
with bound parameters, and reused: building a SQLAlchemy statement and its cache key costs
more than SQLite takes to run it, and a statement object keeps its cache key once computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Insert, Integer, Select, Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from bot.chat.history import AnswerRecord
from bot.chat.in_chat import AnswerStatus
from storage.tables import Answer, Base, ClaimedMessage, Round, ThreadTurn


@dataclass(frozen=True, slots=True)
class MessageClaim:
    """The person's message a round or thread turn answers; each gets one."""

    team_id: str
    channel_id: str
    message_ts: str


@dataclass(frozen=True, slots=True)
class SaidAt:
    """Where and when a person's message was said: its channel, its thread ("" at the top
    level) and its ts. Messages said in one place are one conversation."""

    channel_id: str
    thread_ts: str
    message_ts: str


@dataclass(frozen=True, slots=True)
class InterruptedWork:
    """What a take-over marked interrupted: the rounds and the thread turns whose answers
    were cut short (a thread turn's one answer belongs to no round)."""

    rounds: tuple[int, ...] = ()
    thread_turns: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rounds or self.thread_turns)


@dataclass(frozen=True, slots=True)
class SettledAnswer:
    """A settled answer as stored: what its message in Slack is to show."""

    answer_id: int
    model: str
    channel_id: str
    post_thread_ts: str | None
    slack_ts: str | None
    status: AnswerStatus
    text: str
    error: str | None
    started_at: float
    seconds: float
    input_tokens: int | None
    output_tokens: int | None
    in_chat: bool  # its message shows the In Chat mark

    @classmethod
    def of(cls, row: Answer) -> SettledAnswer:
        return cls(
            answer_id=row.id,
            model=row.model,
            channel_id=row.channel_id,
            post_thread_ts=row.post_thread_ts,
            slack_ts=row.slack_ts,
            status=AnswerStatus(row.status),
            text=row.text,
            error=row.error,
            started_at=row.started_at,
            seconds=(row.finished_at or row.heartbeat_at) - row.started_at,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            in_chat=row.marked_in_chat,
        )


@dataclass(frozen=True, slots=True)
class NewAnswer:
    answer_id: int
    model: str


_CLAIM = insert(ClaimedMessage.__table__)  # type: ignore[arg-type]


def claim_message(session: Session, claim: MessageClaim, now: float, *, recorded: bool) -> None:
    """Insert the claim (`recorded`: by the round or thread turn that records the message);
    a message claimed already raises IntegrityError."""
    session.execute(
        _CLAIM,
        {
            "team_id": claim.team_id,
            "channel_id": claim.channel_id,
            "message_ts": claim.message_ts,
            "claimed_at": now,
            "recorded": recorded,
        },
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


def said_text(session: Session, said: type[Round] | type[ThreadTurn], row_id: int) -> str | None:
    """What the person's message of a round or thread turn says now (it may have been
    edited); None once it is deleted."""
    text, deleted = session.execute(select(said.text, said.deleted).where(said.id == row_id)).one()
    return None if deleted else text


def insert_returning_id(session: Session, entity: type[Base], **values: Any) -> int:
    """A Core INSERT of one row (the ORM's unit of work costs more than the write itself)."""
    new_id: int = session.execute(_inserting(entity.__table__), values).scalar_one()  # type: ignore[arg-type]
    return new_id


@cache
def _inserting(table: Table) -> Insert:
    return insert(table).returning(table.c.id)


def insert_or_ignore(session: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect."""
    return _inserting_or_ignoring(session.get_bind().dialect.name, table)


@cache
def _inserting_or_ignoring(dialect: str, table: Table) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def insert_or_update(session: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT (the primary key) DO UPDATE every other column, in the session's
    dialect: one statement, so two transactions writing a new row at once both succeed."""
    return _inserting_or_updating(session.get_bind().dialect.name, table)


@cache
def _inserting_or_updating(dialect: str, table: Table) -> Insert:
    inserting = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return inserting.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={
            column.name: inserting.excluded[column.name]
            for column in table.columns
            if not column.primary_key
        },
    )


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
        "marked_in_chat": False,
        "started_at": now,
        "owner": owner,
        "heartbeat_at": now,
    }


_ANSWERS: Table = Answer.__table__  # type: ignore[assignment]
_INSERT_ANSWERS = insert(_ANSWERS).returning(_ANSWERS.c.id, _ANSWERS.c.model, _ANSWERS.c.position)


def insert_answers(session: Session, rows: Sequence[dict[str, Any]]) -> tuple[NewAnswer, ...]:
    """New answer rows in one statement, returned in model order."""
    if not rows:
        return ()
    inserted = session.execute(_INSERT_ANSWERS, list(rows))
    return tuple(
        NewAnswer(answer_id, model)
        for answer_id, model, _ in sorted(inserted, key=lambda row: row.position)
    )


def latest_with_answers(
    entity: type[Round] | type[ThreadTurn], parent: Any, answer_owner: Any, *columns: Any
) -> Select[Any]:
    """The latest `:limit` undeleted rounds or thread turns of a chat or thread (`parent` is
    `:parent`) said before the one with id `:before`, oldest first, each joined with its answers
    in model order: one query, each trip to the database counts. Rows start with their id.

    "Before" is in Slack's order (see `in_slack_order`), not the order they were recorded in."""
    before = aliased(entity)
    said_before = select(before.message_ts).where(before.id == bindparam("before"))
    latest = (
        select(entity.id, *columns, entity.message_ts.label("said_at"))
        .where(parent == bindparam("parent"), entity.message_ts < said_before.scalar_subquery())
        .where(~entity.deleted)
        .order_by(*in_slack_order(entity, descending=True))
        .limit(bindparam("limit", type_=Integer))
        .subquery()
    )
    return (
        select(*(column for column in latest.c if column.key != "said_at"))
        .add_columns(Answer.id, Answer.status, Answer.text, Answer.deleted)
        .outerjoin(Answer, answer_owner == latest.c.id)
        .order_by(latest.c.said_at, latest.c.id, Answer.position, Answer.id)
    )


def in_slack_order(
    entity: type[Round] | type[ThreadTurn], *, descending: bool = False
) -> tuple[Any, ...]:
    """Rounds or turns in the order their messages were said in Slack. Slack's timestamps
    ("1764000000.000100": seconds, then a sequence number) sort in time order as strings. A
    message can be recorded after one said later (its author's name took a lookup, a crashed
    replica's event was taken over), so row ids are no guide. Within a chat or a thread each
    message has one row, so timestamps never tie; the id only makes the order total."""
    if descending:
        return entity.message_ts.desc(), entity.id.desc()
    return entity.message_ts, entity.id


def with_answers(
    session: Session, statement: Select[Any], **parameters: Any
) -> list[tuple[tuple[Any, ...], list[AnswerRecord]]]:
    """Run a statement whose rows end with an answer's id, status, text and deletion (a
    `latest_with_answers` one: `parent`, `before`, `limit`): each row with its answers."""
    grouped: dict[int, tuple[tuple[Any, ...], list[AnswerRecord]]] = {}
    for *owner, answer_id, status, text, deleted in session.execute(statement, parameters):
        _, answers = grouped.setdefault(owner[0], (tuple(owner), []))
        if answer_id is not None:
            answers.append(answer_record(answer_id, status, text, deleted))
    return list(grouped.values())


def answer_record(answer_id: int, status: str, text: str, deleted: bool) -> AnswerRecord:
    """A stored answer as the core reads it. A deleted answer counts as failed: it never
    reaches a model again."""
    return AnswerRecord(answer_id, AnswerStatus.FAILED if deleted else AnswerStatus(status), text)
