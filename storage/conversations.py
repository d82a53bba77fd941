"""Rounds, reply threads and thread turns: claiming a message once, and reading history back."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Table, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chat.context import ContextRound
from bot.chat.history import AnswerRecord, RoundRecord, TurnRecord, thread_anchor_message
from bot.chat.in_chat import AnswerStatus, InChatChoice, judge_in_chat_choice
from bot.chat.routing import ChatKey
from storage.tables import (
    Answer,
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

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

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
        raises aborts it all.

        Returns None when the message was already claimed (the `app_mention` + `message` pair
        of one mention, or another replica got there first).
        """
        now = time.time()
        try:
            async with self._sessions.begin() as session:
                await _claim(session, claim, now)
                chat_id = await _current_chat_id(session, chat, now)
                round_ = Round(
                    chat_id=chat_id,
                    channel_id=claim.channel_id,
                    message_ts=claim.message_ts,
                    user_id=user_id,
                    author_name=author,
                    text=text,
                    created_at=now,
                )
                session.add(round_)
                await session.flush()
                answers = [
                    _new_answer(
                        model=model,
                        position=position,
                        channel_id=claim.channel_id,
                        post_thread_ts=post_thread_ts,
                        owner=owner,
                        now=now,
                        round_id=round_.id,
                    )
                    for position, model in enumerate(
                        models(await channel_models(session, chat.team_id, claim.channel_id))
                    )
                ]
                session.add_all(answers)
                await session.flush()
                history = await _round_records(
                    session, chat_id, before_round_id=round_.id, limit=history_limit
                )
                return StartedRound(
                    round_.id,
                    chat_id,
                    tuple(NewAnswer(a.id, a.model) for a in answers),
                    tuple(history),
                    await channel_prompt(session, claim.channel_id),
                )
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return None

    async def claim(self, claim: MessageClaim) -> bool:
        """Claim a message that gets a reply but no round (help, an error); False if taken."""
        try:
            async with self._sessions.begin() as session:
                await _claim(session, claim, time.time())
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return False
        return True

    async def _raise_unless_claimed(self, claim: MessageClaim, error: IntegrityError) -> None:
        """A write that claims a message failed: fine when the message is claimed already
        (a twin event, another replica); any other failure is raised, not taken for that."""
        key = (claim.team_id, claim.channel_id, claim.message_ts)
        async with self._sessions() as session:
            if await session.get(ClaimedMessage, key) is None:
                raise error

    async def round_records(
        self, chat_id: int, *, before_round_id: int, limit: int
    ) -> list[RoundRecord]:
        """The latest `limit` undeleted rounds of a chat before a round, oldest first."""
        async with self._sessions() as session:
            return await _round_records(
                session, chat_id, before_round_id=before_round_id, limit=limit
            )

    async def parent_answer(self, channel_id: str, slack_ts: str) -> ParentAnswer | None:
        """The round answer whose Slack message is `slack_ts` (a possible thread parent)."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Answer, Round.chat_id)
                    .join(Round, Round.id == Answer.round_id)
                    .where(Answer.channel_id == channel_id, Answer.slack_ts == slack_ts)
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        answer, chat_id = row
        assert answer.round_id is not None and answer.slack_ts is not None
        return ParentAnswer(
            answer.id, answer.model, answer.round_id, chat_id, answer.channel_id, answer.slack_ts
        )

    async def choose_in_chat(self, parent: ParentAnswer) -> InChatChoice:
        """Make this answer its round's In Chat answer, if the rules allow."""
        async with self._sessions.begin() as session:
            latest = await session.scalar(
                select(Round.id)
                .where(Round.chat_id == parent.chat_id, ~Round.deleted)
                .order_by(Round.id.desc())
                .limit(1)
            )
            answer = await session.get_one(Answer, parent.answer_id)
            status = AnswerStatus.FAILED if answer.deleted else AnswerStatus(answer.status)
            choice = judge_in_chat_choice(is_latest_round=latest == parent.round_id, status=status)
            if choice is InChatChoice.CHOSEN:
                await session.execute(
                    update(Round)
                    .where(Round.id == parent.round_id)
                    .values(in_chat_answer_id=parent.answer_id)
                )
        return choice

    async def has_reply_thread(self, answer_id: int) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(ReplyThread.id).where(ReplyThread.answer_id == answer_id)
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
        now = time.time()
        try:
            async with self._sessions.begin() as session:
                await _claim(session, claim, now)
                thread = await _reply_thread(session, parent, snapshot_if_new, now)
                if switch_to_model is not None and switch_to_model != thread.current_model:
                    thread.current_model = switch_to_model
                turn = ThreadTurn(
                    reply_thread_id=thread.id,
                    channel_id=claim.channel_id,
                    message_ts=claim.message_ts,
                    user_id=user_id,
                    author_name=author,
                    text=text,
                    created_at=now,
                )
                session.add(turn)
                await session.flush()
                answer = _new_answer(
                    model=thread.current_model,
                    position=0,
                    channel_id=claim.channel_id,
                    post_thread_ts=parent.slack_ts,
                    owner=owner,
                    now=now,
                    thread_turn_id=turn.id,
                )
                session.add(answer)
                await session.flush()
                return StartedTurn(turn.id, thread.id, NewAnswer(answer.id, answer.model))
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return None

    async def thread_history(
        self, reply_thread_id: int, *, before_turn_id: int, limit: int
    ) -> ThreadHistory:
        """The snapshot, the round and answer the thread hangs under, its latest turns, and
        the channel's prompt."""
        async with self._sessions() as session:
            thread = await session.get_one(ReplyThread, reply_thread_id)
            anchor_answer = await session.get_one(Answer, thread.answer_id)
            anchor_round = await session.get_one(Round, anchor_answer.round_id)
            snapshot = [ContextRound(**entry) for entry in thread.snapshot]  # type: ignore[arg-type]
            deleted_rounds = set(
                (
                    await session.scalars(
                        select(Round.id).where(
                            Round.id.in_([entry.round_id for entry in snapshot]), Round.deleted
                        )
                    )
                ).all()
            )
            turns = (
                await session.scalars(
                    select(ThreadTurn)
                    .where(
                        ThreadTurn.reply_thread_id == reply_thread_id,
                        ThreadTurn.id < before_turn_id,
                        ~ThreadTurn.deleted,
                    )
                    .order_by(ThreadTurn.id.desc())
                    .limit(limit)
                )
            ).all()
            replies = await answer_records_by(session, Answer.thread_turn_id, [t.id for t in turns])
            prompt = await channel_prompt(session, anchor_answer.channel_id)
        return ThreadHistory(
            snapshot=tuple(entry for entry in snapshot if entry.round_id not in deleted_rounds),
            anchor_message=thread_anchor_message(
                anchor_round.author_name, anchor_round.text, deleted=anchor_round.deleted
            ),
            anchor_answer=anchor_answer.text,
            turns=tuple(
                TurnRecord(t.author_name, t.text, next(iter(replies.get(t.id, ())), None))
                for t in reversed(turns)
            ),
            channel_prompt=prompt,
        )

    async def forget_message(self, channel_id: str, message_ts: str) -> None:
        """A person deleted a message (or an admin an answer): it leaves every context."""
        async with self._sessions.begin() as session:
            for table, ts_column in (
                (Round, Round.message_ts),
                (ThreadTurn, ThreadTurn.message_ts),
                (Answer, Answer.slack_ts),
            ):
                await session.execute(
                    update(table)
                    .where(and_(table.channel_id == channel_id, ts_column == message_ts))
                    .values(deleted=True)
                )


