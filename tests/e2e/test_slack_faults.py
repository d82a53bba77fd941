"""Slack faults: rate limits are waited out and the final text always lands; refusals are
logged with context and explained to the person when they can act."""

from __future__ import annotations

import time

import pytest

from tests.doubles.bot_process import BotProcess
from tests.doubles.model_servers import FakeModelServer, ModelFault, ModelScript
from tests.doubles.slack_emulator.emulator import REPLY_LOST
from tests.doubles.waiting import wait_until
from tests.e2e.answer_buttons import SLOW_REPLY, stream_slowly
from tests.e2e.scene import ALICE, CHANNEL, DM, MENTION, MODEL_IDS, ask
from tests.e2e.slack_views import (
    answers_in,
    body,
    is_final,
    marked_in_chat,
    status_line,
    streaming_first_answer,
    wait_for_answers,
)
from tests.e2e.stored_answers import saved_texts, saved_usage


def test_rate_limited_updates_are_retried_and_the_final_text_lands(bot, slack, models, events):
    slack.inject("chat.update", times=4, status=429, retry_after=1)
    ask(bot, events)

    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [body(m) for m in answers] == [f"{m} answers: Alice: go" for m in MODEL_IDS]
    limited = [c for c in slack.calls_for("chat.update") if c.status == 429]
    assert len(limited) == 4
    # Each call Slack held back says so once, as the wait it is, not as a fault.
    waits = [line for line in bot.logs().splitlines() if "Slack rate-limited chat.update" in line]
    assert 1 <= len(waits) <= len(limited)
    assert all(" INFO " in line and "trying again in 1 s" in line for line in waits)


def test_rate_limited_posts_are_retried_and_nothing_is_posted_twice(bot, slack, models, events):
    slack.inject("chat.postMessage", times=2, status=429, retry_after=1)
    ask(bot, events)

    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [m["username"] for m in answers] == ["Claude Test", "GPT-test", "Gemini Test"]
    assert len([c for c in slack.calls_for("chat.postMessage") if c.status == 200]) == 3


def test_a_sustained_rate_limit_slows_streaming_but_every_final_text_lands(
    start_bot, slack, models, events
):
    long_reply = "word " * 400
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(reply=long_reply, chunk_chars=20, chunk_delay=0.01))
    slack.set_rate_limit("chat.update", per_second=3)
    bot = start_bot(CHORUS_STREAM_UPDATE_SECONDS="0.05")
    for question in ("one", "two"):
        ask(bot, events, question)

    answers = wait_for_answers(slack, CHANNEL, 6, timeout=60)
    assert all(body(m) == long_reply.strip() or body(m) == long_reply for m in answers)
    limited = [call for call in slack.calls_for("chat.update") if call.status == 429]
    assert limited, "the limit was never reached: nothing here was slowed"


READ_ONLY_CHANNEL_TOLD = (
    "Only some people can post in this channel, and I'm not one of them: ask me in another "
    "channel or in a direct message."
)
ADMINS_ONLY_CHANNEL_TOLD = (
    "Only admins can post in this channel, and I'm not one: ask me in another channel or in a "
    "direct message."
)


@pytest.mark.parametrize(
    ("refusal", "told"),
    [
        (
            "not_in_channel",
            "I can't post here because I'm not in this channel: invite me with "
            "`/invite @Chorus` and ask again.",
        ),
        (
            "posting_to_general_channel_denied",
            ADMINS_ONLY_CHANNEL_TOLD,
        ),
        (
            "restricted_action_read_only_channel",
            READ_ONLY_CHANNEL_TOLD,
        ),
    ],
)
def test_a_channel_the_bot_cannot_post_in_is_explained_to_the_person(
    bot, slack, models, events, refusal, told
):
    slack.inject("chat.postMessage", times=3, status=200, error=refusal, retry_after=None)
    # As Slack may do: no note only she would see there either, so she is told in a DM.
    slack.inject("chat.postEphemeral", status=200, error=refusal, retry_after=None)
    ask(bot, events, "anyone?")

    wait_until(lambda: slack.messages(DM), message="an explanation")
    (note,) = slack.messages(DM)
    assert note["text"] == f"In <#{CHANNEL}>: {told}"
    # Which answer, and as what it is: a refusal handled (she is told), not a fault of the bot.
    refused = f"could not post google:gemini-test's answer 3 in C0GENERAL: {refusal}"
    wait_until(lambda: refused in bot.logs(), message="the refusal is logged")
    assert " ERROR " not in bot.logs()

    ask(bot, events, "and now?")  # once Slack accepts posts again, everything works
    answers = wait_for_answers(slack, CHANNEL, 3)
    assert body(answers[1]) == "gpt-test answers: Alice: and now?"


