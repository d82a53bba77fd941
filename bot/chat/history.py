"""Stored rounds and thread turns turned into what later models see."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.chat.context import ContextRound, ThreadTurn, authored
from bot.chat.in_chat import AnswerOutcome, AnswerStatus, default_in_chat_answer

DELETED_MESSAGE = "(message deleted)"


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """A stored answer (deleted answers are recorded as failed: they leave the context)."""

    answer_id: int
    status: AnswerStatus
    text: str


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """A stored round: its author, message, explicit In Chat choice (if any) and answers."""

    round_id: int
    author: str
    text: str
    chosen_answer_id: int | None
    answers: tuple[AnswerRecord, ...]


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """A stored reply-thread turn: a person's message and the thread model's reply to it."""

    author: str
    text: str
    reply: AnswerRecord | None


def in_chat_answer_id(record: RoundRecord) -> int | None:
    """The recorded choice while its answer has text to send, else the default rule over the
    answers in model order (the choice's answer may since have failed a Regenerate, or been
    deleted, or been stopped before its first word). A choice being regenerated is
    undecided (None), as the default rule is while the first model answers: no other answer
    takes its place meanwhile."""
    chosen = next((a for a in record.answers if a.answer_id == record.chosen_answer_id), None)
    if chosen is not None and chosen.status.keeps_text and chosen.text.strip():
        return chosen.answer_id
    if chosen is not None and not chosen.status.settled:
        return None
    outcomes = [AnswerOutcome(answer.answer_id, _outcome(answer)) for answer in record.answers]
    return default_in_chat_answer(outcomes)


def _outcome(answer: AnswerRecord) -> AnswerStatus:
    """An answer settled with no text (stopped before its first word, interrupted before any
    was saved) counts as failed: it has nothing a later round could be sent."""
    if answer.status.keeps_text and not answer.text.strip():
        return AnswerStatus.FAILED
    return answer.status


def awaited_in_chat_answer(record: RoundRecord) -> int | None:
    """While the In Chat answer is undecided, the answer it waits for: the pick being
    regenerated, or the first (in model order) still being written."""
    chosen = next((a for a in record.answers if a.answer_id == record.chosen_answer_id), None)
    if chosen is not None and not chosen.status.settled:
        return chosen.answer_id
    return next((a.answer_id for a in record.answers if not a.status.settled), None)


def in_chat_marks_to_change(
    record: RoundRecord, marked: Mapping[int, bool], *, question_deleted: bool = False
) -> dict[int, bool]:
    """The answers whose message shows the wrong In Chat mark, each with the mark it should
    show. `marked`: what the message of each answer settled in Slack shows. While the choice is
    undecided (the first model, or the chosen answer, still writing) marks stay as they are:
    none comes off only to come back a moment later. A round whose message was deleted
    (`question_deleted`) is seen by no later round: none of its answers shows the mark."""
    if question_deleted:
        return {answer_id: False for answer_id, shows in marked.items() if shows}
    in_chat = in_chat_answer_id(record)
    if in_chat is None:
        return {}
    return {
        answer_id: answer_id == in_chat
        for answer_id, shows in marked.items()
        if shows != (answer_id == in_chat)
    }


def in_chat_settled(record: RoundRecord) -> bool:
    """Whether what later rounds see of this round is final: its In Chat answer is decided
    and whole, or none of its answers may still give one. One still being written is not a
    failed one: later rounds wait for it rather than go without it."""
    return in_chat_answer_id(record) is not None or all(
        answer.status.settled for answer in record.answers
    )


def context_round(record: RoundRecord) -> ContextRound:
    """A round as later rounds see it: its user message and, if any, its In Chat answer."""
    chosen = in_chat_answer_id(record)
    answer = next((a for a in record.answers if a.answer_id == chosen), None)
    text = answer.text if answer is not None and answer.status.keeps_text else None
    return ContextRound(record.round_id, authored(record.author, record.text), text or None)


def thread_anchor_message(author: str, text: str, *, deleted: bool) -> str:
    """The message of the round a reply thread hangs under, as the thread's model sees it. A
    deleted one leaves the context, but a stand-in keeps the answer after a user turn."""
    return authored(author, DELETED_MESSAGE if deleted else text)


def thread_turn(record: TurnRecord) -> ThreadTurn:
    """A thread turn as later turns see it; a failed reply sends no assistant turn."""
    reply = record.reply
    text = reply.text if reply is not None and reply.status.keeps_text else None
    return ThreadTurn(authored(record.author, record.text), text or None)
