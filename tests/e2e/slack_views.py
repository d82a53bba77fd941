"""Reading answers back out of the Slack emulator, as a person would see them."""

from __future__ import annotations

from typing import Any

from tests.doubles.slack_emulator import SlackEmulator
from tests.doubles.waiting import DEFAULT_TIMEOUT_SECONDS, wait_until

Message = dict[str, Any]
IN_PROGRESS = ("thinking…", "writing…")


def body(message: Message) -> str:
    """The answer text of a message (its markdown blocks)."""
    return "".join(
        block["text"] for block in message.get("blocks") or [] if block["type"] == "markdown"
    )


def status_line(message: Message) -> str:
    """The context line under an answer: model, time, tokens, or the error."""
    lines = [
        element["text"]
        for block in message.get("blocks") or []
        if block["type"] == "context"
        for element in block["elements"]
    ]
    return " ".join(lines)


def marked_in_chat(slack: SlackEmulator, channel: str) -> list[str]:
    """The models whose answers at the top of the channel carry the In Chat mark."""
    return [
        message["username"]
        for message in answers_in(slack, channel)
        if status_line(message).endswith(" · :pushpin: In Chat")
    ]


def buttons(message: Message) -> list[str]:
    """The action_ids of the buttons under an answer, in order."""
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def is_final(message: Message) -> bool:
    return not any(marker in status_line(message) for marker in IN_PROGRESS)


def answers_in(slack: SlackEmulator, channel: str, thread_ts: str | None = None) -> list[Message]:
    """The bot's messages at the top of a channel, or in one thread, oldest first."""
    return slack.bot_messages(channel, thread_ts=thread_ts)


def wait_for_answers(
    slack: SlackEmulator,
    channel: str,
    count: int,
    *,
    thread_ts: str | None = None,
    timeout: float = 2 * DEFAULT_TIMEOUT_SECONDS,
) -> list[Message]:
    """Wait until exactly `count` bot messages are there and all are finalised."""

    def ready() -> bool:
        messages = answers_in(slack, channel, thread_ts)
        return len(messages) >= count and all(is_final(m) for m in messages)

    try:
        wait_until(ready, timeout=timeout)
    except AssertionError:
        # What is there at the deadline, not when the wait began.
        seen = [(m.get("username"), status_line(m)) for m in answers_in(slack, channel, thread_ts)]
        raise AssertionError(
            f"not {count} final answers in {channel}/{thread_ts} within {timeout:g} s: {seen}"
        ) from None
    messages = answers_in(slack, channel, thread_ts)
    assert len(messages) == count, [m.get("username") for m in messages]
    return messages


def streaming_first_answer(slack: SlackEmulator, channel: str) -> Message:
    """The first answer in `channel`, once it shows some text (while it may still stream)."""

    def writing() -> Message | None:
        answers = answers_in(slack, channel)
        return answers[0] if answers and body(answers[0]) else None

    return wait_until(writing, message=f"the first answer in {channel} streaming")
