"""Rounds, reply threads and thread turns: claiming a message once, and reading history back."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Select, Subquery, Table, and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.chat.context import ContextRound
from bot.chat.history import AnswerRecord, RoundRecord, TurnRecord, thread_anchor_message
from bot.chat.in_chat import AnswerStatus, InChatChoice, judge_in_chat_choice
from bot.chat.routing import ChatKey
from storage.database import Database
from storage.tables import (
    Answer,
    Base,
    ChannelModels,
    ChannelPrompt,
    Chat,
    ClaimedMessage,
    ReplyThread,
    Round,
    ThreadTurn,
)

# Given the channel's own model names (None: the workspace default), the models that answer.
ModelChooser = Callable[[Sequence[str] | None], Sequence[str]]


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


@dataclass(frozen=True, slots=True)
class StartedRound:
    round_id: int
    chat_id: int
    answers: tuple[NewAnswer, ...]
    history: tuple[RoundRecord, ...]  # the chat's latest earlier rounds, oldest first
    channel_prompt: str | None


@dataclass(frozen=True, slots=True)
class ParentAnswer:
    """An answer whose Slack message heads a reply thread."""

    answer_id: int
    model: str
    round_id: int
    chat_id: int
    channel_id: str
    slack_ts: str


@dataclass(frozen=True, slots=True)
class StartedTurn:
    turn_id: int
    reply_thread_id: int
    answer: NewAnswer


@dataclass(frozen=True, slots=True)
class ThreadHistory:
    """Everything stored that a thread turn's context is built from."""

    snapshot: tuple[ContextRound, ...]
    anchor_message: str
    anchor_answer: str
    turns: tuple[TurnRecord, ...]
    channel_prompt: str | None


class ConversationStore:
    """The one place that writes chats, rounds, reply threads, thread turns and claims."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def start_round(
        self,
        claim: MessageClaim,
        chat: ChatKey,
        *,
        user_id: str,
        author: str,
        text: str,
        models: ModelChooser,
        post_thread_ts: str | None,
        owner: str,
        history_limit: int,
    ) -> StartedRound | None:
        """Claim the message, read the channel's model list and choose the models with
        `models`, record a round with one pending answer per model, and read the chat's latest
        `history_limit` earlier rounds and the channel's prompt, all in one transaction (each
        trip to the database fewer is time before the models are asked). Whatever `models`
        raises aborts it all; it runs on the database's side, so it must be quick and pure.

        Returns None when the message was already claimed (the `app_mention` + `message` pair
        of one mention, or another replica got there first).
        """
        said = _said(claim, user_id=user_id, author=author, text=text, now=time.time())
        try:
            return await self._database.run(
                _start_round, claim, chat, said, models, post_thread_ts, owner, history_limit
            )
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return None

    async def claim(self, claim: MessageClaim) -> bool:
        """Claim a message that gets a reply but no round (help, an error); False if taken."""
        try:
            await self._database.run(_claim, claim, time.time())
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return False
        return True

    async def _raise_unless_claimed(self, claim: MessageClaim, error: IntegrityError) -> None:
        """A write that claims a message failed: fine when the message is claimed already
        (a twin event, another replica); any other failure is raised, not taken for that."""
        key = (claim.team_id, claim.channel_id, claim.message_ts)
        if await self._database.run(Session.get, ClaimedMessage, key) is None:
            raise error

    async def round_records(
        self, chat_id: int, *, before_round_id: int, limit: int
    ) -> list[RoundRecord]:
        """The latest `limit` undeleted rounds of a chat before a round, oldest first."""
        return await self._database.run(
            _round_records, chat_id, before_round_id=before_round_id, limit=limit
        )

    async def parent_answer(self, channel_id: str, slack_ts: str) -> ParentAnswer | None:
        """The round answer whose Slack message is `slack_ts` (a possible thread parent)."""
        return await self._database.run(_parent_answer, channel_id, slack_ts)

    async def choose_in_chat(self, parent: ParentAnswer) -> InChatChoice:
        """Make this answer its round's In Chat answer, if the rules allow."""
        return await self._database.run(_choose_in_chat, parent)

    async def has_reply_thread(self, answer_id: int) -> bool:
        found = await self._database.run(
            Session.scalar, select(ReplyThread.id).where(ReplyThread.answer_id == answer_id)
        )
        return found is not None

    async def start_thread_turn(
        self,
        claim: MessageClaim,
        parent: ParentAnswer,
        *,
        user_id: str,
        author: str,
        text: str,
        switch_to_model: str | None,
        snapshot_if_new: Sequence[ContextRound],
        owner: str,
    ) -> StartedTurn | None:
        """Claim the message and record a thread turn with one pending reply.

        The reply thread is created on its first turn, with `snapshot_if_new` as its frozen view
        of the chat. Returns None when the message was already claimed.
        """
        said = _said(claim, user_id=user_id, author=author, text=text, now=time.time())
        try:
            return await self._database.run(
                _start_thread_turn, claim, parent, said, switch_to_model, snapshot_if_new, owner
            )
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return None

    async def switch_thread(
        self,
        claim: MessageClaim,
        parent: ParentAnswer,
        model: str,
        *,
        snapshot_if_new: Sequence[ContextRound],
    ) -> bool:
        """Claim a message that hands the thread to `model` without asking it anything (the
        thread is created, with its snapshot, if this is its first message); False if the
        message was claimed already."""
        try:
            await self._database.run(_switch_thread, claim, parent, model, snapshot_if_new)
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return False
        return True

    async def thread_history(
        self, reply_thread_id: int, *, before_turn_id: int, limit: int
    ) -> ThreadHistory:
        """The snapshot, the round and answer the thread hangs under, its latest turns, and
        the channel's prompt."""
        return await self._database.run(_thread_history, reply_thread_id, before_turn_id, limit)

    async def forget_message(self, channel_id: str, message_ts: str) -> None:
        """A person deleted a message (or an admin an answer): it leaves every context."""
        await self._database.run(_forget_message, channel_id, message_ts)