@pytest.mark.parametrize(
    ("refusal", "told"),
    [
        (
            "restricted_action_read_only_channel",
            READ_ONLY_CHANNEL_TOLD,
        ),
        (
            "posting_to_general_channel_denied",
            ADMINS_ONLY_CHANNEL_TOLD,
        ),
        (
            "team_access_not_granted",
            "Slack refused to let me post answers here (`team_access_not_granted`); if it goes "
            "on, tell a Slack admin.",
        ),
    ],
)
def test_any_refusal_of_the_answers_posts_is_told_to_the_person(
    bot, slack, models, events, refusal, told
):
    slack.inject("chat.postMessage", times=3, status=200, error=refusal, retry_after=None)
    ask(bot, events, "anyone?")

    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="an explanation")
    (note,) = slack.calls_for("chat.postEphemeral")
    assert (note.params["user"], note.params["text"]) == (ALICE, told)
    assert answers_in(slack, CHANNEL) == []


@pytest.mark.parametrize(
    ("refusal", "what_to_do"),
    [
        ("token_revoked", "set SLACK_BOT_TOKEN to the app's current Bot User OAuth Token"),
        ("missing_scope", "the app lacks the Slack scope chat:write"),
    ],
)
def test_a_refusal_only_an_admin_can_fix_is_logged_once_as_an_error_saying_what_to_do(
    bot, slack, models, events, refusal, what_to_do
):
    slack.inject("chat.postMessage", times=6, status=200, error=refusal, retry_after=None)
    ask(bot, events, "anyone?")
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="an explanation")
    ask(bot, events, "still there?")

    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="two notes")
    errors = [line for line in bot.logs().splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors
    assert what_to_do in errors[0]
    assert "xoxb-" not in bot.logs()


def test_a_post_slack_rate_limits_past_every_retry_is_explained(bot, slack, models, events):
    # What slack_sdk's handler gives up with after its 30 waits, without waiting them here.
    slack.inject("chat.postMessage", status=200, retry_after=None)
    ask(bot, events, "+claude anyone?")

    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="an explanation")
    (note,) = slack.calls_for("chat.postEphemeral")
    assert note.params["user"] == ALICE
    assert "rate-limiting" in note.params["text"]


def test_an_answer_slack_would_not_post_still_records_what_its_model_spent(
    bot, slack, models, events, database_url
):
    """The model is asked while its placeholder is posted: it answers, and reports its tokens,
    while Slack rate-limits the post before refusing it."""
    models.script("gpt-test", ModelScript(usage=(1234, 56)))
    slack.inject("chat.postMessage", status=429, retry_after=2)
    slack.inject("chat.postMessage", status=200, error="not_in_channel", retry_after=None)
    ask(bot, events, "+gpt anyone?")

    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the refusal explained")
    bot.wait_until_idle()
    assert saved_usage(database_url) == [(1234, 56)]


def cut_off_at_once(models: FakeModelServer, model_id: str) -> None:
    """`model_id`'s stream breaks off after its first two pieces of text."""
    models.script(
        model_id,
        ModelScript(
            reply="Partly there. " * 5, chunk_chars=14, error=ModelFault(cut_after_chunks=2)
        ),
    )


