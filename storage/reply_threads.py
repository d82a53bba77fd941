"""Reply threads: the answer a thread hangs under, its turns, its model and its history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, literal, select, union_all, update
from sqlalchemy.orm import Session

from bot.chat.context import ContextRound
from bot.chat.history import (
    RoundRecord,
    TurnRecord,
    context_round,
    in_chat_answer_id,
    in_chat_settled,
    thread_anchor_message,
)
from bot.chat.in_chat import AnswerStatus
from storage import early_edits, rows
from storage.rounds import round_records, rounds_by_id
from storage.rows import MessageClaim, NewAnswer
from storage.tables import (
    Answer,
    AnswerContinuation,
    ChannelPrompt,
    Chat,
    ReplyThread,
    Round,
    ThreadTurn,
)


@dataclass(frozen=True, slots=True)
class ParentAnswer:
    """An answer whose Slack message heads a reply thread."""

    answer_id: int
    model: str
    round_id: int
    chat_id: int
    channel_id: str
    slack_ts: str
    post_thread_ts: str | None  # the Slack thread it is posted in (a thread chat's), if any


@dataclass(frozen=True, slots=True)
class ThreadReply:
    """A model's reply to a thread turn, in the Slack thread it is posted in."""

    model: str
    thread_ts: str | None


@dataclass(frozen=True, slots=True)
class StartedTurn:
    turn_id: int
    reply_thread_id: int
    answer: NewAnswer
    history: ThreadHistory  # what the turn's context is built from
    text: str  # the message as recorded: with an edit that came before it, if one did


@dataclass(frozen=True, slots=True)
class ThreadHistory:
    """Everything stored that a thread turn's context is built from."""

    snapshot: tuple[ContextRound, ...]
    anchor_message: str
    anchor_answer: str
    turns: tuple[TurnRecord, ...]
    channel_prompt: str | None
    # False while the answer the thread hangs under, or a reply to an earlier turn, streams.
    settled: bool = True


def parent_answer(session: Session, channel_id: str, slack_ts: str) -> ParentAnswer | None:
    """The round answer whose Slack message is `slack_ts` (a possible thread parent)."""
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
        answer.id,
        answer.model,
        answer.round_id,
        chat_id,
        answer.channel_id,
        answer.slack_ts,
        answer.post_thread_ts,
    )


def thread_reply_at(session: Session, channel_id: str, slack_ts: str) -> ThreadReply | None:
    """The reply to a thread turn whose Slack message is `slack_ts`, if it is one."""
    row = session.execute(
        select(Answer.model, Answer.post_thread_ts)
        .where(
            Answer.channel_id == channel_id,
            Answer.slack_ts == slack_ts,
            Answer.thread_turn_id.is_not(None),
        )
        .limit(1)
    ).first()
    return None if row is None else ThreadReply(row.model, row.post_thread_ts)


def answer_continued_at(session: Session, channel_id: str, slack_ts: str) -> str | None:
    """The Slack message of the answer that `slack_ts` is a continuation of, if it is one."""
    return session.scalar(
        select(Answer.slack_ts)
        .join(AnswerContinuation, AnswerContinuation.answer_id == Answer.id)
        .where(AnswerContinuation.channel_id == channel_id, AnswerContinuation.slack_ts == slack_ts)
    )


