"""Regenerating an answer: which answers may be, and taking one back to pending exactly once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import ScalarSelect, select, update
from sqlalchemy.orm import Session

from storage.answers import UNSETTLED_STATUSES
from storage.database import Database
from storage.retention import forgetting_cutoff, was_forgotten
from storage.rounds import hold_chat, is_current_chat
from storage.rows import unstarted_answer
from storage.tables import Answer, ReplacedGeneration, ReplyThread, Round, ThreadTurn


@dataclass(frozen=True, slots=True)
class RoundSource:
    """A round answer is rebuilt from its chat's earlier rounds and the round's message."""

    chat_id: int
    round_id: int
    author: str


@dataclass(frozen=True, slots=True)
class TurnSource:
    """A thread reply is rebuilt from its thread's history and the turn's message."""

    reply_thread_id: int
    turn_id: int
    author: str


@dataclass(frozen=True, slots=True)
class Regeneration:
    """An answer taken back to pending, to be answered again in its own Slack message."""

    answer_id: int
    model: str
    channel_id: str
    post_thread_ts: str | None
    slack_ts: str
    old_continuations: tuple[str, ...]
    source: RoundSource | TurnSource


class RegenerationRefused(Enum):
    """Why an answer is not regenerated, as the person who asked is told."""

    NOT_AN_ANSWER = "That message is not an answer I can regenerate."
    STILL_STREAMING = "That answer is still being written: press Stop first, or wait for it."
    STILL_SHOWING = "That answer is still being put in its message; try again in a moment."
    NOT_LATEST = "Only the answers to the latest message of a chat or thread can be regenerated."
    CHAT_CLOSED = (
        "A new chat was started here since (`/chorus new`), so that answer can't be "
        "regenerated: ask again."
    )
    HAS_THREAD = (
        "That answer has replies in its thread, written about its text: it can't be "
        "regenerated. Reply in the thread, or ask again."
    )
    QUESTION_GONE = "The message that answer replies to was deleted, so it can't be regenerated."
    QUESTION_FORGOTTEN = (
        "The message that answer replies to is older than what this workspace keeps, so it "
        "can't be regenerated."
    )
    UNKNOWN_MODEL = (
        "That answer's model is no longer set up on this bot, so it can't be regenerated."
    )


class RegenerationStore:
    def __init__(self, database: Database, *, forget_after_seconds: float | None = None) -> None:
        """`forget_after_seconds`: how long what is said is kept (`storage.retention`), if
        this deployment forgets it at all."""
        self._database = database
        self._forget_after_seconds = forget_after_seconds

    async def restart(
        self,
        channel_id: str,
        slack_ts: str,
        *,
        owner: str,
        answerable: Callable[[str], bool],
    ) -> Regeneration | RegenerationRefused:
        """Take the answer in this Slack message back to pending for `owner`, once however
        often (and on however many replicas) the button is pressed, if its model is
        `answerable` (it runs on the database's side, so it must be quick and pure)."""
        now = self._database.now()
        forgotten_before = forgetting_cutoff(now, self._forget_after_seconds)
        return await self._database.run(
            _restart, channel_id, slack_ts, owner, answerable, now, forgotten_before
        )


def _restart(
    session: Session,
    channel_id: str,
    slack_ts: str,
    owner: str,
    answerable: Callable[[str], bool],
    now: float,
    forgotten_before: float | None,
) -> Regeneration | RegenerationRefused:
    answer = session.scalar(
        select(Answer).where(
            Answer.channel_id == channel_id, Answer.slack_ts == slack_ts, ~Answer.deleted
        )
    )
    if answer is None:
        return RegenerationRefused.NOT_AN_ANSWER
    if not answerable(answer.model):
        return RegenerationRefused.UNKNOWN_MODEL
    _hold_chat(session, answer)
    source = _source_if_latest(session, answer, forgotten_before)
    if isinstance(source, RegenerationRefused):
        return source
    if answer.status not in UNSETTLED_STATUSES and answer.shown_at is None:
        # Its final edit is still owed: whoever shows it could overwrite the new text.
        return RegenerationRefused.STILL_SHOWING
    old_continuations = tuple(answer.continuation_ts or ())
    spent = session.execute(
        select(Answer.started_at, Answer.input_tokens, Answer.output_tokens)
        .where(
            Answer.id == answer.id,
            Answer.status.not_in(UNSETTLED_STATUSES),
            Answer.shown_at.is_not(None),
        )
        .with_for_update(key_share=True)
    ).one_or_none()
    if spent is None:
        return RegenerationRefused.STILL_STREAMING
    if spent.input_tokens is not None or spent.output_tokens is not None:
        session.add(
            ReplacedGeneration(
                answer_id=answer.id,
                model=answer.model,
                started_at=spent.started_at,
                input_tokens=spent.input_tokens or 0,
                output_tokens=spent.output_tokens or 0,
            )
        )
    session.execute(
        update(Answer)
        .where(Answer.id == answer.id)
        .values(
            error=None,
            first_token_at=None,
            finished_at=None,
            shown_at=None,
            input_tokens=None,
            output_tokens=None,
            stop_requested_by=None,
            **unstarted_answer(owner, now),
        )
    )
    assert answer.slack_ts is not None
    return Regeneration(
        answer_id=answer.id,
        model=answer.model,
        channel_id=answer.channel_id,
        post_thread_ts=answer.post_thread_ts,
        slack_ts=answer.slack_ts,
        old_continuations=old_continuations,
        source=source,
    )


def _hold_chat(session: Session, answer: Answer) -> None:
    """Lock the answer's chat until the regeneration commits (see `hold_chat`): a later round
    or thread turn is either seen by the checks that follow, or reads this answer pending
    again (a thread turn then waits for its new text)."""
    round_id: int | ScalarSelect[int | None] | None = answer.round_id
    if round_id is None:
        round_id = (
            select(Answer.round_id)
            .join(ReplyThread, ReplyThread.answer_id == Answer.id)
            .join(ThreadTurn, ThreadTurn.reply_thread_id == ReplyThread.id)
            .where(ThreadTurn.id == answer.thread_turn_id)
            .scalar_subquery()
        )
    hold_chat(session, select(Round.chat_id).where(Round.id == round_id).scalar_subquery())


def _has_thread_turns(session: Session, answer_id: int) -> bool:
    turn = session.scalar(
        select(ThreadTurn.id)
        .join(ReplyThread, ReplyThread.id == ThreadTurn.reply_thread_id)
        .where(ReplyThread.answer_id == answer_id, ~ThreadTurn.deleted)
        .limit(1)
    )
    return turn is not None


# The message an answer is rebuilt from, held (FOR SHARE) until the regeneration commits: its
# deletion then waits, and finds the answer pending again and stops it, or it went first and
# the message reads deleted here.
_UNTIL_REGENERATED = {"read": True}


def _source_if_latest(
    session: Session, answer: Answer, forgotten_before: float | None
) -> RoundSource | TurnSource | RegenerationRefused:
    """What the answer is rebuilt from, if it answers its chat's (or thread's) latest message
    and that message is still there (forgetting erases what was said before `forgotten_before`,
    when this deployment forgets)."""
    if answer.round_id is not None:
        round_ = session.get_one(Round, answer.round_id, with_for_update=_UNTIL_REGENERATED)
        newer = session.scalar(
            select(Round.id)
            .where(
                Round.chat_id == round_.chat_id,
                Round.message_ts > round_.message_ts,
                ~Round.deleted,
            )
            .order_by(Round.message_ts)  # read along the chat's index, not the whole table
            .limit(1)
        )
        if round_.deleted:
            return _gone(round_, forgotten_before)
        if newer is not None:
            return RegenerationRefused.NOT_LATEST
        if not is_current_chat(session, round_.chat_id):
            return RegenerationRefused.CHAT_CLOSED
        if _has_thread_turns(session, answer.id):
            return RegenerationRefused.HAS_THREAD
        return RoundSource(round_.chat_id, round_.id, round_.author_name)
    assert answer.thread_turn_id is not None
    turn = session.get_one(ThreadTurn, answer.thread_turn_id, with_for_update=_UNTIL_REGENERATED)
    newer = session.scalar(
        select(ThreadTurn.id)
        .where(
            ThreadTurn.reply_thread_id == turn.reply_thread_id,
            ThreadTurn.message_ts > turn.message_ts,
            ~ThreadTurn.deleted,
        )
        .order_by(ThreadTurn.message_ts)
        .limit(1)
    )
    if turn.deleted:
        return _gone(turn, forgotten_before)
    if newer is not None:
        return RegenerationRefused.NOT_LATEST
    return TurnSource(turn.reply_thread_id, turn.id, turn.author_name)


def _gone(message: Round | ThreadTurn, forgotten_before: float | None) -> RegenerationRefused:
    """Why a message reads deleted: forgetting erased it, or a person deleted it."""
    if was_forgotten(message, forgotten_before):
        return RegenerationRefused.QUESTION_FORGOTTEN
    return RegenerationRefused.QUESTION_GONE
