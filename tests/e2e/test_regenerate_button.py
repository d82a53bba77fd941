"""The Regenerate button: the latest answers are written again, in their own message, from the
same context; older ones are refused with a note only the person sees."""

from __future__ import annotations

import pytest

from tests.doubles.model_servers import ModelFault, ModelScript
from tests.doubles.waiting import wait_until
from tests.e2e.answer_buttons import (
    REGENERATE,
    SLOW_REPLY,
    STOP,
    assert_interrupted,
    assert_stopped_by_bob,
    continuations_of,
    long_take,
    long_takes,
    numbered_takes,
    oversized_gpt_answer,
    stream_slowly,
)
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION, REPLICA_A
from tests.e2e.slack_views import Message, answers_in, body, status_line, wait_for_answers


def test_regenerate_writes_the_answer_again_in_its_message_from_the_same_context(
    bot, slack, models, events
):
    numbered_takes(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} name a bakery", to=[bot.events_url])
    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude) == "take 1"
    bot.wait_until_idle()

    events.user_clicks(CHANNEL, claude["ts"], REGENERATE, BOB, to=bot.events_url)

    wait_until(lambda: body(answers_in(slack, CHANNEL)[0]) == "take 2", message="regenerated")
    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [message["ts"] for message in answers] == [claude["ts"], gpt["ts"], gemini["ts"]]
    first, second = models.requests_for("claude-test")
    assert first.turns() == second.turns() == [("user", "Alice: name a bakery")]
    assert len(models.requests_for("gpt-test")) == 1

    # The next round sees the regenerated text as the In Chat answer.
    events.user_says(CHANNEL, ALICE, f"{MENTION} and a slogan?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert ("assistant", "take 2") in models.requests_for("gpt-test")[-1].turns()


def test_the_first_model_answer_regenerated_after_a_failure_becomes_in_chat(
    start_bot, slack, models, events
):
    models.script("claude-test", ModelScript(error=ModelFault(status=500), fail_times=1))
    bot = start_bot(CHORUS_PROVIDER_MAX_ATTEMPTS="1")
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude) == "", "Claude failed; GPT's answer is In Chat for now"
    bot.wait_until_idle()

    events.user_clicks(CHANNEL, claude["ts"], REGENERATE, BOB, to=bot.events_url)
    wait_until(lambda: body(answers_in(slack, CHANNEL)[0]), message="regenerated")
    bot.wait_until_idle()
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("gemini-test")[-1].turns() == [
        ("user", "Alice: first"),
        ("assistant", "claude-test answers: Alice: first"),
        ("user", "Alice: second"),
    ]


def shown_text(answer: Message, continuations: list[Message]) -> str:
    return " ".join(" ".join(body(m) for m in [answer, *continuations]).split())


def regenerate_in_full(bot, slack, events, answer: Message, old: list[Message]) -> None:
    """Bob presses Regenerate: the second take is shown whole, in as many messages."""
    events.user_clicks(CHANNEL, answer["ts"], REGENERATE, BOB, to=bot.events_url)
    new = wait_until(
        lambda: (
            len(continuations_of(slack, answer, 2)) == len(old)
            and continuations_of(slack, answer, 2)
        ),
        message="the new continuations",
    )
    shown = shown_text(slack.message(CHANNEL, answer["ts"]), new)
    assert shown == " ".join(long_take(2).split())


def test_regenerating_an_oversized_answer_replaces_its_continuations(bot, slack, models, events):
    gpt, old = oversized_gpt_answer(bot, slack, models, events)
    regenerate_in_full(bot, slack, events, gpt, old)
    assert all(slack.message_or_none(CHANNEL, m["ts"]) is None for m in old)


def test_an_old_continuation_slack_would_not_delete_is_never_taken_for_a_new_one(
    bot, slack, models, events
):
    gpt, old = oversized_gpt_answer(bot, slack, models, events)
    slack.inject("chat.delete", times=len(old), status=200, error="cant_delete_message")
    # The new first continuation's post is lost before Slack makes it: the bot looks for it.
    slack.lose_replies("chat.postMessage", carried_out=False)
    regenerate_in_full(bot, slack, events, gpt, old)
    assert continuations_of(slack, gpt, 1) == old  # still there, as Slack would not delete them


def test_an_oversized_answer_stopped_while_regenerating_keeps_no_old_continuation(
    bot, slack, models, events
):
    """The old text's continuations go before the new text streams: none is left under the
    text Bob stopped short."""
    gpt, _ = oversized_gpt_answer(bot, slack, models, events)
    stream_slowly(models, "gpt-test")
    events.user_clicks(CHANNEL, gpt["ts"], REGENERATE, BOB, to=bot.events_url)
    wait_until(
        lambda: body(slack.message(CHANNEL, gpt["ts"])).startswith(SLOW_REPLY[:8]),
        message="the new text streaming",
    )

    events.user_clicks(CHANNEL, gpt["ts"], STOP, BOB, to=bot.events_url)

    assert_stopped_by_bob(wait_for_answers(slack, CHANNEL, 3)[1])
    assert answers_in(slack, CHANNEL, gpt["ts"]) == []