def test_an_answer_slack_would_not_post_still_moves_the_in_chat_mark(bot, slack, models, events):
    """Claude's answer is cut off, and shown without the mark while GPT's may still succeed;
    then Slack refuses GPT's placeholder for good: Claude's answer is In Chat, and says so."""
    cut_off_at_once(models, "claude-test")
    slack.inject("chat.postMessage", status=429, retry_after=2, after=1)
    slack.inject("chat.postMessage", status=200, retry_after=None)  # past every retry
    ask(bot, events, "+claude +gpt anyone?")

    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the refusal explained")
    (claude,) = answers_in(slack, CHANNEL)
    assert "Cut off:" in status_line(claude)
    wait_until(
        lambda: marked_in_chat(slack, CHANNEL) == [claude["username"]],
        message="Claude's answer marked In Chat once GPT's could not be",
    )


def test_an_answer_whose_message_is_gone_still_moves_the_in_chat_mark(bot, slack, models, events):
    """Claude's answer is cut off, and shown without the mark while GPT's may still succeed.
    GPT's message is deleted while it streams (no event says so), and GPT's answer is cut off
    too: its end cannot be shown, yet it settles the round: Claude's answer is In Chat."""
    cut_off_at_once(models, "claude-test")
    models.script(
        "gpt-test",
        ModelScript(
            reply="Slowly, then not at all. " * 8,
            chunk_chars=8,
            chunk_delay=0.1,
            error=ModelFault(cut_after_chunks=15),
        ),
    )
    ask(bot, events, "+claude +gpt anyone?")

    claude, gpt = wait_until(
        lambda: (
            (answers := answers_in(slack, CHANNEL))[1:]
            and "Cut off:" in status_line(answers[0])
            and answers
        ),
        message="Claude's answer cut off while GPT's streams",
    )
    assert marked_in_chat(slack, CHANNEL) == []
    slack.delete_message(CHANNEL, gpt["ts"])

    # Said by its outcome line (seen while streaming) or by its final edit's (seen only then).
    wait_until(lambda: refusal_logged(bot, 2, "message_not_found"), message="GPT's end given up")
    wait_until(
        lambda: marked_in_chat(slack, CHANNEL) == [claude["username"]],
        message="Claude's answer marked In Chat once GPT's could not be shown",
    )


def test_a_final_edit_slack_refuses_for_a_while_is_shown_later(start_bot, slack, models, events):
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="2")
    slack.inject("chat.update", times=12, status=500, error="internal_error", retry_after=None)
    ask(bot, events, "+claude hello")

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer) == "claude-test answers: Alice: hello"
    assert "it will be shown later" in bot.logs()
    assert "showing 1 answer(s) whose final edit was still owed: answer 1" in bot.logs()
    assert " ERROR " not in bot.logs(), "an outage waited out is no fault of the bot's"


# A load balancer's error page in front of Slack, labelled as the Web API's JSON: slack_sdk
# hands it on with aiohttp's own response rather than a SlackResponse.
BAD_GATEWAY_AS_JSON = {
    "status": 502,
    "page": "<html><head><title>502 Bad Gateway</title></head></html>",
    "page_type": "application/json",
}


@pytest.mark.parametrize(
    ("method", "failed"),
    [
        ("users.info", "Slack failed looking up U0ALICE: HTTP 502"),
        ("chat.update", "Slack failed updating answer 1 ("),
    ],
)
def test_an_error_page_labelled_as_json_is_a_slack_blip(
    start_bot, slack, models, events, method, failed
):
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="2")
    slack.inject(method, **BAD_GATEWAY_AS_JSON)
    ask(bot, events, "+claude hello")

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer).startswith("claude-test answers: ") and body(answer).endswith(": hello")
    assert failed in bot.logs()
    assert "Traceback" not in bot.logs() and " ERROR " not in bot.logs()


# What a proxy in front of Slack may send with HTTP 200 in place of Slack's answer.
SIGN_IN_PAGE = "<html><head><title>Sign in to the network</title></head></html>"


def test_a_post_slack_made_but_answered_with_a_page_is_shown_once_and_not_refused(
    bot, slack, models, events
):
    slack.inject("chat.postMessage", status=200, page=SIGN_IN_PAGE, carried_out=True)
    ask(bot, events, "+claude hello")

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer) == "claude-test answers: Alice: hello"
    bot.wait_until_idle()  # all its posts made: a second copy would be there by now
    assert len(answers_in(slack, CHANNEL)) == 1
    assert slack.calls_for("chat.postEphemeral") == [], "nobody is told Slack refused"


