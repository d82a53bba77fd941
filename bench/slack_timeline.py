"""What Slack saw of each answer, read from the emulator's call record: when its message was
posted, when it first showed text, when it was finalised, and how many calls it took."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tests.doubles import ApiCall
from tests.e2e.slack_views import body, is_final


@dataclass
class AnswerTimeline:
    """One answer message; times are `time.monotonic()` in this process (the emulator's clock)."""

    channel: str
    ts: str
    model: str
    posted_at: float
    first_text_at: float | None = None
    final_at: float | None = None
    posts: int = 1
    updates: int = 0


def answer_timelines(calls: Sequence[ApiCall]) -> list[AnswerTimeline]:
    """Every answer message the bot posted, in posting order, with what happened to it."""
    answers: dict[tuple[str, str], AnswerTimeline] = {}
    for call in calls:
        if not call.ok:
            continue
        if call.method == "chat.postMessage" and not call.params.get("thread_ts"):
            channel, ts = call.response["channel"], call.response["ts"]
            answers[channel, ts] = AnswerTimeline(
                channel, ts, str(call.params.get("username")), call.at
            )
        elif call.method == "chat.update":
            answer = answers.get((call.params["channel"], call.params["ts"]))
            if answer is None:
                continue
            answer.updates += 1
            if answer.first_text_at is None and body(call.params):
                answer.first_text_at = call.at
            if is_final(call.params):
                answer.final_at = call.at
    return list(answers.values())


def count_final_updates(updates: Sequence[ApiCall]) -> int:
    """How many of these chat.update calls finalised an answer."""
    return sum(1 for call in updates if call.ok and is_final(call.params))
