"""Which answers' messages show the In Chat mark, kept in step with their round's In Chat answer.

An answer's final message is drawn with the mark it should have when it settles
(`mark_settled`). What changes it later (another model's answer failing or finishing, a
pushpin, a Regenerate) is caught when an answer is shown or a pick made (`marks_owed`): the
answers whose messages must be drawn again.
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from bot.chat.history import in_chat_marks_to_change
from bot.chat.in_chat import AnswerStatus
from storage.rounds import in_chat_answer_now, in_chat_record
from storage.rows import SettledAnswer
from storage.tables import Answer, Chat, Round

# Built once (see `storage.rows`): these run each time an answer settles.
_MARKS = select(Answer.id, Answer.status, Answer.marked_in_chat).where(
    Answer.round_id == bindparam("round_id"), Answer.shown_at.is_not(None), ~Answer.deleted
)
_ANSWERS: Table = Answer.__table__  # type: ignore[assignment]
_SET_MARK = (
    update(_ANSWERS)
    .where(_ANSWERS.c.id == bindparam("answer"))
    .values(marked_in_chat=bindparam("mark"))
)
_ROUND_CHAT = select(Round.chat_id).where(Round.id == bindparam("round_id")).scalar_subquery()
_HOLD_ROUND_CHAT = select(Chat.id).where(Chat.id == _ROUND_CHAT).with_for_update()


def mark_settled(session: Session, answer_id: int, round_id: int) -> bool:
    """Whether the answer, just settled, is its round's In Chat answer: its message is to
    show the mark (recorded as shown)."""
    marked = in_chat_answer_now(session, round_id) == answer_id
    if marked:
        session.execute(_SET_MARK, {"answer": answer_id, "mark": True})
    return marked


def hold_round_chat(session: Session, round_id: int) -> None:
    """Lock the round's chat (as `storage.rounds.hold_chat` does) before an answer row of it is
    written: `marks_owed` writes others' rows under that lock, so taking it second could
    deadlock."""
    session.execute(_HOLD_ROUND_CHAT, {"round_id": round_id})


def marks_owed(session: Session, round_id: int) -> list[SettledAnswer]:
    """Record the marks the round's answers settled in Slack should show; those whose mark
    changed, to be drawn again. Decided under the chat's lock (taken here if not yet), so that
    replicas showing answers of one round at once decide one after the other, each seeing
    what the other did."""
    hold_round_chat(session, round_id)
    marked = {
        answer_id: shows
        for answer_id, status, shows in session.execute(_MARKS, {"round_id": round_id})
        if AnswerStatus(status).settled
    }
    changes = in_chat_marks_to_change(in_chat_record(session, round_id), marked)
    if not changes:
        return []
    session.execute(_SET_MARK, [{"answer": id_, "mark": mark} for id_, mark in changes.items()])
    rows = session.scalars(select(Answer).where(Answer.id.in_(changes)).order_by(Answer.id))
    return [SettledAnswer.of(row) for row in rows]


def current_marks(session: Session, answer_ids: list[int]) -> dict[int, SettledAnswer]:
    """The answers as they stand, those still settled and shown: after a mark was drawn,
    whether it is still the one to show (another replica may have changed it meanwhile)."""
    rows = session.scalars(
        select(Answer).where(
            Answer.id.in_(answer_ids), Answer.shown_at.is_not(None), ~Answer.deleted
        )
    )
    return {row.id: SettledAnswer.of(row) for row in rows if AnswerStatus(row.status).settled}