def test_a_final_edit_answered_with_a_page_is_shown_later(start_bot, slack, models, events):
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="2")
    slack.inject("chat.update", status=200, page=SIGN_IN_PAGE)
    ask(bot, events, "+claude hello")

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer) == "claude-test answers: Alice: hello"
    assert "updating answer 1 (" in bot.logs() and "HTTP 200, not the Web API's JSON" in bot.logs()


# What a proxy or a gateway in front of Slack may answer with a status of its own, in place of
# Slack's answer: a page saying nothing of whether Slack would take the call.
PROXY_REFUSAL_PAGES = {
    "a proxy's 403 page": {"status": 403, "page": "<html><title>Access denied</title></html>"},
    "a gateway's 404 JSON": {
        "status": 404,
        "page": '{"message": "no Route matched with those values"}',
        "page_type": "application/json",
    },
    "a proxy's 200 in plain text": {"status": 200, "page": "Blocked", "page_type": "text/plain"},
}


@pytest.mark.parametrize("fault", PROXY_REFUSAL_PAGES.values(), ids=PROXY_REFUSAL_PAGES.keys())
def test_a_final_edit_answered_with_a_proxys_refusal_is_shown_later(
    start_bot, slack, models, events, fault
):
    """Not Slack's refusal: the answer is not given up with its message left *writing…*."""
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="2")
    slack.inject("chat.update", times=2, **fault)  # a streaming edit, if any, and the final one
    ask(bot, events, "+claude hello")

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer) == "claude-test answers: Alice: hello"
    assert "it will be shown later" in bot.logs() and "given up" not in bot.logs()
    assert " ERROR " not in bot.logs() and "Traceback" not in bot.logs()


def test_a_streaming_edit_slack_fails_is_logged_once_with_why(start_bot, slack, models, events):
    """At one line per failed edit of every answer streaming through an outage, a second
    line saying it again (without the why) would double the flood."""
    models.script("claude-test", ModelScript(reply="slow " * 80, chunk_chars=5, chunk_delay=0.05))
    slack.inject("chat.update", times=3, status=500, error="internal_error", retry_after=None)
    bot = start_bot()  # slack_sdk tries an edit 3 times: the first streaming edit fails
    ask(bot, events, "+claude hello")

    wait_for_answers(slack, CHANNEL, 1)
    warnings = [line for line in bot.logs().splitlines() if " WARNING " in line]
    assert len(warnings) == 1
    assert "Slack failed updating answer 1 (" in warnings[0] and warnings[0].endswith("HTTP 500")


def test_a_post_whose_reply_is_lost_is_not_posted_twice(bot, slack, models, events):
    slack.lose_replies("chat.postMessage", carried_out=True)
    ask(bot, events)

    answers = wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()  # all its posts made: a second copy would be there by now
    assert len(answers_in(slack, CHANNEL)) == 3
    assert [body(m) for m in answers] == [f"{m} answers: Alice: go" for m in MODEL_IDS]


def test_a_post_slack_made_before_failing_with_a_server_error_is_not_posted_twice(
    bot, slack, models, events
):
    slack.inject("chat.postMessage", status=503, error="service_unavailable", carried_out=True)
    ask(bot, events)

    answers = wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()  # all its posts made: a second copy would be there by now
    assert len(answers_in(slack, CHANNEL)) == 3
    assert [body(m) for m in answers] == [f"{m} answers: Alice: go" for m in MODEL_IDS]


def test_a_model_whose_message_slack_never_got_says_so_once_slack_is_back(
    start_bot, slack, models, events
):
    slack.lose_replies("chat.postMessage", times=2, carried_out=False)
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="2")
    ask(bot, events)

    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [m["username"] for m in answers] == ["GPT-test", "Gemini Test", "Claude Test"]
    assert [body(m) for m in answers[:2]] == [f"{m} answers: Alice: go" for m in MODEL_IDS[1:]]
    assert "Slack could not be reached" in status_line(answers[2])
    time.sleep(3)  # past the grace of the replica showing it: a second showing would have begun
    assert len(answers_in(slack, CHANNEL)) == 3
    assert bot.logs().count("showing 1 answer(s) whose final edit was still owed") == 1


