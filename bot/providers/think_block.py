"""The reasoning some models stream at the start of their answer text, as a `<think>…</think>`
block (DeepSeek-R1 distills, QwQ, Qwen3 behind a server without a reasoning parser), left
out: people see, and later rounds are sent, the answer alone."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from enum import Enum, auto

from bot.providers.base import (
    OutputLimitReached,
    StoppedEarly,
    StreamEvent,
    TextDelta,
    ThoughtTooLong,
)

OPENING_TAG = "<think>"
CLOSING_TAG = "</think>"


class _Part(Enum):
    OPENING = auto()  # whitespace, perhaps the start of the opening tag: undecided yet
    THOUGHT = auto()
    GAP = auto()  # whitespace between the block and the answer
    ANSWER = auto()


class LeadingThinkFilter:
    """Reads an answer's text pieces in order and returns the text after a leading think
    block; either tag may be split across pieces. Without such a block the text is kept."""

    def __init__(self) -> None:
        self._part = _Part.OPENING
        self._held = ""
        self.thought_chars = 0  # about: the pieces that came while thinking

    @property
    def thinking(self) -> bool:
        """Inside the think block: its closing tag has not come yet."""
        return self._part is _Part.THOUGHT

    def feed(self, piece: str) -> str:
        """The answer text `piece` brings ("" while the model thinks)."""
        text, self._held = self._held + piece, ""
        if self._part is _Part.OPENING:
            start = text.lstrip()
            if OPENING_TAG.startswith(start):
                self._held = text
                return ""
            if not start.startswith(OPENING_TAG):
                self._part = _Part.ANSWER
                return text
            self._part, text = _Part.THOUGHT, start.removeprefix(OPENING_TAG)
        if self._part is _Part.THOUGHT:
            self.thought_chars += len(piece)
            end = text.find(CLOSING_TAG)
            if end < 0:
                # Enough of the end to hold a closing tag split across this piece and the next.
                self._held = text[-(len(CLOSING_TAG) - 1) :]
                return ""
            self._part, text = _Part.GAP, text[end + len(CLOSING_TAG) :]
        if self._part is _Part.GAP:
            text = text.lstrip()
            if text:
                self._part = _Part.ANSWER
        return text

    def rest(self) -> str:
        """What is still held once the stream has ended: text that opened no think block."""
        held, self._held = self._held, ""
        return held if self._part is _Part.OPENING else ""


async def without_leading_think(
    events: AsyncGenerator[StreamEvent, None], provider: str, max_thought_chars: int | None
) -> AsyncIterator[StreamEvent]:
    """`events` without a leading think block. An answer that ends inside it raises, so
    it is never taken for an empty answer; text it held back is never yielded, so a retry
    takes a failure while the model thinks for one before any text. Thinking past
    `max_thought_chars` raises `ThoughtTooLong`: a loop in the thoughts shows no text for
    the longest answer shown to cut off."""
    think = LeadingThinkFilter()
    async with aclosing(events):
        try:
            async for event in events:
                if not isinstance(event, TextDelta):
                    yield event
                elif text := think.feed(event.text):
                    yield TextDelta(text)
                elif max_thought_chars is not None and think.thought_chars > max_thought_chars:
                    raise ThoughtTooLong(max_thought_chars)
        except OutputLimitReached as error:
            if not think.thinking:
                raise
            raise OutputLimitReached(
                f"{provider} stopped at the output-token limit before the model finished thinking."
            ) from error
    if think.thinking:
        raise StoppedEarly(f"{provider} ended the answer before the model finished thinking.")
    if rest := think.rest():
        yield TextDelta(rest)