def _start_round(
    session: Session,
    claim: MessageClaim,
    chat: ChatKey,
    said: dict[str, Any],
    models: ModelChooser,
    post_thread_ts: str | None,
    owner: str,
    history_limit: int,
) -> StartedRound:
    now = said["created_at"]
    _claim(session, claim, now)
    chat_id, own_models, prompt = _channel_state(session, chat)
    if chat_id is None:
        chat_id = _create_chat(session, chat, now)
    round_id = _insert_returning_id(session, Round, chat_id=chat_id, **said)
    answers = _insert_answers(
        session,
        [
            _answer_values(
                model=model,
                position=position,
                channel_id=claim.channel_id,
                post_thread_ts=post_thread_ts,
                owner=owner,
                now=now,
                round_id=round_id,
            )
            for position, model in enumerate(models(own_models))
        ],
    )
    history = _round_records(session, chat_id, before_round_id=round_id, limit=history_limit)
    return StartedRound(round_id, chat_id, answers, tuple(history), prompt)


def _parent_answer(session: Session, channel_id: str, slack_ts: str) -> ParentAnswer | None:
    row = session.execute(
        select(Answer, Round.chat_id)
        .join(Round, Round.id == Answer.round_id)
        .where(Answer.channel_id == channel_id, Answer.slack_ts == slack_ts)
        .limit(1)
    ).first()
    if row is None:
        return None
    answer, chat_id = row
    assert answer.round_id is not None and answer.slack_ts is not None
    return ParentAnswer(
        answer.id, answer.model, answer.round_id, chat_id, answer.channel_id, answer.slack_ts
    )


def _choose_in_chat(session: Session, parent: ParentAnswer) -> InChatChoice:
    latest = session.scalar(
        select(Round.id)
        .where(Round.chat_id == parent.chat_id, ~Round.deleted)
        .order_by(Round.id.desc())
        .limit(1)
    )
    answer = session.get_one(Answer, parent.answer_id)
    status = AnswerStatus.FAILED if answer.deleted else AnswerStatus(answer.status)
    choice = judge_in_chat_choice(is_latest_round=latest == parent.round_id, status=status)
    if choice is InChatChoice.CHOSEN:
        session.execute(
            update(Round)
            .where(Round.id == parent.round_id)
            .values(in_chat_answer_id=parent.answer_id)
        )
    return choice