async def _round_records(
    session: AsyncSession, chat_id: int, *, before_round_id: int, limit: int
) -> list[RoundRecord]:
    rounds = (
        await session.scalars(
            select(Round)
            .where(Round.chat_id == chat_id, Round.id < before_round_id, ~Round.deleted)
            .order_by(Round.id.desc())
            .limit(limit)
        )
    ).all()
    answers = await answer_records_by(session, Answer.round_id, [r.id for r in rounds])
    return [
        RoundRecord(r.id, r.author_name, r.text, r.in_chat_answer_id, tuple(answers.get(r.id, ())))
        for r in reversed(rounds)
    ]


async def channel_models(session: AsyncSession, team_id: str, channel_id: str) -> list[str] | None:
    """The channel's own model names, or None when it uses the workspace default."""
    row = await session.get(ChannelModels, (team_id, channel_id))
    return list(row.models) if row is not None else None


async def channel_prompt(session: AsyncSession, channel_id: str) -> str | None:
    """The channel's own system prompt, if one is set."""
    row = await session.get(ChannelPrompt, channel_id)
    return row.prompt if row is not None else None


async def _claim(session: AsyncSession, claim: MessageClaim, now: float) -> None:
    session.add(
        ClaimedMessage(
            team_id=claim.team_id,
            channel_id=claim.channel_id,
            message_ts=claim.message_ts,
            claimed_at=now,
        )
    )
    await session.flush()


