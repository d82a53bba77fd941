"""Which answer of a round is In Chat, the one later rounds see (SPEC §1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum


class AnswerStatus(StrEnum):
    PENDING = "pending"  # created, nothing streamed yet
    STREAMING = "streaming"
    DONE = "done"
    FAILED = "failed"  # no usable text: the provider failed before answering
    CUT_OFF = "cut_off"  # text streamed, then the provider failed; partial text kept
    INTERRUPTED = "interrupted"  # the bot stopped mid-answer; partial text kept
    STOPPED = "stopped"  # a person pressed Stop; partial text kept

    @property
    def settled(self) -> bool:
        return self not in (AnswerStatus.PENDING, AnswerStatus.STREAMING)

    @property
    def keeps_text(self) -> bool:
        """Settled with text worth sending to later rounds, if a person makes it In Chat."""
        return self in (
            AnswerStatus.DONE,
            AnswerStatus.CUT_OFF,
            AnswerStatus.INTERRUPTED,
            AnswerStatus.STOPPED,
        )


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    """What the In Chat rule needs to know of one answer."""

    answer_id: int
    status: AnswerStatus


def default_in_chat_answer(answers: Sequence[AnswerOutcome]) -> int | None:
    """The first model's answer; if it failed, the first that succeeded; if none finished,
    the first with text shown (cut off, stopped), so a follow-up such as "go on" is sent the
    text the person is looking at.

    `answers` are in model order. While an earlier answer may still succeed the choice is
    undecided (None), so a later answer never takes the place the first model is about to fill.
    """
    for answer in answers:
        if answer.status is AnswerStatus.DONE:
            return answer.answer_id
        if not answer.status.settled:
            return None
    return next((a.answer_id for a in answers if a.status.keeps_text), None)


IN_CHAT_REACTION = "pushpin"


class InChatChoice(Enum):
    """What happens when a person picks an answer to be In Chat (SPEC §2.4)."""

    CHOSEN = "is now In Chat: later messages in this chat will see it instead."
    CHOSEN_ONCE_FINISHED = (
        "will be In Chat once it has finished: later messages in this chat will see it instead."
    )
    ALREADY = "is In Chat already: later messages in this chat see it."
    NOT_LATEST_ROUND = "can't become In Chat: only an answer to the latest message can."
    QUESTION_DELETED = (
        "can't become In Chat: the message it answers was deleted, and later messages no "
        "longer see it."
    )
    QUESTION_FORGOTTEN = (
        "can't become In Chat: the message it answers is older than what this workspace keeps, "
        "and later messages no longer see it."
    )
    CHAT_CLOSED = (
        "can't become In Chat: a new chat was started here since (`/chorus new`), and later "
        "messages no longer see this one."
    )
    NOT_USABLE = "can't become In Chat: it has no text."
    ON_A_CONTINUATION = (
        "can't become In Chat from a continuation of it: put the pushpin on its first message."
    )
    IN_A_REPLY_THREAD = (
        "can't become In Chat: it is a reply in a thread, and what is said in a thread stays "
        "in that thread."
    )

    @property
    def chosen(self) -> bool:
        return self in (InChatChoice.CHOSEN, InChatChoice.CHOSEN_ONCE_FINISHED)


def unpin_returns_to_default(
    *, is_latest_round: bool, is_chosen: bool, pinned_by_someone_else: bool
) -> bool:
    """A pushpin taken off the answer picked In Chat for the chat's latest round, when no one
    else's pushpin is left on it, undoes the pick: the default rule picks again. Otherwise it
    changes nothing (the pick of an earlier round stays, as picking there is refused)."""
    return is_latest_round and is_chosen and not pinned_by_someone_else


def judge_in_chat_choice(
    *,
    is_latest_round: bool,
    status: AnswerStatus,
    is_in_chat: bool = False,
    chat_is_current: bool = True,
    question_deleted: bool = False,
    question_forgotten: bool = False,
) -> InChatChoice:
    """Only an answer of the chat's latest round, with text or still writing it, may be made
    In Chat, and not once `/chorus new` started another chat (`chat_is_current`) or its
    round's message was deleted (`question_deleted`) or forgotten as older than what is kept
    (`question_forgotten`). One still writing is In Chat once it has text; should it fail, the
    default rule picks again (`bot.chat.history.in_chat_answer_id`).
    `is_in_chat`: the answer is the round's In Chat answer already (chosen, or by the default
    rule)."""
    if question_forgotten:
        return InChatChoice.QUESTION_FORGOTTEN
    if question_deleted:
        return InChatChoice.QUESTION_DELETED
    if not chat_is_current:
        return InChatChoice.CHAT_CLOSED
    if not is_latest_round:
        return InChatChoice.NOT_LATEST_ROUND
    if not status.settled:
        return InChatChoice.CHOSEN_ONCE_FINISHED
    if not status.keeps_text:
        return InChatChoice.NOT_USABLE
    if is_in_chat:
        return InChatChoice.ALREADY
    return InChatChoice.CHOSEN