def test_a_final_edit_slack_never_got_is_shown_once_slack_is_back(start_bot, slack, models, events):
    # More lost connections than slack_sdk retries: the first final edit does not land now.
    slack.lose_replies("chat.update", times=3, carried_out=False)
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="2")
    ask(bot, events)

    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [body(m) for m in answers] == [f"{m} answers: Alice: go" for m in MODEL_IDS]
    lost = [call for call in slack.calls_for("chat.update") if call.status == REPLY_LOST]
    assert len(lost) == 3


def test_a_final_edit_waiting_out_a_long_rate_limit_is_not_shown_twice(
    start_bot, slack, models, events
):
    # The final edit waits longer than the stale limit: the answer is still this live
    # replica's, so recovery must not show it (and its continuation) a second time.
    long_reply = "line of a long answer\n" * 800  # beyond one message: one continuation
    models.script("claude-test", ModelScript(reply=long_reply, chunk_chars=len(long_reply)))
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="1")
    slack.inject("chat.update", times=3, status=429, retry_after=2)
    ask(bot, events, "+claude hello")

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    continuations = wait_for_answers(slack, CHANNEL, 1, thread_ts=answer["ts"])
    time.sleep(3)  # a second showing would have landed by now
    assert len(answers_in(slack, CHANNEL, thread_ts=answer["ts"])) == len(continuations) == 1
    assert "whose final edit was still owed" not in bot.logs()


def test_an_answer_whose_message_was_deleted_is_not_retried_forever(
    start_bot, slack, models, events
):
    models.script("claude-test", ModelScript(reply="slow " * 40, chunk_chars=5, chunk_delay=0.05))
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="1")
    ask(bot, events, "+claude hello")
    wait_until(lambda: answers_in(slack, CHANNEL), message="the placeholder")
    (placeholder,) = answers_in(slack, CHANNEL)
    slack.delete_message(CHANNEL, placeholder["ts"])  # a person deletes it mid-answer

    def edits() -> int:
        return len(
            [c for c in slack.calls_for("chat.update") if c.params["ts"] == placeholder["ts"]]
        )

    # Once the answer has finished streaming and its final edit was refused too:
    wait_until(lambda: refusal_logged(bot, 1, "message_not_found"), message="the final refusal")
    bot.wait_until_idle()
    settled = edits()
    time.sleep(3)  # recovery sweeps every 0.25 s here
    assert edits() == settled
    assert settled <= 3  # streaming edits stop at the first refusal too


def test_a_model_is_stopped_once_slack_refuses_its_message_for_good(
    start_bot, slack, models, events, database_url
):
    """Nobody can see the rest: the model is not kept writing it (and billing for it)."""
    reply = "word " * 400  # 40 s at this pace
    script = ModelScript(reply=reply, chunk_chars=5, chunk_delay=0.1, usage=(1234, 56))
    models.script("claude-test", script)
    bot = start_bot()
    ask(bot, events, "+claude hello")
    placeholder = wait_until(
        lambda: (shown := answers_in(slack, CHANNEL)) and shown[0], message="the placeholder"
    )
    wait_until(lambda: slack.calls_for("chat.update"), message="a streaming edit")
    slack.delete_message(CHANNEL, placeholder["ts"])  # an admin deletes it mid-answer

    stopped = "WARNING bot.answering: answer 1 by anthropic:claude-test in C0GENERAL: stopped in "
    wait_until(lambda: stopped in bot.logs(), message="the answer given up")
    bot.wait_until_idle()
    # One line says it all: not also the streaming edit refused, nor the final edit.
    (warning,) = [line for line in bot.logs().splitlines() if " WARNING " in line]
    assert stopped in warning
    assert warning.endswith(": Slack refused this answer's message (message_not_found).")
    (saved,) = saved_texts(database_url)
    assert reply.startswith(saved) and len(saved) < len(reply) / 2
    assert saved_usage(database_url) == [(1234, None)], "the prompt counted in message_start"
    assert "Traceback" not in bot.logs() and " ERROR " not in bot.logs()