def test_an_oversized_answer_whose_regeneration_fails_keeps_no_old_continuation(
    start_bot, slack, models, events
):
    bot = start_bot(CHORUS_PROVIDER_MAX_ATTEMPTS="1")
    gpt, _ = oversized_gpt_answer(bot, slack, models, events)
    models.script("gpt-test", ModelScript(error=ModelFault(status=500)))

    events.user_clicks(CHANNEL, gpt["ts"], REGENERATE, BOB, to=bot.events_url)

    wait_until(
        lambda: "server error" in status_line(slack.message(CHANNEL, gpt["ts"])),
        message="the failure shown",
    )
    assert body(slack.message(CHANNEL, gpt["ts"])) == ""
    assert answers_in(slack, CHANNEL, gpt["ts"]) == []


def test_a_thread_reply_is_regenerated_with_the_thread_context(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} hello", to=[bot.events_url])
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    numbered_takes(models, "gpt-test")
    events.user_says(CHANNEL, BOB, "go on", thread_ts=gpt["ts"], to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt["ts"])
    bot.wait_until_idle()

    events.user_clicks(CHANNEL, reply["ts"], REGENERATE, BOB, to=bot.events_url)

    wait_until(
        lambda: body(answers_in(slack, CHANNEL, gpt["ts"])[0]) == "take 2", message="regenerated"
    )
    *_, original, again = models.requests_for("gpt-test")
    assert original.turns() == again.turns()
    assert again.turns()[-1] == ("user", "Bob: go on")


def test_older_answers_are_not_regenerated(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)

    events.user_clicks(CHANNEL, claude["ts"], REGENERATE, BOB, to=bot.events_url)

    (note,) = wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="a note to Bob")
    assert note["user"] == BOB and "latest message" in note["text"]
    assert note["thread_ts"] is None
    assert len(models.requests_for("claude-test")) == 2


def test_a_refusal_in_a_reply_thread_is_told_in_that_thread(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} hi", to=[bot.events_url])
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    for turn, text in enumerate(("one", "two"), start=1):
        events.user_says(CHANNEL, BOB, text, thread_ts=gpt["ts"], to=[bot.events_url])
        wait_for_answers(slack, CHANNEL, turn, thread_ts=gpt["ts"])
    older_reply = answers_in(slack, CHANNEL, gpt["ts"])[0]

    events.user_clicks(CHANNEL, older_reply["ts"], REGENERATE, BOB, to=bot.events_url)

    (note,) = wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="a note to Bob")
    assert (note["user"], note["thread_ts"]) == (BOB, gpt["ts"])
    assert "latest message" in note["text"]
    assert len(models.requests_for("gpt-test")) == 3


def test_presses_on_two_replicas_regenerate_once(start_bot, slack, models, events):
    first, second = start_bot(), start_bot()
    # Slow enough that every press lands while the first regeneration streams.
    numbered_takes(models, "gemini-test", chunk_chars=2, chunk_delay=0.3)
    events.user_says(CHANNEL, ALICE, f"{MENTION} hi", to=[first.events_url])
    _, _, gemini = wait_for_answers(slack, CHANNEL, 3)
    first.wait_until_idle()

    for replica in (first, second, first):  # Bob's Slack still shows the button each time
        events.user_clicks(
            CHANNEL, gemini["ts"], REGENERATE, BOB, to=replica.events_url, seen=gemini
        )

    notes = wait_until(
        lambda: len(slack.ephemeral_messages(CHANNEL)) == 2 and slack.ephemeral_messages(CHANNEL),
        message="the two later presses refused",
    )
    for note in notes:
        assert note["user"] == BOB and "still being written" in note["text"]
    wait_until(lambda: body(answers_in(slack, CHANNEL)[2]) == "take 2", message="regenerated")
    wait_for_answers(slack, CHANNEL, 3)
    assert len(models.requests_for("gemini-test")) == 2
    assert len(answers_in(slack, CHANNEL)) == 3


def a_thread_under_gpts_answer_after_gpt_is_taken_out(start_bot, slack, events, **env):
    """A round with GPT, then the bot restarted without GPT in CHORUS_MODELS (and `env`);
    returns the bot and GPT's answer."""
    first = start_bot()
    events.user_says(CHANNEL, ALICE, f"{MENTION} hello", to=[first.events_url])
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    first.wait_until_idle()
    first.stop()
    return start_bot(CHORUS_MODELS="anthropic:claude-test,google:gemini-test", **env), gpt


