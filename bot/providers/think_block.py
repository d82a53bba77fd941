"""The reasoning some models stream at the start of their answer text, left out: people see,
and later rounds are sent, the answer alone. It comes as a `<think>…</think>` block
(DeepSeek-R1 distills, QwQ, Qwen3 behind a server without a reasoning parser), or without
its opening tag when the chat template ends the prompt with it: then the text is shown as it
comes, and taken back once a lone `</think>` shows it was a thought."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from enum import Enum, auto

from bot.providers.base import (
    OutputLimitReached,
    StoppedEarly,
    StreamEvent,
    TextDelta,
    TextRetracted,
    ThoughtTooLong,
)

OPENING_TAG = "<think>"
CLOSING_TAG = "</think>"
# Enough of the text before a piece to hold a tag split across it and the piece.
_SPLIT_TAG_CHARS = len(CLOSING_TAG) - 1

AnswerEvent = TextDelta | TextRetracted


class _Part(Enum):
    OPENING = auto()  # whitespace, perhaps the start of the opening tag: undecided yet
    THOUGHT = auto()
    UNOPENED = auto()  # shown, yet a thought if a lone closing tag ends it (see `feed`)
    GAP = auto()  # whitespace between the thought and the answer
    ANSWER = auto()


class LeadingThinkFilter:
    """Reads an answer's text pieces in order and returns the answer after a leading thought;
    either tag may be split across pieces. Without such a thought the text is kept."""

    def __init__(self, max_thought_chars: int | None = None) -> None:
        self._part = _Part.OPENING
        self._held = ""
        self._max_thought_chars = max_thought_chars
        self.thought_chars = 0  # about: the pieces that came while thinking
        self._shown_chars = 0  # of text that a lone closing tag may yet show to be a thought
        self._shown_tail = ""  # its end, where a tag split across pieces begins
        self._shown_backticks = 0

    @property
    def thinking(self) -> bool:
        """Inside the think block: its closing tag has not come yet."""
        return self._part is _Part.THOUGHT

    def feed(self, piece: str) -> list[AnswerEvent]:
        """The events `piece` brings: answer text (none while the model thinks), after a
        `TextRetracted` when it ends a thought whose opening tag was in the prompt."""
        text, self._held = self._held + piece, ""
        events: list[AnswerEvent] = []
        if self._part is _Part.OPENING:
            start = text.lstrip()
            if OPENING_TAG.startswith(start):
                self._held = text
                return []
            if start.startswith(OPENING_TAG):
                self._part, text = _Part.THOUGHT, start.removeprefix(OPENING_TAG)
            else:
                self._part = _Part.UNOPENED
        if self._part is _Part.UNOPENED:
            end = self._end_of_unopened_thought(text)
            if end is None:
                self._note_shown(text)
                return [TextDelta(text)] if text else []
            if self._shown_chars:
                events.append(TextRetracted())
            self._part, text = _Part.GAP, text[end:]
        if self._part is _Part.THOUGHT:
            self.thought_chars += len(piece)
            end = text.find(CLOSING_TAG)
            if end < 0:
                self._held = text[-_SPLIT_TAG_CHARS:]
                return []
            self._part, text = _Part.GAP, text[end + len(CLOSING_TAG) :]
        if self._part is _Part.GAP:
            text = text.lstrip()
            if text:
                self._part = _Part.ANSWER
        if text:
            events.append(TextDelta(text))
        return events

    def _end_of_unopened_thought(self, text: str) -> int | None:
        """Where in `text` (just past it) the lone closing tag is that ends the thought the
        text so far turns out to be, if it is one. Only the first tag counts: one after an
        opening tag, in code (after an odd number of backticks: mentioned, not written) or
        past the longest thought makes the text the answer for good."""
        seen = self._shown_tail + text
        closing, opening = seen.find(CLOSING_TAG), seen.find(OPENING_TAG)
        if closing < 0 and opening < 0:
            return None
        before = len(self._shown_tail)
        thought = text[: max(0, closing - before)]
        if (
            0 <= opening < closing
            or closing < 0
            or (self._shown_backticks + thought.count("`")) % 2
            or self._past_longest_thought(self._shown_chars + closing - before)
        ):
            self._part = _Part.ANSWER
            return None
        return closing - before + len(CLOSING_TAG)

    def _note_shown(self, text: str) -> None:
        self._shown_chars += len(text)
        self._shown_tail = (self._shown_tail + text)[-_SPLIT_TAG_CHARS:]
        self._shown_backticks += text.count("`")
        # Its tail may yet prove the start of the closing tag.
        if self._past_longest_thought(self._shown_chars - _SPLIT_TAG_CHARS):
            self._part = _Part.ANSWER

    def _past_longest_thought(self, chars: int) -> bool:
        return self._max_thought_chars is not None and chars > self._max_thought_chars

    def rest(self) -> str:
        """What is still held once the stream has ended: text that opened no think block."""
        held, self._held = self._held, ""
        return held if self._part is _Part.OPENING else ""


async def without_leading_think(
    events: AsyncGenerator[StreamEvent, None], provider: str, max_thought_chars: int | None
) -> AsyncIterator[StreamEvent]:
    """`events` without a leading thought (see `LeadingThinkFilter`). An answer that ends
    inside a think block raises, so it is never taken for an empty answer; text it held back
    is never yielded, so a retry takes a failure while the model thinks for one before any
    text. Thinking in a block past `max_thought_chars` raises `ThoughtTooLong`: a loop in
    the thoughts shows no text for the longest answer shown to cut off. A thought without
    its opening tag is shown as it comes, so it is bounded as any answer shown is."""
    think = LeadingThinkFilter(max_thought_chars)
    async with aclosing(events):
        try:
            async for event in events:
                if not isinstance(event, TextDelta):
                    yield event
                elif answer_events := think.feed(event.text):
                    for answer_event in answer_events:
                        yield answer_event
                elif max_thought_chars is not None and think.thought_chars > max_thought_chars:
                    raise ThoughtTooLong(max_thought_chars)
        except OutputLimitReached as error:
            if not think.thinking:
                raise
            limited = OutputLimitReached(
                f"{provider} stopped at the output-token limit before the model finished thinking."
            )
            limited.request_id = error.request_id  # for the log, as the error it replaces
            raise limited from error
    if think.thinking:
        raise StoppedEarly(f"{provider} ended the answer before the model finished thinking.")
    if rest := think.rest():
        yield TextDelta(rest)