def _start_thread_turn(
    session: Session,
    claim: MessageClaim,
    parent: ParentAnswer,
    said: dict[str, Any],
    switch_to_model: str | None,
    snapshot_if_new: Sequence[ContextRound],
    owner: str,
) -> StartedTurn:
    now = said["created_at"]
    _claim(session, claim, now)
    thread_id, model = _reply_thread(session, parent, snapshot_if_new, now)
    if switch_to_model is not None and switch_to_model != model:
        model = _hand_thread_to(session, thread_id, switch_to_model)
    turn_id = _insert_returning_id(session, ThreadTurn, reply_thread_id=thread_id, **said)
    (answer,) = _insert_answers(
        session,
        [
            _answer_values(
                model=model,
                position=0,
                channel_id=claim.channel_id,
                post_thread_ts=parent.slack_ts,
                owner=owner,
                now=now,
                thread_turn_id=turn_id,
            )
        ],
    )
    return StartedTurn(turn_id, thread_id, answer)


def _switch_thread(
    session: Session,
    claim: MessageClaim,
    parent: ParentAnswer,
    model: str,
    snapshot_if_new: Sequence[ContextRound],
) -> None:
    now = time.time()
    _claim(session, claim, now)
    thread_id, _ = _reply_thread(session, parent, snapshot_if_new, now)
    _hand_thread_to(session, thread_id, model)


def _thread_history(
    session: Session, reply_thread_id: int, before_turn_id: int, limit: int
) -> ThreadHistory:
    prompt = select(ChannelPrompt.prompt).where(ChannelPrompt.channel_id == Answer.channel_id)
    anchor = session.execute(
        select(
            ReplyThread.snapshot,
            Answer.text,
            Round.author_name,
            Round.text,
            Round.deleted,
            prompt.scalar_subquery(),
        )
        .join(Answer, Answer.id == ReplyThread.answer_id)
        .join(Round, Round.id == Answer.round_id)
        .where(ReplyThread.id == reply_thread_id)
    ).one()
    snapshot_entries, anchor_answer, author, question, question_deleted, channel_prompt = anchor
    snapshot = [ContextRound(**entry) for entry in snapshot_entries]
    deleted_rounds = _deleted_rounds(session, [entry.round_id for entry in snapshot])
    latest_turns = (
        select(ThreadTurn.id, ThreadTurn.author_name, ThreadTurn.text)
        .where(
            ThreadTurn.reply_thread_id == reply_thread_id,
            ThreadTurn.id < before_turn_id,
            ~ThreadTurn.deleted,
        )
        .order_by(ThreadTurn.id.desc())
        .limit(limit)
        .subquery()
    )
    turns = _with_answers(session, latest_turns, Answer.thread_turn_id)
    return ThreadHistory(
        snapshot=tuple(entry for entry in snapshot if entry.round_id not in deleted_rounds),
        anchor_message=thread_anchor_message(author, question, deleted=question_deleted),
        anchor_answer=anchor_answer,
        turns=tuple(
            TurnRecord(turn_author, text, replies[0] if replies else None)
            for (_, turn_author, text), replies in turns
        ),
        channel_prompt=channel_prompt,
    )


def _forget_message(session: Session, channel_id: str, message_ts: str) -> None:
    for table, ts_column in (
        (Round, Round.message_ts),
        (ThreadTurn, ThreadTurn.message_ts),
        (Answer, Answer.slack_ts),
    ):
        session.execute(
            update(table)
            .where(and_(table.channel_id == channel_id, ts_column == message_ts))
            .values(deleted=True)
        )


def _round_records(
    session: Session, chat_id: int, *, before_round_id: int, limit: int
) -> list[RoundRecord]:
    latest = (
        select(Round.id, Round.author_name, Round.text, Round.in_chat_answer_id)
        .where(Round.chat_id == chat_id, Round.id < before_round_id, ~Round.deleted)
        .order_by(Round.id.desc())
        .limit(limit)
        .subquery()
    )
    return [
        RoundRecord(round_id, author, text, in_chat, tuple(answers))
        for (round_id, author, text, in_chat), answers in _with_answers(
            session, latest, Answer.round_id
        )
    ]


