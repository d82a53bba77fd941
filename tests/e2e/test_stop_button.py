"""The Stop button: a person stops a streaming answer on any replica; its text so far stays."""

from __future__ import annotations

from tests.doubles.waiting import wait_until
from tests.e2e.answer_buttons import (
    REGENERATE,
    STOP,
    assert_stopped_by_bob,
    stream_slowly,
)
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION
from tests.e2e.slack_views import (
    answers_in,
    body,
    buttons,
    is_final,
    status_line,
    streaming_first_answer,
    wait_for_answers,
)
from tests.e2e.stored_answers import saved_usage


def test_stop_keeps_the_text_so_far_and_the_other_models_finish(bot, slack, models, events):
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} a long story please", to=[bot.events_url])
    streaming = streaming_first_answer(slack, CHANNEL)
    assert buttons(streaming) == [STOP]

    response = events.user_clicks(CHANNEL, streaming["ts"], STOP, BOB, to=bot.events_url)
    assert response.status_code == 200

    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    assert_stopped_by_bob(claude)
    assert body(gpt) == "gpt-test answers: Alice: a long story please"
    assert [buttons(message) for message in (claude, gpt, gemini)] == [[REGENERATE]] * 3
    models.hurry()  # the next round's answer from Claude without the 8 s pace

    # A stopped answer is not the round's In Chat answer by default: the next one is.
    events.user_says(CHANNEL, ALICE, f"{MENTION} and then?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("gemini-test")[-1].turns() == [
        ("user", "Alice: a long story please"),
        ("assistant", body(gpt)),
        ("user", "Alice: and then?"),
    ]


def test_a_stopped_answer_keeps_the_tokens_its_model_reported_so_far(
    bot, slack, models, events, database_url
):
    # Anthropic counts the prompt in `message_start`, before any text; the output only with
    # the stop reason the stopped stream never reaches.
    stream_slowly(models, "claude-test", usage=(1234, 56))
    events.user_says(CHANNEL, ALICE, f"{MENTION} +claude a long story please", to=[bot.events_url])
    streaming = streaming_first_answer(slack, CHANNEL)

    events.user_clicks(CHANNEL, streaming["ts"], STOP, BOB, to=bot.events_url)

    (claude,) = wait_for_answers(slack, CHANNEL, 1)
    assert_stopped_by_bob(claude)
    assert "1,234 tokens in" in status_line(claude)
    bot.wait_until_idle()
    assert saved_usage(database_url) == [(1234, None)]


def test_a_person_slack_will_not_describe_is_named_by_the_handle_their_press_carries(
    bot, slack, models, events
):
    """Someone of another organisation (Slack Connect), whom users.info does not know."""
    slack.add_user("U0ERIN", "Erin Partner", team_id="T0PARTNER", described=False)
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} a long story please", to=[bot.events_url])
    streaming = streaming_first_answer(slack, CHANNEL)

    events.user_clicks(CHANNEL, streaming["ts"], STOP, "U0ERIN", to=bot.events_url)

    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert "Stopped by erin.partner." in status_line(claude)


def test_stop_pressed_through_another_replica_stops_the_answer(start_bot, slack, models, events):
    stream_slowly(models, "claude-test")
    streaming_replica, other_replica = start_bot(), start_bot()
    events.user_says(CHANNEL, ALICE, f"{MENTION} go on", to=[streaming_replica.events_url])
    streaming = streaming_first_answer(slack, CHANNEL)

    events.user_clicks(CHANNEL, streaming["ts"], STOP, BOB, to=other_replica.events_url)

    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert_stopped_by_bob(claude)


def test_a_thread_reply_waiting_for_the_answer_above_can_be_stopped(bot, slack, models, events):
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} a long story please", to=[bot.events_url])
    claude = streaming_first_answer(slack, CHANNEL)
    events.user_says(CHANNEL, BOB, "shorter please", thread_ts=claude["ts"], to=[bot.events_url])
    waiting = wait_until(
        lambda: (shown := answers_in(slack, CHANNEL, thread_ts=claude["ts"])) and shown[0],
        message="the thread reply's placeholder",
    )
    assert buttons(waiting) == [STOP]

    events.user_clicks(CHANNEL, waiting["ts"], STOP, BOB, to=bot.events_url)

    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=claude["ts"])
    assert "Stopped by Bob." in status_line(reply)
    assert not is_final(answers_in(slack, CHANNEL)[0]), "stopped while Claude's answer streams"
    wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()  # past the answer above: a reply still waiting on it has asked by now
    assert len(models.requests_for("claude-test")) == 1, "the stopped reply never asked Claude"


def test_stop_pressed_on_an_answer_already_finished_says_so(bot, slack, models, events):
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} hi", to=[bot.events_url])
    streaming = streaming_first_answer(slack, CHANNEL)
    models.hurry()  # the rest of Claude's answer without its 8 s pace
    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)

    # Bob's Slack still shows it streaming, with its Stop button.
    events.user_clicks(CHANNEL, claude["ts"], STOP, BOB, to=bot.events_url, seen=streaming)

    notice = wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="a note to Bob")
    assert notice[0]["text"] == "That answer has already finished: there is nothing to stop."
    assert body(slack.message(CHANNEL, claude["ts"])) == body(claude)


def test_stop_pressed_after_someone_else_stopped_it_says_who_did(bot, slack, models, events):
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} a long story please", to=[bot.events_url])
    streaming = streaming_first_answer(slack, CHANNEL)
    events.user_clicks(CHANNEL, streaming["ts"], STOP, BOB, to=bot.events_url)
    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)

    # Alice's Slack still shows it streaming, with its Stop button.
    events.user_clicks(CHANNEL, claude["ts"], STOP, ALICE, to=bot.events_url, seen=streaming)

    notice = wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="a note to Alice")
    assert notice[0]["text"] == "That answer is stopped already: Bob stopped it."
    assert_stopped_by_bob(slack.message(CHANNEL, claude["ts"]))