def start_thread_turn(
    session: Session,
    claim: MessageClaim,
    parent: ParentAnswer,
    said: dict[str, Any],
    switch_to_model: str | None,
    owner: str,
    history_limit: int,
) -> StartedTurn:
    """Claim the message, record a thread turn with one pending reply (creating the thread,
    with its snapshot of the chat, on its first turn), and read the thread's history."""
    now = said["created_at"]
    rows.claim_message(session, claim, now, recorded=True)
    said = early_edits.as_edited(session, claim, said)
    thread_id, model = _reply_thread(session, parent, history_limit, now)
    if switch_to_model is not None and switch_to_model != model:
        model = _hand_thread_to(session, thread_id, switch_to_model)
    turn_id = rows.insert_returning_id(session, ThreadTurn, reply_thread_id=thread_id, **said)
    (answer,) = rows.insert_answers(
        session,
        [
            rows.new_answer_columns(
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
    history = thread_history(session, thread_id, turn_id, history_limit)
    return StartedTurn(turn_id, thread_id, answer, history, said["text"])


def switch_thread(
    session: Session,
    claim: MessageClaim,
    parent: ParentAnswer,
    model: str,
    history_limit: int,
    now: float,
) -> str:
    """Claim the message and hand the thread to `model`, creating the thread if new; the
    model the thread had before."""
    rows.claim_message(session, claim, now, recorded=False)
    thread_id, before = _reply_thread(session, parent, history_limit, now)
    if model != before:
        _hand_thread_to(session, thread_id, model)
    return before


_THREAD_ANCHOR = (
    select(
        ReplyThread.snapshot,
        Answer.text,
        Answer.deleted,
        Answer.status,
        Round.author_name,
        Round.text,
        Round.deleted,
        select(ChannelPrompt.prompt)
        .where(ChannelPrompt.channel_id == Answer.channel_id)
        .scalar_subquery(),
    )
    .join(Answer, Answer.id == ReplyThread.answer_id)
    .join(Round, Round.id == Answer.round_id)
    .where(ReplyThread.id == bindparam("thread_id"))
)
_LATEST_TURNS = rows.latest_with_answers(
    ThreadTurn,
    ThreadTurn.reply_thread_id,
    Answer.thread_turn_id,
    ThreadTurn.author_name,
    ThreadTurn.text,
)


def thread_history(
    session: Session, reply_thread_id: int, before_turn_id: int, limit: int
) -> ThreadHistory:
    """The snapshot, the round and answer the thread hangs under, its latest `limit` turns
    before `before_turn_id`, and the channel's prompt."""
    anchor = session.execute(_THREAD_ANCHOR, {"thread_id": reply_thread_id}).one()
    (
        entries,
        anchor_answer,
        answer_deleted,
        answer_status,
        author,
        question,
        question_deleted,
        channel_prompt,
    ) = anchor
    entries, snapshot_settled = _snapshot_settled_since(session, reply_thread_id, entries)
    turns = rows.with_answers(
        session, _LATEST_TURNS, parent=reply_thread_id, before=before_turn_id, limit=limit
    )
    records = tuple(
        TurnRecord(turn_author, text, replies[0] if replies else None)
        for (_, turn_author, text), replies in turns
    )
    return ThreadHistory(
        snapshot=_snapshot_as_it_stands(session, entries),
        anchor_message=thread_anchor_message(author, question, deleted=question_deleted),
        anchor_answer="" if answer_deleted else anchor_answer,
        turns=records,
        channel_prompt=channel_prompt,
        settled=snapshot_settled
        and AnswerStatus(answer_status).settled
        and all(turn.reply is None or turn.reply.status.settled for turn in records),
    )


# A thread's chat, held until the turn (or handover) commits, as what the thread reads of the
# chat (the answer it hangs under, its earlier replies, the snapshot) must not change meanwhile:
# a regeneration in the chat (FOR UPDATE, `storage.regeneration`) has then finished first, and
# the turn waits for the new text, or sees the turn and refuses; forgetting old rounds of the
# chat (FOR NO KEY UPDATE, `storage.retention`) has marked them deleted first, or finds the
# new thread and erases them from its snapshot. Turns of the chat do not wait for each other.
_HOLD_CHAT = select(Chat.id).where(Chat.id == bindparam("chat_id")).with_for_update(read=True)
_THREAD_UNDER = select(ReplyThread.id, ReplyThread.current_model).where(
    ReplyThread.answer_id == bindparam("answer_id")
)


def _reply_thread(
    session: Session, parent: ParentAnswer, history_limit: int, now: float
) -> tuple[int, str]:
    """The id and current model of the thread under `parent`, created on its first turn with
    the chat's latest `history_limit` rounds before `parent`'s as its snapshot."""
    session.execute(_HOLD_CHAT, {"chat_id": parent.chat_id})
    row = session.execute(_THREAD_UNDER, {"answer_id": parent.answer_id}).one_or_none()
    if row is not None:
        return row.id, row.current_model
    earlier = round_records(
        session, parent.chat_id, before_round_id=parent.round_id, limit=history_limit
    )
    # Another replica may create it at the same time: one insert wins, both read it back.
    session.execute(
        rows.insert_or_ignore(session, ReplyThread.__table__),  # type: ignore[arg-type]
        {
            "answer_id": parent.answer_id,
            "current_model": parent.model,
            "snapshot": [_snapshot_entry(record) for record in earlier],
            "created_at": now,
        },
    )
    row = session.execute(_THREAD_UNDER, {"answer_id": parent.answer_id}).one()
    return row.id, row.current_model


def _hand_thread_to(session: Session, thread_id: int, model: str) -> str:
    session.execute(
        update(ReplyThread).where(ReplyThread.id == thread_id).values(current_model=model)
    )
    return model


def _snapshot_entry(record: RoundRecord) -> dict[str, Any]:
    """One earlier round as a thread keeps it: what its model is sent of it, and the ids that
    say when that leaves the context (its message or its answer deleted). A round whose In
    Chat answer is still being written is marked unsettled, to be read again until it is."""
    shown = context_round(record)
    entry = {
        "round_id": shown.round_id,
        "user": shown.user,
        "in_chat_answer": shown.in_chat_answer,
        "in_chat_answer_id": in_chat_answer_id(record),
    }
    if not in_chat_settled(record):
        entry["settled"] = False
    return entry


def _snapshot_settled_since(
    session: Session, thread_id: int, entries: Sequence[dict[str, Any]]
) -> tuple[Sequence[dict[str, Any]], bool]:
    """The snapshot with the In Chat answers that were still being written when the thread
    started as they stand now, and whether all of them are settled. Those settled since are
    kept so in the snapshot: what happens to their rounds later (the answer deleted, another
    picked once a later round is deleted) no longer reaches the thread."""
    if all(entry.get("settled", True) for entry in entries):
        return entries, True
    # Read by id: a round said before the thread's but recorded after it started (its event
    # came late) is no snapshot round, and must not push one out of what is read.
    unsettled = [entry["round_id"] for entry in entries if not entry.get("settled", True)]
    now = {record.round_id: _snapshot_entry(record) for record in rounds_by_id(session, unsettled)}
    standing = [_as_it_stands(entry, now.get(entry["round_id"])) for entry in entries]
    newly_settled = {
        entry["round_id"]: entry
        for entry, was in zip(standing, entries, strict=True)
        if entry.get("settled", True) and not was.get("settled", True)
    }
    if newly_settled:
        _keep_settled(session, thread_id, newly_settled)
    return standing, all(entry.get("settled", True) for entry in standing)


def _keep_settled(session: Session, thread_id: int, settled: dict[int, dict[str, Any]]) -> None:
    """Write the entries settled since into the thread's snapshot as it is now (forgetting old
    rounds may have erased some of it meanwhile: the row is locked and read again)."""
    # FOR NO KEY UPDATE: the turns being recorded in the thread hold its row FOR KEY SHARE
    # (their foreign key) and would deadlock with FOR UPDATE.
    snapshot: list[dict[str, Any]] | None = session.scalar(
        select(ReplyThread.snapshot)
        .where(ReplyThread.id == thread_id)
        .with_for_update(key_share=True)
    )
    kept = [
        entry if entry.get("settled", True) else settled.get(entry["round_id"], entry)
        for entry in snapshot or []
    ]
    if kept != snapshot:
        session.execute(
            update(ReplyThread).where(ReplyThread.id == thread_id).values(snapshot=kept)
        )


def _as_it_stands(entry: dict[str, Any], now: dict[str, Any] | None) -> dict[str, Any]:
    """A snapshot entry with its round's In Chat answer as `now` reads it, if it was still
    being written (the message is kept as it was when the thread started). A round deleted
    since (`now` None) leaves the context: nothing to wait for."""
    if entry.get("settled", True):
        return entry
    if now is None:
        return {**entry, "settled": True}
    return {
        **entry,
        "in_chat_answer": now["in_chat_answer"],
        "in_chat_answer_id": now["in_chat_answer_id"],
        "settled": now.get("settled", True),
    }


def _snapshot_as_it_stands(
    session: Session, entries: Sequence[dict[str, Any]]
) -> tuple[ContextRound, ...]:
    """The snapshot without the rounds whose message, and the answers that, people deleted
    since (snapshots from before answer ids were kept lack them)."""
    if not entries:
        return ()
    round_ids = [entry["round_id"] for entry in entries]
    answer_ids = [entry["in_chat_answer_id"] for entry in entries if entry.get("in_chat_answer_id")]
    deleted = session.execute(
        union_all(
            select(literal("round"), Round.id).where(Round.id.in_(round_ids), Round.deleted),
            select(literal("answer"), Answer.id).where(Answer.id.in_(answer_ids), Answer.deleted),
        )
    ).all()
    deleted_rounds = {row_id for kind, row_id in deleted if kind == "round"}
    deleted_answers = {row_id for kind, row_id in deleted if kind == "answer"}
    return tuple(
        ContextRound(
            entry["round_id"],
            entry["user"],
            None if entry.get("in_chat_answer_id") in deleted_answers else entry["in_chat_answer"],
        )
        for entry in entries
        if entry["round_id"] not in deleted_rounds
    )
