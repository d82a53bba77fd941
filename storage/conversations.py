"""Chats, rounds, reply threads and thread turns: the one store that writes them.

Each method is one transaction; the queries live in `storage.rounds` (a round and its history)
and `storage.reply_threads` (a thread, its turns and its history).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.chat.history import RoundRecord
from bot.chat.in_chat import InChatChoice
from bot.chat.routing import ChatKey
from storage import early_edits, in_chat_marks, reply_threads, rounds, rows
from storage.answers import STOPPED_BY_DELETION, UNSETTLED_STATUSES
from storage.database import Database
from storage.reply_threads import ParentAnswer, StartedTurn, ThreadHistory, ThreadReply
from storage.retention import forgetting_cutoff
from storage.rounds import ModelChooser, RoundPlan, StartedRound, Unpinned
from storage.rows import MessageClaim, SaidAt, SettledAnswer, claim_message, said_columns
from storage.tables import UNFINISHED, Answer, ClaimedMessage, HandledEvent, Round, ThreadTurn

T = TypeVar("T")


class Revision(Enum):
    """What an edit of a person's message changed."""

    REVISED = "revised"  # the round or thread turn of the message reads the new text
    KEPT = "kept"  # the message is not recorded yet: the round or turn recording it will
    NOT_ASKED = "not asked"  # the message got no round or turn (a help reply, a notice, deleted)


