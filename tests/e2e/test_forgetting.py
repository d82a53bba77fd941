"""CHORUS_FORGET_AFTER_DAYS: what was said before the period is never sent to a model again."""

from __future__ import annotations

import pytest

from tests.doubles.waiting import wait_until
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION, MODEL_IDS
from tests.e2e.slack_views import wait_for_answers

KEEP_SECONDS = 4.0  # well past the first round's answers, even on a loaded machine


@pytest.fixture
def bot(start_bot):
    return start_bot(CHORUS_FORGET_AFTER_DAYS=str(KEEP_SECONDS / 86400))


def test_messages_older_than_the_period_leave_every_context(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} my secret is 42", to=[bot.events_url])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)

    wait_until(lambda: "forgot 1 message(s)" in bot.logs(), message="forgetting")
    events.user_says(CHANNEL, ALICE, f"{MENTION} what is my secret?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    for model_id in MODEL_IDS:
        assert models.requests_for(model_id)[-1].turns() == [("user", "Alice: what is my secret?")]

    events.user_says(CHANNEL, BOB, "remind me?", thread_ts=gpt_answer["ts"], to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt_answer["ts"])
    sent = models.requests_for("gpt-test")[-1].turns()
    assert "42" not in repr(sent)
    assert sent[-1] == ("user", "Bob: remind me?")


def test_regenerate_on_an_answer_to_a_forgotten_message_says_it_was_forgotten(bot, slack, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} my secret is 42", to=[bot.events_url])
    claude_answer, _, _ = wait_for_answers(slack, CHANNEL, 3)
    wait_until(lambda: "forgot 1 message(s)" in bot.logs(), message="forgetting")

    events.user_clicks(CHANNEL, claude_answer["ts"], "regenerate_answer", BOB, to=bot.events_url)
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the press is answered")
    assert slack.calls_for("chat.postEphemeral")[-1].params["text"] == (
        "The message that answer replies to is older than what this workspace keeps, so it "
        "can't be regenerated."
    )


def test_a_pushpin_on_an_answer_to_a_forgotten_message_says_it_was_forgotten(bot, slack, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} my secret is 42", to=[bot.events_url])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    wait_until(lambda: "forgot 1 message(s)" in bot.logs(), message="forgetting")

    events.user_reacts(CHANNEL, gpt_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the pushpin is answered")
    assert slack.calls_for("chat.postEphemeral")[-1].params["text"] == (
        "GPT-test's answer can't become In Chat: the message it answers is older than what this "
        "workspace keeps, and later messages no longer see it."
    )