def test_a_thread_reply_of_a_model_taken_out_of_the_list_can_be_regenerated(
    start_bot, slack, models, events
):
    """It still answers in the threads under its answers while its key is set."""
    bot, gpt = a_thread_under_gpts_answer_after_gpt_is_taken_out(start_bot, slack, events)
    numbered_takes(models, "gpt-test")
    events.user_says(CHANNEL, BOB, "go on", thread_ts=gpt["ts"], to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt["ts"])
    assert body(reply) == "take 1"
    bot.wait_until_idle()

    events.user_clicks(CHANNEL, reply["ts"], REGENERATE, BOB, to=bot.events_url)
    wait_until(
        lambda: body(answers_in(slack, CHANNEL, gpt["ts"])[0]) == "take 2",
        message="the reply regenerated",
    )
    assert slack.ephemeral_messages(CHANNEL) == []


def test_an_answer_of_a_model_whose_key_is_gone_is_not_regenerated(
    start_bot, slack, models, events
):
    """Its text stays: written again, it could only be an error line."""
    bot, gpt = a_thread_under_gpts_answer_after_gpt_is_taken_out(
        start_bot, slack, events, OPENAI_API_KEY=None
    )
    events.user_clicks(CHANNEL, gpt["ts"], REGENERATE, BOB, to=bot.events_url)
    wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="the refusal")
    (note,) = slack.ephemeral_messages(CHANNEL)
    assert note["text"] == (
        "That answer's model is no longer set up on this bot, so it can't be regenerated."
    )
    assert body(answers_in(slack, CHANNEL)[1]) == body(gpt)
    assert len(models.requests_for("gpt-test")) == 1


# -- the bot stopped while Slack holds up a regeneration's message ---------------------------


@pytest.mark.parametrize(
    "held_up",
    ["chat.update", "chat.delete"],
    ids=["resetting-its-message", "deleting-its-old-continuations"],
)
def test_a_regeneration_slack_holds_up_ends_interrupted_when_the_bot_stops_at_once(
    held_up, start_bot, slack, models, events
):
    """Slack rate-limits the reset of the answer's message to its placeholder (or the deletion
    of its old continuations) for a minute, and a second signal stops the bot meanwhile: the
    answer ends in its message at once, as one streaming does, rather than showing its old
    text (or its placeholder, with Stop) until the bot starts again; and the old text's
    continuations the bot did not get to delete are deleted then, not left in its thread."""
    bot = start_bot(**REPLICA_A)
    gpt = _regenerated_while_slack_holds_up(bot, slack, models, events, held_up)
    bot.stop_at_once()
    _ends_interrupted_and_can_be_regenerated_again(start_bot, slack, models, events, gpt)


def test_a_regeneration_slack_holds_up_past_the_grace_ends_interrupted(
    start_bot, slack, models, events
):
    """One SIGTERM: the regeneration still held up when the 15 s grace runs out ends so too."""
    bot = start_bot(**REPLICA_A)
    gpt = _regenerated_while_slack_holds_up(bot, slack, models, events, "chat.delete")
    bot.stop(timeout=30)  # more than the bot's grace
    assert bot.returncode == 0
    assert "Traceback" not in bot.logs()
    _ends_interrupted_and_can_be_regenerated_again(start_bot, slack, models, events, gpt)


def _regenerated_while_slack_holds_up(bot, slack, models, events, held_up: str) -> Message:
    """GPT's answer, too long for one message, regenerated while Slack answers `held_up`
    with a 429 whose Retry-After is a minute; the answer's message as first shown."""
    long_takes(models, "gpt-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} write a lot", to=[bot.events_url])
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    wait_until(lambda: continuations_of(slack, gpt, 1), message="continuations")
    bot.wait_until_idle()
    slack.inject(held_up, status=429, retry_after=60)
    events.user_clicks(CHANNEL, gpt["ts"], REGENERATE, BOB, to=bot.events_url)
    wait_until(lambda: f"Slack rate-limited {held_up}" in bot.logs(), message="held up")
    return gpt


def _ends_interrupted_and_can_be_regenerated_again(
    start_bot, slack, models, events, gpt: Message
) -> None:
    """The answer shows it was interrupted, with Regenerate, and no continuation of its old text
    under it, as soon as the bot has stopped; stored so too: the next start has nothing left
    to finish, and Regenerate works."""
    stopped = slack.message(CHANNEL, gpt["ts"])
    assert_interrupted(stopped)
    assert body(stopped) == "", "a regeneration's text so far: none"
    assert answers_in(slack, CHANNEL, gpt["ts"]) == [], "no continuation of the old text left"

    slack.clear_faults()
    models.script("gpt-test", ModelScript(reply="take again"))
    restarted = start_bot(**REPLICA_A)
    restarted.wait_until_idle()
    assert "marked interrupted" not in restarted.logs()
    assert "was still owed" not in restarted.logs()
    events.user_clicks(CHANNEL, gpt["ts"], REGENERATE, BOB, to=restarted.events_url)
    wait_until(
        lambda: body(slack.message(CHANNEL, gpt["ts"])) == "take again",
        message="regenerated again",
    )
    wait_for_answers(slack, CHANNEL, 3)
