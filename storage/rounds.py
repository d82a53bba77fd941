"""Rounds: recording one with its answers in one transaction, its history, In Chat picks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ScalarSelect, bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.chat.history import RoundRecord
from bot.chat.in_chat import (
    AnswerStatus,
    InChatChoice,
    judge_in_chat_choice,
    unpin_returns_to_default,
)
from bot.chat.routing import ChatKey
from storage import early_edits
from storage.in_chat_marks import in_chat_answer_now, in_chat_answer_or_awaited
from storage.retention import was_forgotten
from storage.rows import (
    MessageClaim,
    NewAnswer,
    claim_message,
    in_slack_order,
    insert_answers,
    insert_or_ignore,
    insert_returning_id,
    latest_with_answers,
    new_answer_columns,
    with_answers,
)
from storage.tables import Answer, ChannelModels, ChannelPrompt, Chat, Round

# Given the channel's own model names (None: the workspace default), the models that answer.
ModelChooser = Callable[[Sequence[str] | None], Sequence[str]]


@dataclass(frozen=True, slots=True)
class StartedRound:
    round_id: int
    chat_id: int
    answers: tuple[NewAnswer, ...]
    history: tuple[RoundRecord, ...]  # the chat's latest earlier rounds, oldest first
    channel_prompt: str | None
    text: str  # the message as recorded: with an edit that came before it, if one did


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """Where a new round goes and what it starts: everything but the person's message."""

    chat: ChatKey
    models: ModelChooser
    post_thread_ts: str | None
    owner: str
    history_limit: int


def start_round(
    session: Session, claim: MessageClaim, said: dict[str, Any], plan: RoundPlan
) -> StartedRound:
    """Claim the message, record the round with one pending answer per model, and read the
    chat's latest earlier rounds and the channel's prompt."""
    now = said["created_at"]
    claim_message(session, claim, now, recorded=True)
    said = early_edits.as_edited(session, claim, said)
    chat_id, own_models, prompt = _channel_state(session, plan.chat)
    if chat_id is None:
        chat_id = _create_chat(session, plan.chat, now)
    # Checking its foreign key holds the chat (FOR KEY SHARE) until this commits: a Regenerate
    # press or an In Chat pick in the chat (`hold_chat`) sees this round, or has finished
    # before the history below is read.
    round_id = insert_returning_id(session, Round, chat_id=chat_id, **said)
    answers = insert_answers(
        session,
        [
            new_answer_columns(
                model=model,
                position=position,
                channel_id=claim.channel_id,
                post_thread_ts=plan.post_thread_ts,
                owner=plan.owner,
                now=now,
                round_id=round_id,
            )
            for position, model in enumerate(plan.models(own_models))
        ],
    )
    history = round_records(session, chat_id, before_round_id=round_id, limit=plan.history_limit)
    return StartedRound(round_id, chat_id, answers, tuple(history), prompt, said["text"])


_LATEST_ROUNDS = latest_with_answers(
    Round, Round.chat_id, Answer.round_id, Round.author_name, Round.text, Round.in_chat_answer_id
)


def round_records(
    session: Session, chat_id: int, *, before_round_id: int, limit: int
) -> list[RoundRecord]:
    """The latest `limit` undeleted rounds of a chat before a round, oldest first."""
    latest = with_answers(
        session, _LATEST_ROUNDS, parent=chat_id, before=before_round_id, limit=limit
    )
    return [
        RoundRecord(round_id, author, text, in_chat, tuple(answers))
        for (round_id, author, text, in_chat), answers in latest
    ]


# The same, for rounds named by id (a reply thread's snapshot, read again).
_ROUNDS_BY_ID = (
    select(Round.id, Round.author_name, Round.text, Round.in_chat_answer_id)
    .add_columns(Answer.id, Answer.status, Answer.text, Answer.deleted)
    .outerjoin(Answer, Answer.round_id == Round.id)
    .where(Round.id.in_(bindparam("round_ids", expanding=True)), ~Round.deleted)
    .order_by(Round.id, Answer.position, Answer.id)
)


def rounds_by_id(session: Session, round_ids: Sequence[int]) -> list[RoundRecord]:
    """The undeleted rounds among `round_ids`, each with its answers in model order."""
    if not round_ids:
        return []
    return [
        RoundRecord(round_id, author, text, in_chat, tuple(answers))
        for (round_id, author, text, in_chat), answers in with_answers(
            session, _ROUNDS_BY_ID, round_ids=list(round_ids)
        )
    ]


def choose_in_chat(
    session: Session,
    *,
    chat_id: int,
    round_id: int,
    answer_id: int,
    forgotten_before: float | None,
) -> InChatChoice:
    """Make the answer its round's In Chat answer, if the rules allow (forgetting erased what
    was said before `forgotten_before`, when this deployment forgets)."""
    hold_chat(session, chat_id)
    is_latest = _is_latest_round(session, chat_id, round_id)
    answer = session.get_one(Answer, answer_id)
    question = session.get_one(Round, round_id)
    status = AnswerStatus(answer.status)
    if answer.deleted or (status.settled and not answer.text.strip()):
        status = AnswerStatus.FAILED  # nothing a later round could be sent
    choice = judge_in_chat_choice(
        is_latest_round=is_latest,
        status=status,
        is_in_chat=is_latest and in_chat_answer_now(session, round_id) == answer_id,
        chat_is_current=is_latest or is_current_chat(session, chat_id),
        question_deleted=question.deleted,
        question_forgotten=was_forgotten(question, forgotten_before),
    )
    if choice.chosen:
        session.execute(
            update(Round).where(Round.id == round_id).values(in_chat_answer_id=answer_id)
        )
    return choice