def insert_or_ignore(session: AsyncSession, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


async def _current_chat_id(session: AsyncSession, key: ChatKey, now: float) -> int:
    """The chat's latest generation, created on first use (race-free across replicas)."""
    query = (
        select(Chat.id)
        .where(
            Chat.team_id == key.team_id,
            Chat.channel_id == key.channel_id,
            Chat.thread_ts == key.thread_ts,
        )
        .order_by(Chat.generation.desc())
        .limit(1)
    )
    chat_id = await session.scalar(query)
    if chat_id is None:
        await session.execute(
            insert_or_ignore(session, Chat.__table__).values(  # type: ignore[arg-type]
                team_id=key.team_id,
                channel_id=key.channel_id,
                thread_ts=key.thread_ts,
                generation=0,
                created_at=now,
            )
        )
        chat_id = await session.scalar(query)
    assert chat_id is not None
    return chat_id


async def _reply_thread(
    session: AsyncSession, parent: ParentAnswer, snapshot: Sequence[ContextRound], now: float
) -> ReplyThread:
    await session.execute(
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
    return await session.scalar(
        select(ReplyThread).where(ReplyThread.answer_id == parent.answer_id)
    )  # type: ignore[return-value]


def _new_answer(
    *,
    model: str,
    position: int,
    channel_id: str,
    post_thread_ts: str | None,
    owner: str,
    now: float,
    round_id: int | None = None,
    thread_turn_id: int | None = None,
) -> Answer:
    return Answer(
        round_id=round_id,
        thread_turn_id=thread_turn_id,
        position=position,
        model=model,
        channel_id=channel_id,
        post_thread_ts=post_thread_ts,
        deleted=False,
        **unstarted_answer(owner, now),
    )


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


async def answer_records_by(
    session: AsyncSession, column: Any, owner_ids: Sequence[int]
) -> dict[int, list[AnswerRecord]]:
    """Answers grouped by round or thread turn id, each group in model order."""
    if not owner_ids:
        return {}
    rows = (
        await session.execute(
            select(column, Answer.id, Answer.status, Answer.text, Answer.deleted)
            .where(column.in_(owner_ids))
            .order_by(Answer.position, Answer.id)
        )
    ).all()
    grouped: dict[int, list[AnswerRecord]] = {}
    for owner_id, answer_id, status, text, deleted in rows:
        effective = AnswerStatus.FAILED if deleted else AnswerStatus(status)
        grouped.setdefault(owner_id, []).append(AnswerRecord(answer_id, effective, text))
    return grouped
