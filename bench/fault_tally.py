"""Counting a fault run: which expected answers landed once, twice, never, or are stuck.

Pure functions over plain data, so the counting itself is tested on hand-made cases
(tests/test_fault_tally.py): a counter that cannot report a failure proves nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class AnswerKey:
    """One answer people are owed: a model's answer to a round, or the reply to a thread turn."""

    channel: str
    message_ts: str  # the person's message being answered
    model: str = ""  # `provider:model-id` for a round's answer; "" for a thread turn's reply


@dataclass(frozen=True, slots=True)
class ExpectedAnswer:
    key: AnswerKey
    thread_ts: str | None  # where it must appear: None = top level, else that thread
    token: str  # the marker in the person's message, echoed back by the fake models


class Outcome(Enum):
    """How a finalised answer message ended, as a person sees it."""

    COMPLETE = "complete"
    CUT_OFF = "cut off, text kept"
    ERROR_LINE = "one-line error"


@dataclass(frozen=True, slots=True)
class SeenMessage:
    """One message the bot has in Slack at the end of the run."""

    channel: str
    ts: str
    thread_ts: str | None
    final: bool  # False: it still says "thinking…" or "writing…"
    outcome: Outcome | None  # for a final message
    key: AnswerKey | None  # which answer it is, by the bot's database (None: not recorded)
    echo_key: AnswerKey | None = None  # which answer it is, by the text the model echoed
    continuation: bool = False  # the rest of a long answer, not an answer of its own


@dataclass
class Tally:
    rounds_sent: int
    thread_turns_sent: int
    expected: int = 0
    landed: int = 0
    duplicates: int = 0
    lost: int = 0
    stuck: int = 0
    unexpected: int = 0
    outcomes: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    problems: list[str] = field(default_factory=list)  # one line per bad answer, for digging

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.lost or self.stuck or self.unexpected)

    def rows(self) -> list[tuple[str, int]]:
        outcome_rows = [(f"  {outcome.value}", self.outcomes[outcome]) for outcome in Outcome]
        return [
            ("rounds sent", self.rounds_sent),
            ("thread turns sent", self.thread_turns_sent),
            ("answers expected", self.expected),
            ("answers landed", self.landed),
            *outcome_rows,
            ("duplicates", self.duplicates),
            ("lost", self.lost),
            ("stuck placeholders", self.stuck),
            ("unexpected bot messages", self.unexpected),
        ]


def tally(
    expected: Iterable[ExpectedAnswer],
    seen: Iterable[SeenMessage],
    *,
    rounds_sent: int,
    thread_turns_sent: int,
) -> Tally:
    """Match the bot's messages to the answers owed.

    A message is an answer's when the database says so, or (not recorded there) when its text
    echoes that answer's person message; the two must agree, and it must be where the answer
    belongs. Every still-streaming message is stuck; a final one that is no owed answer's is
    unexpected; an answer with several final messages has duplicates; one with none is lost
    (or stuck, when only a placeholder is left).
    """
    owed = {answer.key: answer for answer in expected}
    result = Tally(rounds_sent, thread_turns_sent, expected=len(owed))
    finals: dict[AnswerKey, list[SeenMessage]] = defaultdict(list)
    placeholders: dict[AnswerKey, list[SeenMessage]] = defaultdict(list)
    for message in seen:
        if message.continuation:
            continue
        key = _answer_of(message, owed)
        if not message.final:
            result.stuck += 1
            result.problems.append(f"stuck: {_describe(message)}")
            if key is not None:
                placeholders[key].append(message)
        elif key is None:
            result.unexpected += 1
            result.problems.append(f"unexpected: {_describe(message)}")
        else:
            finals[key].append(message)
    for key in owed:
        found = finals.get(key, [])
        if found:
            result.landed += 1
            assert found[0].outcome is not None
            result.outcomes[found[0].outcome] += 1
        if len(found) > 1:
            result.duplicates += len(found) - 1
            shown = ", ".join(message.ts for message in found)
            result.problems.append(f"duplicates: {_describe_key(key)} shown as {shown}")
        if not found and not placeholders.get(key):
            result.lost += 1
            result.problems.append(f"lost: {_describe_key(key)}")
    return result


def _answer_of(message: SeenMessage, owed: dict[AnswerKey, ExpectedAnswer]) -> AnswerKey | None:
    """The owed answer this message is, if it is one, in its right place."""
    key = message.key or message.echo_key
    if key is None or key not in owed:
        return None
    if message.key and message.echo_key and message.key != message.echo_key:
        return None  # the database and the text disagree: the model saw the wrong message
    if message.channel != key.channel or message.thread_ts != owed[key].thread_ts:
        return None
    return key


def _describe_key(key: AnswerKey) -> str:
    what = f"{key.model}'s answer" if key.model else "thread reply"
    return f"{what} to {key.channel}/{key.message_ts}"


def _describe(message: SeenMessage) -> str:
    place = f"{message.channel}/{message.ts}"
    if message.thread_ts:
        place += f" (in thread {message.thread_ts})"
    key = message.key or message.echo_key
    return f"{place}, {_describe_key(key) if key else 'not an answer we know'}"