@dataclass(frozen=True, slots=True)
class Unpinned:
    """A pick undone: the model whose answer is In Chat now by the default rule (None when no
    answer of the round has text), or, when it is `being_written`, will be once written."""

    now_in_chat: str | None
    being_written: bool = False


def unpin_in_chat(
    session: Session, *, chat_id: int, round_id: int, answer_id: int, pinned_by_someone_else: bool
) -> Unpinned | None:
    """Undo the pick of this answer as its round's In Chat answer, if the rules say so; None
    when nothing changed."""
    hold_chat(session, chat_id)
    chosen = session.scalar(select(Round.in_chat_answer_id).where(Round.id == round_id))
    if not unpin_returns_to_default(
        is_latest_round=_is_latest_round(session, chat_id, round_id),
        is_chosen=chosen == answer_id,
        pinned_by_someone_else=pinned_by_someone_else,
    ):
        return None
    session.execute(update(Round).where(Round.id == round_id).values(in_chat_answer_id=None))
    now_in_chat, decided = in_chat_answer_or_awaited(session, round_id)
    if now_in_chat is None:
        return Unpinned(None)
    return Unpinned(session.get_one(Answer, now_in_chat).model, being_written=not decided)


def _is_latest_round(session: Session, chat_id: int, round_id: int) -> bool:
    """Whether the round is its chat's latest, and later rounds still join that chat."""
    latest = session.scalar(
        select(Round.id)
        .where(Round.chat_id == chat_id, ~Round.deleted)
        .order_by(*in_slack_order(Round, descending=True))
        .limit(1)
    )
    return latest == round_id and is_current_chat(session, chat_id)


def hold_chat(session: Session, chat_id: int | ScalarSelect[Any]) -> None:
    """Lock the chat until this transaction commits (FOR UPDATE: the one lock that a foreign
    key's check waits for), as this one acts on its latest round. A new round (by its foreign
    key) and a thread turn (`storage.reply_threads`) hold it too while they read what their
    models are sent: one that started first is the latest round here, or has its turn seen;
    one starting meanwhile reads the chat once this has committed."""
    session.execute(select(Chat.id).where(Chat.id == chat_id).with_for_update())


def is_current_chat(session: Session, chat_id: int) -> bool:
    """Whether later rounds of its channel (or thread) join this chat: after `/chorus new`
    the old chat's last round is no chat's latest, and nothing later sees its answers."""
    chat = session.get_one(Chat, chat_id)
    current = session.scalar(
        _LATEST_CHAT_ID,
        {"team_id": chat.team_id, "channel_id": chat.channel_id, "thread_ts": chat.thread_ts},
    )
    return current == chat_id


_LATEST_CHAT_ID = (
    select(Chat.id)
    .where(
        Chat.team_id == bindparam("team_id"),
        Chat.channel_id == bindparam("channel_id"),
        Chat.thread_ts == bindparam("thread_ts"),
    )
    .order_by(Chat.generation.desc())
    .limit(1)
)
# The chat's current id (None before its first round), and the channel's own models and prompt.
_CHANNEL_STATE = select(
    _LATEST_CHAT_ID.scalar_subquery(),
    select(ChannelModels.models)
    .where(
        ChannelModels.team_id == bindparam("team_id"),
        ChannelModels.channel_id == bindparam("channel_id"),
    )
    .scalar_subquery(),
    select(ChannelPrompt.prompt)
    .where(ChannelPrompt.channel_id == bindparam("channel_id"))
    .scalar_subquery(),
)


def _chat_key(key: ChatKey) -> dict[str, str]:
    return {"team_id": key.team_id, "channel_id": key.channel_id, "thread_ts": key.thread_ts}


def _channel_state(
    session: Session, chat: ChatKey
) -> tuple[int | None, list[str] | None, str | None]:
    chat_id, own_models, own_prompt = session.execute(_CHANNEL_STATE, _chat_key(chat)).one()
    return chat_id, (list(own_models) if own_models is not None else None), own_prompt


def _create_chat(session: Session, key: ChatKey, now: float) -> int:
    """The chat's first generation (race-free across replicas: one of them creates it)."""
    session.execute(
        insert_or_ignore(session, Chat.__table__),  # type: ignore[arg-type]
        {**_chat_key(key), "generation": 0, "created_at": now},
    )
    chat_id = session.scalar(_LATEST_CHAT_ID, _chat_key(key))
    assert chat_id is not None
    return chat_id


def start_new_chat(session: Session, key: ChatKey, now: float) -> None:
    """The chat's next generation: later rounds start from nothing (`/chorus new`)."""
    latest = session.scalar(
        select(func.max(Chat.generation)).where(
            Chat.team_id == key.team_id,
            Chat.channel_id == key.channel_id,
            Chat.thread_ts == key.thread_ts,
        )
    )
    session.execute(
        insert_or_ignore(session, Chat.__table__),  # type: ignore[arg-type]
        {**_chat_key(key), "generation": 0 if latest is None else latest + 1, "created_at": now},
    )