class ConversationStore:
    """The one place that writes chats (opened by a first round, renewed by `/chorus new`),
    rounds, reply threads, thread turns and message claims."""

    def __init__(self, database: Database, *, forget_after_seconds: float | None = None) -> None:
        """`forget_after_seconds`: how long what is said is kept (`storage.retention`), if
        this deployment forgets it at all."""
        self._database = database
        self._forget_after_seconds = forget_after_seconds

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
        after: SaidAt | None = None,
    ) -> StartedRound | None:
        """Claim the message, read the channel's model list and choose the models with
        `models`, record a round with one pending answer per model, and read the chat's latest
        `history_limit` earlier rounds and the channel's prompt, all in one transaction (each
        trip to the database fewer is time before the models are asked). Whatever `models`
        raises aborts it all; it runs on the database's side, so it must be quick and pure.
        With `after` (where the message was said), raises `EarlierMessageUnrecorded`, having
        recorded nothing, while a message said before it there is not recorded yet.

        Returns None when the message was already claimed (the `app_mention` + `message` pair
        of one mention, or another replica got there first).
        """
        said = said_columns(
            claim, user_id=user_id, author=author, text=text, now=self._database.now()
        )
        plan = RoundPlan(chat, models, post_thread_ts, owner, history_limit)
        try:
            return await self._database.run(
                _after_earlier_messages, claim, after, rounds.start_round, claim, said, plan
            )
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return None

    async def claim(self, claim: MessageClaim) -> bool:
        """Claim a message that gets a reply but no round (help, an error); False if taken."""
        try:
            await self._database.run(claim_message, claim, self._database.now(), recorded=False)
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
            rounds.round_records, chat_id, before_round_id=before_round_id, limit=limit
        )

    async def parent_answer(self, channel_id: str, slack_ts: str) -> ParentAnswer | None:
        """The round answer whose Slack message is `slack_ts` (a possible thread parent)."""
        return await self._database.run(reply_threads.parent_answer, channel_id, slack_ts)

    async def thread_reply_at(self, channel_id: str, slack_ts: str) -> ThreadReply | None:
        """The model's reply to a thread turn whose Slack message is `slack_ts`, if any."""
        return await self._database.run(reply_threads.thread_reply_at, channel_id, slack_ts)

    async def answer_continued_at(self, channel_id: str, slack_ts: str) -> str | None:
        """The Slack message of the answer that `slack_ts` continues (a part of a long answer
        posted in its thread), if it is one."""
        return await self._database.run(reply_threads.answer_continued_at, channel_id, slack_ts)

    async def unpin_in_chat(
        self, parent: ParentAnswer, *, pinned_by_someone_else: bool
    ) -> tuple[Unpinned | None, list[SettledAnswer]]:
        """Undo the pick of this answer as In Chat, if the rules say so (None if not); the
        answers whose In Chat mark is to change."""
        return await self._database.run(
            _with_marks_owed(rounds.unpin_in_chat),
            chat_id=parent.chat_id,
            round_id=parent.round_id,
            answer_id=parent.answer_id,
            pinned_by_someone_else=pinned_by_someone_else,
        )

    async def choose_in_chat(
        self, parent: ParentAnswer
    ) -> tuple[InChatChoice, list[SettledAnswer]]:
        """Make this answer its round's In Chat answer, if the rules allow; the answers whose
        In Chat mark is to change."""
        return await self._database.run(
            _with_marks_owed(rounds.choose_in_chat),
            chat_id=parent.chat_id,
            round_id=parent.round_id,
            answer_id=parent.answer_id,
            forgotten_before=forgetting_cutoff(self._database.now(), self._forget_after_seconds),
        )

    async def start_thread_turn(
        self,
        claim: MessageClaim,
        parent: ParentAnswer,
        *,
        user_id: str,
        author: str,
        text: str,
        switch_to_model: str | None,
        owner: str,
        history_limit: int,
        after: SaidAt | None = None,
    ) -> StartedTurn | None:
        """Claim the message, record a thread turn with one pending reply, and read the
        thread's history (its snapshot, anchor and latest `history_limit` turns), in one
        transaction. The reply thread is created on its first turn, with the chat's latest
        `history_limit` rounds before the parent's as its frozen snapshot. `after`: as for
        `start_round`.

        Returns None when the message was already claimed.
        """
        said = said_columns(
            claim, user_id=user_id, author=author, text=text, now=self._database.now()
        )
        try:
            return await self._database.run(
                _after_earlier_messages,
                claim,
                after,
                reply_threads.start_thread_turn,
                claim,
                parent,
                said,
                switch_to_model,
                owner,
                history_limit,
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
        history_limit: int,
        after: SaidAt | None = None,
    ) -> str | None:
        """Claim a message that hands the thread to `model` without asking it anything (the
        thread is created, with its snapshot, if this is its first message); the model the
        thread had before, or None if the message was claimed already. `after`: as for
        `start_round`."""
        try:
            return await self._database.run(
                _after_earlier_messages,
                claim,
                after,
                reply_threads.switch_thread,
                claim,
                parent,
                model,
                history_limit,
                self._database.now(),
            )
        except IntegrityError as error:
            await self._raise_unless_claimed(claim, error)
            return None

    async def thread_history(
        self, reply_thread_id: int, *, before_turn_id: int, limit: int
    ) -> ThreadHistory:
        """The snapshot, the round and answer the thread hangs under, its latest turns, and
        the channel's prompt."""
        return await self._database.run(
            reply_threads.thread_history, reply_thread_id, before_turn_id, limit
        )

    async def turn_text(self, turn_id: int) -> str | None:
        """What a thread turn's message says now (it may have been edited); None once deleted."""
        return await self._database.run(rows.said_text, ThreadTurn, turn_id)

    async def round_text(self, round_id: int) -> str | None:
        """What a round's message says now (it may have been edited); None once deleted."""
        return await self._database.run(rows.said_text, Round, round_id)

    async def revise_message(
        self, edited: MessageClaim, text: str, *, keep_if_unrecorded: bool = True
    ) -> Revision:
        """A person edited a message: it now reads `text`, in the round or thread turn that
        records it, or, when it is not recorded yet and `keep_if_unrecorded`, in the one
        that will."""
        return await self._database.run(
            _revise_message, edited, text, keep_if_unrecorded, self._database.now()
        )

    async def start_new_chat(self, key: ChatKey) -> None:
        """Later rounds of this chat start from nothing (`/chorus new`)."""
        await self._database.run(rounds.start_new_chat, key, self._database.now())

    async def forget_message(self, deleted: MessageClaim) -> list[SettledAnswer]:
        """A person deleted a message (or an admin an answer): it leaves every context. A
        message not recorded yet (its event is late, or still on its way to the database) is
        claimed, so it never starts a round or thread turn. Returns the answers whose In Chat
        mark is to change (a deleted answer was its round's In Chat answer; a deleted
        question's round is seen by no later round, so none of its answers keeps the mark)."""
        return await self._database.run(_forget_message, deleted, self._database.now())


def _with_marks_owed(
    pick: Callable[..., T],
) -> Callable[..., tuple[T, list[SettledAnswer]]]:
    """An In Chat pick (or its undoing) of a round, and the marks it changes, in one transaction."""

    def picked(session: Session, *, round_id: int, **where: Any) -> tuple[T, list[SettledAnswer]]:
        outcome = pick(session, round_id=round_id, **where)
        return outcome, in_chat_marks.marks_owed(session, round_id)

    return picked


