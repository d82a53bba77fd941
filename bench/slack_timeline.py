"""What Slack saw of each answer, read from the emulator's call record: when its message was
posted, when it first showed text, when it was finalised, and how many edits it took."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.doubles import ApiCall
from tests.e2e.slack_views import body, is_final


@dataclass
class AnswerTimeline:
    """One answer message; times are `time.monotonic()` in this process (the emulator's clock),
    taken when Slack answered the call."""

    channel: str
    ts: str
    model: str
    posted_at: float
    first_text_at: float | None = None
    final_at: float | None = None
    updates: int = 0  # chat.update calls made for it, refused ones included


def answer_timelines(calls: Sequence[ApiCall]) -> list[AnswerTimeline]:
    """Every top-level message the bot posted, in posting order, with what happened to it."""
    answers: dict[tuple[str, str], AnswerTimeline] = {}
    for call in calls:
        if call.method == "chat.postMessage" and call.ok and not call.params.get("thread_ts"):
            channel, ts = call.response["channel"], call.response["ts"]
            answers[channel, ts] = AnswerTimeline(
                channel, ts, str(call.params.get("username")), call.at
            )
        elif call.method == "chat.update":
            answer = answers.get((call.params.get("channel", ""), call.params.get("ts", "")))
            if answer is None:
                continue
            answer.updates += 1
            if not call.ok:
                continue
            if answer.first_text_at is None and body(call.params):
                answer.first_text_at = call.at
            if is_final(call.params):
                answer.final_at = call.at
    return list(answers.values())


@dataclass(frozen=True)
class MeasuredRound:
    """One mention in a channel of its own: when Slack delivered it, and the answers."""

    channel: str
    delivered_at: float
    answers: tuple[AnswerTimeline, ...]
    posts: int  # chat.postMessage calls made in the channel, refused ones included

    @property
    def seconds(self) -> float:
        """From the event's delivery to the last answer's final edit."""
        finals = [answer.final_at for answer in self.answers]
        if not finals or None in finals:
            raise ValueError(f"round in {self.channel} has unfinished answers")
        return max(final for final in finals if final is not None) - self.delivered_at


def measured_rounds(
    calls: Sequence[ApiCall], delivered_at: Mapping[str, float]
) -> list[MeasuredRound]:
    """The rounds of these calls, one per channel in `delivered_at` (channel → delivery time)."""
    posts = Counter(
        str(call.params.get("channel")) for call in calls if call.method == "chat.postMessage"
    )
    answers: dict[str, list[AnswerTimeline]] = {channel: [] for channel in delivered_at}
    for answer in answer_timelines(calls):
        if answer.channel in answers:
            answers[answer.channel].append(answer)
    return [
        MeasuredRound(channel, delivered, tuple(answers[channel]), posts[channel])
        for channel, delivered in delivered_at.items()
    ]


def count_final_updates(updates: Sequence[ApiCall]) -> int:
    """How many of these chat.update calls finalised an answer."""
    return sum(1 for call in updates if call.ok and is_final(call.params))