def refusal_logged(bot: BotProcess, answer_id: int, code: str) -> bool:
    """Whether the log says Slack refused answer `answer_id`'s message for good."""
    return any(
        f"answer {answer_id} " in line and f"({code})" in line for line in bot.logs().splitlines()
    )


def test_a_final_edit_the_workspace_refuses_is_given_up_not_retried_forever(
    start_bot, slack, models, events
):
    # The channel became posting-restricted after the placeholder went out.
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="1")
    slack.inject("chat.update", times=1_000, status=200, error="restricted_action")
    ask(bot, events, "+claude hello")

    given_up = "(restricted_action): given up"
    wait_until(lambda: given_up in bot.logs(), message="the final refusal")
    settled = len(slack.calls_for("chat.update"))
    time.sleep(3)  # recovery sweeps every 0.25 s here
    assert len(slack.calls_for("chat.update")) == settled
    assert settled <= 2  # at most one streaming edit (they stop at the first refusal), the final


def a_slack_blip_on_auth_test(slack) -> None:
    """The Web API fails for a moment (auth.test, and slack_sdk's two retries of it)."""
    slack.inject("auth.test", times=3, status=500, error="internal_error", retry_after=None)


def test_a_slack_blip_on_the_first_event_after_start_loses_nothing(bot, slack, models, events):
    """Start-up learnt who the bot is: nothing asks Slack again when the first event comes."""
    a_slack_blip_on_auth_test(slack)
    said = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} first after a deploy")
    first, _ = [events.envelope(event) for event in events.events_for(CHANNEL, said)]

    response = events.deliver(bot.events_url, first, timeout=10)

    assert response.status_code == 200 and "reinstall" not in response.text
    wait_for_answers(slack, CHANNEL, 3)
    assert len(slack.calls_for("auth.test")) == 1, "only start-up's"


def test_a_slack_blip_on_the_first_command_after_start_is_no_lost_installation(bot, slack, events):
    a_slack_blip_on_auth_test(slack)

    response = events.user_runs_command(CHANNEL, ALICE, "models", to=bot.events_url)

    assert response.json()["text"].startswith("Models in this channel (the workspace default)")


def test_a_slack_blip_on_the_first_socket_event_after_start_loses_nothing(
    socket_bot, slack, models, events
):
    a_slack_blip_on_auth_test(slack)
    said = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} first over the socket")
    first, _ = [events.envelope(event) for event in events.events_for(CHANNEL, said)]

    delivery = slack.socket_mode.deliver(first, timeout=10)

    assert delivery.acked
    wait_for_answers(slack, CHANNEL, 3)


def test_an_answer_slack_stopped_taking_for_its_token_is_shown_once_a_token_works_again(
    start_bot, slack, models, events
):
    """The app's token revoked (or rotated) while an answer streams: it cannot be shown, but
    is not given up: an admin sets a token that works, restarts the bot, and it is shown.
    Meanwhile the bot does not keep asking Slack to show it."""
    stream_slowly(models, "gpt-test")
    replica = {"CHORUS_REPLICA_ID": "replica-a", "CHORUS_STALE_ANSWER_SECONDS": "1"}
    bot = start_bot(**replica)
    ask(bot, events, "+gpt anyone?")
    streaming_first_answer(slack, CHANNEL)
    slack.inject("chat.update", times=10_000, status=200, error="token_revoked", retry_after=None)
    bot.wait_until_idle()
    refused = len(slack.calls_for("chat.update"))
    time.sleep(4)  # four times as long as the sweeper waits to take an answer's end over
    bot.stop()
    assert len(slack.calls_for("chat.update")) == refused, "not tried again while refused"
    (shown,) = answers_in(slack, CHANNEL)
    assert not is_final(shown)

    slack.clear_faults()
    start_bot(**replica)
    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer).strip() == SLOW_REPLY.strip(), "its model wrote it whole meanwhile"
    assert "refused" not in status_line(answer)
