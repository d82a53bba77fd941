"""Which answer of a round is In Chat, the one later rounds see (SPEC §1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class AnswerStatus(StrEnum):
    PENDING = "pending"  # created, nothing streamed yet
    STREAMING = "streaming"
    DONE = "done"
    FAILED = "failed"  # no usable text: the provider failed before answering
    CUT_OFF = "cut_off"  # text streamed, then the provider failed; partial text kept
    INTERRUPTED = "interrupted"  # the bot stopped mid-answer; partial text kept

    @property
    def settled(self) -> bool:
        return self not in (AnswerStatus.PENDING, AnswerStatus.STREAMING)


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    """What the In Chat rule needs to know of one answer."""

    answer_id: int
    status: AnswerStatus


def default_in_chat_answer(answers: Sequence[AnswerOutcome]) -> int | None:
    """The first model's answer; if it failed, the first that succeeded.

    `answers` are in model order. While an earlier answer may still succeed the choice is
    undecided (None), so a later answer never takes the place the first model is about to fill.
    """
    for answer in answers:
        if answer.status is AnswerStatus.DONE:
            return answer.answer_id
        if not answer.status.settled:
            return None
    return None
