"""The Stop and Regenerate buttons as the end-to-end tests press them: their action_ids, an
answer streamed slowly enough to stop, takes numbered to tell a regeneration apart, and an
answer too long for one message."""

from __future__ import annotations

import itertools

from tests.doubles.model_servers import FakeModelServer, ModelScript
from tests.doubles.waiting import wait_until
from tests.e2e.scene import ALICE, CHANNEL, MENTION
from tests.e2e.slack_views import (
    Message,
    answers_in,
    body,
    buttons,
    is_final,
    status_line,
    wait_for_answers,
)

STOP, REGENERATE = "stop_answer", "regenerate_answer"
SLOW_REPLY = "A slow and steady answer, streamed piece by piece. " * 12


def stream_slowly(
    models: FakeModelServer, model_id: str, *, usage: tuple[int, int] | None = None
) -> None:
    """`model_id` answers SLOW_REPLY eight characters a tenth of a second (about 8 s in all),
    reporting `usage` (input, output) tokens if given."""
    script = ModelScript(reply=SLOW_REPLY, chunk_chars=8, chunk_delay=0.1, usage=usage)
    models.script(model_id, script)


def assert_stopped_by_bob(answer: Message) -> None:
    """A SLOW_REPLY answer Bob stopped: its text so far kept, a note saying so, and only the
    Regenerate button left."""
    assert "Stopped by Bob." in status_line(answer)
    assert SLOW_REPLY.startswith(body(answer)) and 0 < len(body(answer)) < len(SLOW_REPLY)
    assert buttons(answer) == [REGENERATE]


def assert_interrupted(answer: Message) -> None:
    """An answer the bot stopped before it was finished: a note saying so, and only the
    Regenerate button left."""
    assert "stopped before this answer was finished" in status_line(answer)
    assert buttons(answer) == [REGENERATE]


def numbered_takes(
    models: FakeModelServer,
    model_id: str,
    *,
    chunk_chars: int = ModelScript.chunk_chars,
    chunk_delay: float = ModelScript.chunk_delay,
) -> None:
    """`model_id` answers "take 1", then "take 2"…, `chunk_chars` a chunk every `chunk_delay` s."""
    takes = itertools.count(1)
    script = ModelScript(
        reply=lambda request: f"take {next(takes)}",
        chunk_chars=chunk_chars,
        chunk_delay=chunk_delay,
    )
    models.script(model_id, script)


def long_take(number: int) -> str:
    """Take `number` of an answer too long for one Slack message."""
    return "\n\n".join(f"Take {number}, paragraph {i}. " + "lorem ipsum " * 150 for i in range(12))


def long_takes(models: FakeModelServer, model_id: str) -> None:
    """`model_id` answers `long_take(1)`, then `long_take(2)`…"""
    takes = itertools.count(1)
    script = ModelScript(reply=lambda request: long_take(next(takes)), chunk_chars=4000)
    models.script(model_id, script)


def continuations_of(slack, answer: Message, take: int) -> list[Message]:
    """The answer's continuation messages that show `take` (all final), in order."""
    return [
        message
        for message in answers_in(slack, CHANNEL, answer["ts"])
        if body(message).startswith(f"Take {take},") and is_final(message)
    ]


def oversized_gpt_answer(bot, slack, models, events) -> tuple[Message, list[Message]]:
    """GPT's answer to a mention, too long for one message, and its continuations."""
    long_takes(models, "gpt-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} write a lot", to=[bot.events_url])
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    continuations = wait_until(lambda: continuations_of(slack, gpt, 1), message="continuations")
    bot.wait_until_idle()
    return gpt, continuations
