"""Which answers' messages show the In Chat mark, kept in step with their round's In Chat answer.

An answer's final message is drawn with the mark it should have when it settles
(`mark_settled`). What changes it later (another model's answer failing or finishing, a
pushpin, a Regenerate) is caught when an answer is shown or a pick made (`marks_owed`): the
answers whose messages must be drawn again.
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from bot.chat.history import (
    RoundRecord,
    awaited_in_chat_answer,
    in_chat_answer_id,
    in_chat_marks_to_change,
)
from bot.chat.in_chat import AnswerStatus
from storage.rows import SettledAnswer, answer_record
from storage.tables import Answer, Chat, Round

# Built once (see `storage.rows`): they run each time an answer settles.
# A round's pick and its answers in model order, with what each answer's message shows.
_ROUND_STATE = (
    select(
        Round.in_chat_answer_id,
        Round.deleted.label("question_deleted"),
        Answer.id,
        Answer.status,
        Answer.text,
        Answer.deleted,
        Answer.shown_at.is_not(None),
        Answer.marked_in_chat,
    )
    .join(Answer, Answer.round_id == Round.id)
    .where(Round.id == bindparam("round_id"))
    .order_by(Answer.position, Answer.id)
)
_ANSWERS: Table = Answer.__table__  # type: ignore[assignment]
_SET_MARK = (
    update(_ANSWERS)
    .where(_ANSWERS.c.id == bindparam("answer"))
    .values(marked_in_chat=bindparam("mark"))
)
# The round of an answer (none for a reply in a reply thread), its chat locked.
_HOLD_ANSWERS_CHAT = (
    select(Round.id)
    .join(Chat, Chat.id == Round.chat_id)
    .where(
        Round.id
        == select(Answer.round_id).where(Answer.id == bindparam("answer")).scalar_subquery()
    )
    .with_for_update(of=Chat)
)


def in_chat_answer_now(session: Session, round_id: int) -> int | None:
    """The round's In Chat answer as later rounds would be sent it now."""
    record, _, _ = _round_state(session, round_id)
    return in_chat_answer_id(record)


def in_chat_answer_or_awaited(session: Session, round_id: int) -> tuple[int | None, bool]:
    """The round's In Chat answer now (True), or, while that is undecided, the answer it
    waits for (False)."""
    record, _, _ = _round_state(session, round_id)
    decided = in_chat_answer_id(record)
    if decided is not None:
        return decided, True
    return awaited_in_chat_answer(record), False


def mark_settled(session: Session, answer_id: int, round_id: int) -> bool:
    """Whether the answer, just settled, is its round's In Chat answer: its message is to
    show the mark (recorded as shown). None is, once the round's message was deleted."""
    record, _, question_deleted = _round_state(session, round_id)
    marked = not question_deleted and in_chat_answer_id(record) == answer_id
    if marked:
        session.execute(_SET_MARK, {"answer": answer_id, "mark": True})
    return marked


def hold_answers_chat(session: Session, answer_id: int) -> int | None:
    """Lock the chat of the answer's round (as `storage.rounds.hold_chat` does) before the
    answer's row is written: `marks_owed` writes other answers' rows under that lock, so
    taking it second could deadlock. The round's id; None for a reply in a reply thread."""
    return session.scalar(_HOLD_ANSWERS_CHAT, {"answer": answer_id})


def marks_owed(session: Session, round_id: int) -> list[SettledAnswer]:
    """Record the marks the round's answers settled in Slack should show; those whose mark
    changed, to be drawn again. Called under the chat's lock, so that replicas showing
    answers of one round at once decide one after the other, each seeing what the other did."""
    record, marked, question_deleted = _round_state(session, round_id)
    changes = in_chat_marks_to_change(record, marked, question_deleted=question_deleted)
    if not changes:
        return []
    session.execute(_SET_MARK, [{"answer": id_, "mark": mark} for id_, mark in changes.items()])
    rows = session.scalars(select(Answer).where(Answer.id.in_(changes)).order_by(Answer.id))
    return [SettledAnswer.of(row) for row in rows]


def _round_state(session: Session, round_id: int) -> tuple[RoundRecord, dict[int, bool], bool]:
    """What the In Chat rule reads of a round, the mark each of its answers settled and
    shown in Slack (not deleted) shows, and whether the round's message was deleted."""
    answers, marked = [], {}
    rows = session.execute(_ROUND_STATE, {"round_id": round_id}).all()
    chosen = rows[0].in_chat_answer_id if rows else None
    question_deleted = bool(rows[0].question_deleted) if rows else False
    for _, _, answer_id, status, text, deleted, shown, shows_mark in rows:
        answer = answer_record(answer_id, status, text, deleted)
        answers.append(answer)
        if shown and answer.status.settled and not deleted:
            marked[answer_id] = shows_mark
    return RoundRecord(round_id, "", "", chosen, tuple(answers)), marked, question_deleted


def current_marks(session: Session, answer_ids: list[int]) -> dict[int, SettledAnswer]:
    """The answers as they stand, those still settled and shown: after a mark was drawn,
    whether it is still the one to show (another replica may have changed it meanwhile)."""
    rows = session.scalars(
        select(Answer).where(
            Answer.id.in_(answer_ids), Answer.shown_at.is_not(None), ~Answer.deleted
        )
    )
    return {row.id: SettledAnswer.of(row) for row in rows if AnswerStatus(row.status).settled}
