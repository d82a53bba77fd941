"""`OPENAI_API=responses`: OpenAI models are asked through the Responses API, with the same
context rules as every other model."""

from __future__ import annotations

import pytest

from tests.doubles.model_servers import ModelFault, ModelScript
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION
from tests.e2e.slack_views import body, status_line, wait_for_answers


@pytest.fixture
def bot(start_bot):
    return start_bot(OPENAI_API="responses")


def test_a_round_and_a_thread_turn_go_through_the_responses_api(bot, slack, models, events):
    models.script("gpt-test", ModelScript(chunk_chars=4, chunk_delay=0.02))
    events.user_says(CHANNEL, ALICE, f"{MENTION} name a colour", to=[bot.events_url])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    assert body(gpt_answer) == "gpt-test answers: Alice: name a colour"

    events.user_says(CHANNEL, BOB, "why that one?", thread_ts=gpt_answer["ts"], to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt_answer["ts"])

    assert body(reply) == "gpt-test answers: Bob: why that one?"
    first, turn = models.requests_for("gpt-test")
    assert {first.path, turn.path} == {"/openai/v1/responses"}
    assert turn.body["store"] is False
    assert turn.system_prompt() == first.system_prompt() == turn.body["instructions"]
    assert turn.turns() == [
        ("user", "Alice: name a colour"),
        ("assistant", "gpt-test answers: Alice: name a colour"),
        ("user", "Bob: why that one?"),
    ]
    (claude_request,) = models.requests_for("claude-test")
    assert claude_request.path == "/anthropic/v1/messages"


LONG_REPLY = "0123456789" * 6


@pytest.mark.parametrize(
    ("fault", "kept", "said"),
    [
        (
            ModelFault(stream_error_after_chunks=3),
            LONG_REPLY[:30],
            "server error (server_error): The fake model server was told to fail.",
        ),
        (ModelFault(output_limit_after_chunks=3), LONG_REPLY[:30], "output-token limit"),
        (ModelFault(refusal=True), "", "refused to answer: I'm sorry, I can't help with that."),
    ],
    ids=["failed", "incomplete", "refusal"],
)
def test_how_a_responses_stream_ends_is_shown_and_its_text_kept(
    bot, slack, models, events, fault, kept, said
):
    models.script("gpt-test", ModelScript(reply=LONG_REPLY, chunk_chars=10, error=fault))
    events.user_says(CHANNEL, ALICE, f"{MENTION} count", to=[bot.events_url])

    claude, gpt, _ = wait_for_answers(slack, CHANNEL, 3)

    assert body(claude) == "claude-test answers: Alice: count"
    assert body(gpt) == kept
    assert said in status_line(gpt)
    assert len(models.requests_for("gpt-test")) == 1