def _with_answers(
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


def _deleted_rounds(session: Session, round_ids: Sequence[int]) -> set[int]:
    if not round_ids:
        return set()
    deleted = session.scalars(select(Round.id).where(Round.id.in_(round_ids), Round.deleted))
    return set(deleted.all())


def channel_models(session: Session, team_id: str, channel_id: str) -> list[str] | None:
    """The channel's own model names, or None when it uses the workspace default."""
    row = session.get(ChannelModels, (team_id, channel_id))
    return list(row.models) if row is not None else None


def channel_prompt(session: Session, channel_id: str) -> str | None:
    """The channel's own system prompt, if one is set."""
    row = session.get(ChannelPrompt, channel_id)
    return row.prompt if row is not None else None


def _channel_state(
    session: Session, chat: ChatKey
) -> tuple[int | None, list[str] | None, str | None]:
    """In one query: the chat's current id (None before its first round), and the channel's
    own models and prompt (as `channel_models` and `channel_prompt`)."""
    models = select(ChannelModels.models).where(
        ChannelModels.team_id == chat.team_id, ChannelModels.channel_id == chat.channel_id
    )
    prompt = select(ChannelPrompt.prompt).where(ChannelPrompt.channel_id == chat.channel_id)
    state = select(
        _latest_chat_id(chat).scalar_subquery(), models.scalar_subquery(), prompt.scalar_subquery()
    )
    chat_id, own_models, own_prompt = (session.execute(state)).one()
    return chat_id, (list(own_models) if own_models is not None else None), own_prompt


def _claim(session: Session, claim: MessageClaim, now: float) -> None:
    session.execute(
        insert(ClaimedMessage.__table__).values(  # type: ignore[arg-type]
            team_id=claim.team_id,
            channel_id=claim.channel_id,
            message_ts=claim.message_ts,
            claimed_at=now,
        )
    )


def _insert_returning_id(session: Session, entity: type[Base], **values: Any) -> int:
    """A Core INSERT of one row (the ORM's unit of work costs more than the write itself)."""
    table: Table = entity.__table__  # type: ignore[assignment]
    new_id: int = (
        session.execute(insert(table).values(**values).returning(table.c.id))
    ).scalar_one()
    return new_id


def _insert_answers(session: Session, rows: Sequence[dict[str, Any]]) -> tuple[NewAnswer, ...]:
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


def insert_or_ignore(session: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _latest_chat_id(key: ChatKey) -> Select[int]:
    return (
        select(Chat.id)
        .where(
            Chat.team_id == key.team_id,
            Chat.channel_id == key.channel_id,
            Chat.thread_ts == key.thread_ts,
        )
        .order_by(Chat.generation.desc())
        .limit(1)
    )


def _create_chat(session: Session, key: ChatKey, now: float) -> int:
    """The chat's first generation (race-free across replicas: one of them creates it)."""
    session.execute(
        insert_or_ignore(session, Chat.__table__).values(  # type: ignore[arg-type]
            team_id=key.team_id,
            channel_id=key.channel_id,
            thread_ts=key.thread_ts,
            generation=0,
            created_at=now,
        )
    )
    chat_id = session.scalar(_latest_chat_id(key))
    assert chat_id is not None
    return chat_id


def _reply_thread(
    session: Session, parent: ParentAnswer, snapshot: Sequence[ContextRound], now: float
) -> tuple[int, str]:
    """The id and current model of the thread under `parent`, created on its first turn."""
    session.execute(
        insert_or_ignore(session, ReplyThread.__table__).values(  # type: ignore[arg-type]
            answer_id=parent.answer_id,
            current_model=parent.model,
            snapshot=[
                {"round_id": r.round_id, "user": r.user, "in_chat_answer": r.in_chat_answer}
                for r in snapshot
            ],
            created_at=now,
        )
    )
    row = (
        session.execute(
            select(ReplyThread.id, ReplyThread.current_model).where(
                ReplyThread.answer_id == parent.answer_id
            )
        )
    ).one()
    return row.id, row.current_model


def _hand_thread_to(session: Session, thread_id: int, model: str) -> str:
    session.execute(
        update(ReplyThread).where(ReplyThread.id == thread_id).values(current_model=model)
    )
    return model


def _said(
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


def _answer_values(
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