class EarlierMessageUnrecorded(Exception):
    """A message said before this one where it was said has been received (its event is
    being handled) but not recorded yet: nothing was recorded; try again shortly."""


def _after_earlier_messages(
    session: Session,
    claim: MessageClaim,
    after: SaidAt | None,
    record: Callable[..., T],
    *arguments: Any,
) -> T:
    """`record(session, *arguments)`, unless a message said before `after` is unrecorded."""
    if after is not None and _unrecorded_before(session, claim.team_id, after):
        raise EarlierMessageUnrecorded
    return record(session, *arguments)


# Built once (see `storage.rows`): it runs before every round and thread turn is recorded.
_UNRECORDED_BEFORE = (
    select(HandledEvent.event_id)
    .where(
        UNFINISHED,
        HandledEvent.channel_id == bindparam("channel_id"),
        HandledEvent.thread_ts == bindparam("thread_ts"),
        HandledEvent.message_ts < bindparam("message_ts"),
        ~exists().where(
            ClaimedMessage.team_id == bindparam("team_id"),
            ClaimedMessage.channel_id == HandledEvent.channel_id,
            ClaimedMessage.message_ts == HandledEvent.message_ts,
        ),
    )
    .limit(1)
)


def _unrecorded_before(session: Session, team_id: str, said: SaidAt) -> bool:
    earlier = session.scalar(
        _UNRECORDED_BEFORE,
        {
            "team_id": team_id,
            "channel_id": said.channel_id,
            "thread_ts": said.thread_ts,
            "message_ts": said.message_ts,
        },
    )
    return earlier is not None


def _forget_message(session: Session, deleted: MessageClaim, now: float) -> list[SettledAnswer]:
    # Claimed first: a round recording this message meanwhile either made its claim first
    # (then its row is committed before the updates below run, and they mark it) or fails
    # to make it.
    session.execute(
        rows.insert_or_ignore(session, ClaimedMessage.__table__),  # type: ignore[arg-type]
        {
            "team_id": deleted.team_id,
            "channel_id": deleted.channel_id,
            "message_ts": deleted.message_ts,
            "claimed_at": now,
        },
    )
    channel_id, message_ts = deleted.channel_id, deleted.message_ts
    # A deleted answer's chat, or a deleted question's, is locked before any of its rows is
    # written (`marks_owed`).
    answer_id = session.scalar(
        select(Answer.id).where(Answer.channel_id == channel_id, Answer.slack_ts == message_ts)
    )
    round_id = None if answer_id is None else in_chat_marks.hold_answers_chat(session, answer_id)
    asked = session.execute(
        select(Round.id, Round.chat_id).where(
            Round.channel_id == channel_id, Round.message_ts == message_ts
        )
    ).first()
    if asked is not None:
        rounds.hold_chat(session, asked.chat_id)
        round_id = asked.id
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
    # The answers still being written to it, or into it, stop, as if Stop were pressed (the
    # replica streaming one finds it with the Stop presses made elsewhere).
    asked_by_it_or_written_into_it = or_(
        Answer.round_id.in_(
            select(Round.id).where(Round.channel_id == channel_id, Round.message_ts == message_ts)
        ),
        Answer.thread_turn_id.in_(
            select(ThreadTurn.id).where(
                ThreadTurn.channel_id == channel_id, ThreadTurn.message_ts == message_ts
            )
        ),
        Answer.id == answer_id,
    )
    session.execute(
        update(Answer)
        .where(
            asked_by_it_or_written_into_it,
            Answer.status.in_(UNSETTLED_STATUSES),
            Answer.stop_requested_by.is_(None),
        )
        .values(stop_requested_by=STOPPED_BY_DELETION)
    )
    # A deleted answer's round marks the next answer instead; a deleted question's, none.
    return [] if round_id is None else in_chat_marks.marks_owed(session, round_id)


def _revise_message(
    session: Session, edited: MessageClaim, text: str, keep: bool, now: float
) -> Revision:
    if keep and early_edits.kept_until_recorded(session, edited, text, now):
        return Revision.KEPT
    revised = 0
    for table in (Round, ThreadTurn):
        result = session.execute(
            update(table)
            .where(
                table.channel_id == edited.channel_id,
                table.message_ts == edited.message_ts,
                ~table.deleted,
            )
            .values(text=text)
        )
        revised += result.rowcount  # type: ignore[attr-defined]
    return Revision.REVISED if revised else Revision.NOT_ASKED
