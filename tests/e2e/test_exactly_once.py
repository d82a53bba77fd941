"""Exactly one answer per model per message: fast acks, retries, concurrent deliveries,
crashes and restarts."""

from __future__ import annotations

import os
import re
import signal
import time

import httpx
import pytest

from tests.doubles.model_servers import FakeModelServer, ModelScript
from tests.doubles.slack_emulator import SlackEmulator
from tests.doubles.slack_events import Envelope, SlackEventSender
from tests.doubles.waiting import wait_until
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION, MODEL_IDS, REPLICA_A
from tests.e2e.slack_views import (
    answers_in,
    body,
    is_final,
    marked_in_chat,
    status_line,
    wait_for_answers,
)
from tests.e2e.stored_answers import saved_texts, saved_usage

SLOW_REPLY = "A slow and steady answer, streamed piece by piece. " * 24  # some 12 s


def ask_for_a_long_story(
    slack: SlackEmulator, models: FakeModelServer, events: SlackEventSender, events_url: str
) -> list[Envelope]:
    """A mention every model answers slowly (some 12 s), once all three answers are
    streaming; the envelopes Slack delivered it in."""
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(reply=SLOW_REPLY, chunk_chars=8, chunk_delay=0.1))
    events.user_says(CHANNEL, ALICE, f"{MENTION} long story", to=[events_url])
    envelopes = list(events.last_envelopes)
    wait_until(  # three of them: all() of no answers yet would hold at once
        lambda: len([m for m in answers_in(slack, CHANNEL) if len(body(m)) >= 40]) == 3,
        message="all three answers streaming",
    )
    return envelopes


def answers_recovery_showed(logs: str) -> list[int]:
    """The answers recovery took over to show, over all its passes."""
    shown = []
    for named in re.findall(r"whose final edit was still owed: answer ([\d, ]+)$", logs, re.M):
        shown += [int(answer_id) for answer_id in named.split(", ")]
    return shown


def test_events_are_acknowledged_at_once_even_when_models_are_slow(bot, slack, models, events):
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(first_token_delay=3.0))
    events.user_says(CHANNEL, ALICE, f"{MENTION} take your time", to=[bot.events_url])
    responses = [r for r in events.last_responses if isinstance(r, httpx.Response)]
    assert [response.status_code for response in responses] == [200, 200]
    # Each within Slack's 3 s (from the request sent to the answer read, not counting the
    # test's own work around it), and before any model has written a word: the ack never waits.
    acked = max(response.elapsed.total_seconds() for response in responses)
    assert acked < 3.0, f"a delivery took {acked:.2f} s to acknowledge"
    assert not any(body(m) for m in answers_in(slack, CHANNEL))
    wait_for_answers(slack, CHANNEL, 3)


def test_concurrent_retried_deliveries_make_one_round(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} only once", to=[bot.events_url], concurrent=True)
    envelopes = list(events.last_envelopes)
    for retry in (1, 2):
        for envelope in envelopes:
            events.deliver(bot.events_url, envelope, retry_num=retry, retry_reason="http_timeout")
    wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()  # every delivery handled: a duplicate would have posted by now
    assert len(answers_in(slack, CHANNEL)) == 3
    for model_id in MODEL_IDS:
        assert len(models.requests_for(model_id)) == 1


@pytest.mark.parametrize(
    "who_takes_over",
    [
        REPLICA_A,  # the same replica, restarted: once a live twin's heartbeats would show
        {"CHORUS_STALE_ANSWER_SECONDS": "2"},  # another replica, once the heartbeats stop
    ],
    ids=["same-replica-restarts", "another-replica-takes-over"],
)
def test_answers_cut_short_by_a_crash_are_finalised_with_their_text(
    who_takes_over, database_url, start_bot, slack, models, events
):
    # The default stale time: its heartbeat loop sends none before the kill, so only the
    # answers' own saves set when each is stale (another replica may take them over in
    # more than one pass, as the assertion below allows).
    bot = start_bot(CHORUS_REPLICA_ID=REPLICA_A["CHORUS_REPLICA_ID"])
    envelopes = ask_for_a_long_story(slack, models, events, bot.events_url)
    wait_until(
        lambda: len(texts := saved_texts(database_url)) == len(MODEL_IDS) and all(texts),
        interval=0.1,
        message="some of each answer saved",
    )
    bot.kill()

    restarted = start_bot(**who_takes_over)
    answers = wait_for_answers(slack, CHANNEL, 3)
    for message in answers:
        assert "stopped before this answer was finished" in status_line(message)
        kept = body(message)
        assert 0 < len(kept) < len(SLOW_REPLY.strip()), "the partial text is kept"
        assert SLOW_REPLY.startswith(kept)
    assert (
        "marked interrupted the unfinished answers of 1 round(s) and 0 thread turn(s): round 1"
        in restarted.logs()
    )
    # Another replica takes each answer over once its last save is older than its stale time:
    # saved at different moments, they may be shown over more than one pass.
    assert sorted(answers_recovery_showed(restarted.logs())) == [1, 2, 3]  # each once
    # The event taken over, and what became of it, name the same message: one story, told
    # at INFO (where, from any other event, the claim found taken is routine).
    said = f"message {envelopes[0]['event']['ts']} in {CHANNEL}"
    ended = f"INFO bot.conversation: {said} already answered"
    wait_until(lambda: ended in restarted.logs(), message="event resumed")
    (resumed,) = [line for line in restarted.logs().splitlines() if "resuming event" in line]
    assert f"({said}), left unfinished by a stopped replica" in resumed
    # None finished: the first with text shown is In Chat, and says so.
    wait_until(lambda: marked_in_chat(slack, CHANNEL) == ["Claude Test"], message="marked")
    # Slack retries the event after the restart: no second round.
    for envelope in envelopes:
        events.deliver(restarted.events_url, envelope, retry_num=1, retry_reason="http_timeout")
    restarted.wait_until_idle()
    assert len(answers_in(slack, CHANNEL)) == 3
    for model_id in MODEL_IDS:
        assert len(models.requests_for(model_id)) == 1


def test_a_process_started_under_the_replica_id_of_a_live_one_leaves_its_answers_to_it(
    start_bot, slack, models, events
):
    """One CHORUS_REPLICA_ID set for two replicas (or an old process still running beside its
    successor): the second waits for the first's heartbeats before taking over what the id's
    "previous life" left, so the answers the first streams meanwhile end as written, each
    shown once; the second says in its log that the ids must differ."""
    first = start_bot(**REPLICA_A)
    ask_for_a_long_story(slack, models, events, first.events_url)
    twin = start_bot(**REPLICA_A)
    wait_until(
        lambda: "another live process runs under this replica id (replica-a)" in twin.logs(),
        message="the twin noticed",
    )
    (warning,) = [line for line in twin.logs().splitlines() if "another live process" in line]
    assert " ERROR " in warning and "answer 1, 2, 3" in warning
    assert "own CHORUS_REPLICA_ID" in warning

    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [body(message).strip() for message in answers] == [SLOW_REPLY.strip()] * 3
    for message in answers:
        assert "stopped before" not in status_line(message)
    first.wait_until_idle()
    twin.wait_until_idle()
    assert "taken over by recovery" not in first.logs()
    for taking_over in ("marked interrupted", "was still owed", "resuming event"):
        assert taking_over not in twin.logs()
    assert len(slack.calls_for("chat.postMessage")) == 3


def test_a_backlog_shown_at_slacks_pace_after_a_crash_is_shown_once(
    start_bot, slack, models, events
):
    """Recovery shows owed answers a few at a time; those waiting their turn for longer than
    the heartbeats last stay this replica's, so no sweeper shows them a second time."""
    slack.set_rate_limit("chat.postMessage", 1)  # Slack: about a message a second a channel
    replica = {"CHORUS_REPLICA_ID": "replica-a", "CHORUS_STALE_ANSWER_SECONDS": "2"}
    bot = start_bot(**replica)
    for number in range(6):  # 18 placeholders queue behind the limit
        events.user_says(CHANNEL, ALICE, f"{MENTION} question {number}", to=[bot.events_url])
    wait_until(lambda: len(answers_in(slack, CHANNEL)) >= 3, message="a few placeholders")
    bot.kill()

    start_bot(**replica)
    answers = wait_for_answers(slack, CHANNEL, 18, timeout=60)
    time.sleep(3)  # longer than a heartbeat lasts: a second showing would have begun
    tags = [(m.get("metadata") or {}).get("event_payload") for m in answers_in(slack, CHANNEL)]
    assert len(tags) == len(answers) == 18
    assert len({str(tag) for tag in tags}) == 18, "each answer has one message"


def test_a_graceful_stop_lets_answers_in_flight_finish(start_bot, slack, models, events):
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(chunk_chars=4, chunk_delay=0.2))
    bot = start_bot()
    events.user_says(CHANNEL, ALICE, f"{MENTION} finish this", to=[bot.events_url])
    wait_until(lambda: len(answers_in(slack, CHANNEL)) == 3, message="placeholders posted")
    assert not any(is_final(m) for m in answers_in(slack, CHANNEL)), "still streaming"
    bot.stop(timeout=30)  # more than the bot's grace: a slow drain is not cut short by a kill
    assert bot.returncode == 0
    answers = wait_for_answers(slack, CHANNEL, 3, timeout=1)
    assert [body(m) for m in answers] == [
        f"{model_id} answers: Alice: finish this" for model_id in MODEL_IDS
    ]


def test_the_grace_a_stop_gives_the_answers_in_flight_is_configurable(
    start_bot, slack, models, events
):
    bot = start_bot(CHORUS_SHUTDOWN_GRACE_SECONDS="1")
    ask_for_a_long_story(slack, models, events, bot.events_url)
    bot.stop(timeout=30)

    assert bot.returncode == 0
    assert "shutting down: finishing 1 task(s) in flight, for 1 s at most" in bot.logs()
    # With the default 15 s, the answers (some 12 s more) would have finished.
    for message in wait_for_answers(slack, CHANNEL, 3, timeout=1):
        assert "stopped before this answer was finished" in status_line(message)
        assert 0 < len(body(message)) < len(SLOW_REPLY.strip()), "the partial text is kept"


def test_a_second_signal_stops_at_once_and_finalises_the_answers_in_flight(
    start_bot, slack, models, events
):
    bot = start_bot()
    ask_for_a_long_story(slack, models, events, bot.events_url)
    # The last answer's final edit is still on its way when the others are done.
    slack.delay("chat.update", 0.5, ts=answers_in(slack, CHANNEL)[-1]["ts"])
    first_signal = bot.stop_at_once()
    # The grace alone would have kept it running 15 s (the answers need some 12 s more).
    assert time.monotonic() - first_signal < 12

    for message in wait_for_answers(slack, CHANNEL, 3, timeout=1):
        assert "stopped before this answer was finished" in status_line(message)
        assert 0 < len(body(message)) < len(SLOW_REPLY.strip()), "the partial text is kept"
    assert "Traceback" not in bot.logs()


def test_an_answer_stopped_before_its_placeholder_was_posted_keeps_what_its_model_spent(
    start_bot, slack, models, events, database_url
):
    """Slack holds the placeholder back while the model answers and reports its tokens; a
    second signal stops the bot meanwhile. The tokens are saved, and the next start shows the
    answer as interrupted."""
    models.script("gpt-test", ModelScript(usage=(1234, 56)))
    slack.delay("chat.postMessage", 30)
    replica = REPLICA_A
    bot = start_bot(**replica)
    events.user_says(CHANNEL, ALICE, f"{MENTION} +gpt anyone?", to=[bot.events_url])
    wait_until(
        lambda: models.requests_for("gpt-test") and not models.in_flight,
        message="the model answered while its placeholder is held back",
    )
    bot.stop_at_once()
    assert saved_usage(database_url) == [(1234, 56)]

    slack.clear_faults()
    start_bot(**replica)
    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert "stopped before this answer was finished" in status_line(answer)


def test_a_second_signal_while_recovery_shows_answers_leaves_the_rest_to_the_next_start(
    start_bot, slack, models, events
):
    """Stopped at once while start-up recovery shows the answers of two channels (Slack
    slow), the bot leaves those it has not shown owed, and the next start shows them."""
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(reply=SLOW_REPLY, chunk_chars=8, chunk_delay=0.1))
    replica = REPLICA_A
    bot = start_bot(**replica)
    channels = (CHANNEL, "C0RANDOM")
    for channel in channels:
        events.user_says(channel, ALICE, f"{MENTION} long story", to=[bot.events_url])
    wait_until(
        lambda: all(len(answers_in(slack, channel)) == 3 for channel in channels),
        message="every placeholder posted",
    )
    bot.kill()

    slack.delay("chat.update", 1.0)
    restarted = start_bot(**replica)
    wait_until(lambda: "was still owed" in restarted.logs(), message="recovery showing answers")
    restarted.stop_at_once()

    slack.clear_faults()
    start_bot(**replica)
    for channel in channels:
        for message in wait_for_answers(slack, channel, 3):
            assert "stopped before this answer was finished" in status_line(message)


def test_two_replicas_answer_each_message_once_and_share_threads(start_bot, slack, models, events):
    first, second = start_bot(), start_bot()
    replicas = [first.events_url, second.events_url]

    events.user_says(CHANNEL, ALICE, f"{MENTION} hello both", to=replicas, concurrent=True)
    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    events.user_says(CHANNEL, BOB, "thread via one", thread_ts=gpt["ts"], to=[first.events_url])
    wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt["ts"])
    events.user_says(CHANNEL, BOB, "thread via two", thread_ts=gpt["ts"], to=[second.events_url])
    wait_for_answers(slack, CHANNEL, 2, thread_ts=gpt["ts"])
    events.user_says(CHANNEL, ALICE, f"{MENTION} again", to=replicas, concurrent=True)
    wait_for_answers(slack, CHANNEL, 6)
    for replica in (first, second):
        replica.wait_until_idle()
        # An event or a message the other replica got first is routine: no INFO line.
        lines = replica.logs().splitlines()
        assert [line for line in lines if " already " in line and " DEBUG " not in line] == []

    assert len(answers_in(slack, CHANNEL)) == 6
    assert len(answers_in(slack, CHANNEL, gpt["ts"])) == 2
    assert models.requests_for("gpt-test")[2].turns() == [
        ("user", "Alice: hello both"),
        ("assistant", body(gpt)),
        ("user", "Bob: thread via one"),
        ("assistant", "gpt-test answers: Bob: thread via one"),
        ("user", "Bob: thread via two"),
    ]
    assert len(models.requests_for("claude-test")) == 2
    assert models.requests_for("claude-test")[1].turns()[1] == ("assistant", body(claude))
    assert body(gemini) == "gemini-test answers: Alice: hello both"

    # Pushpins on the latest round's answers, through one replica then the other: one mark
    # per round, on the latest pick.
    latest = answers_in(slack, CHANNEL)[3:]
    for number, (replica, answer) in enumerate(((first, latest[2]), (second, latest[1])), 1):
        events.user_reacts(CHANNEL, answer["ts"], BOB, "pushpin", to=[replica.events_url])
        wait_until(lambda n=number: len(slack.calls_for("chat.postEphemeral")) == n)
    wait_until(
        lambda: marked_in_chat(slack, CHANNEL) == ["Claude Test", "GPT-test"],
        message="round 1's mark on Claude's answer, round 2's on the latest pick",
    )


def test_a_placeholder_posted_just_before_a_crash_is_finalised_not_left_thinking(
    start_bot, slack, models, events
):
    # The first placeholder lands in Slack, but the bot dies before it hears so.
    slack.lose_replies("chat.postMessage", after_seconds=30)
    bot = start_bot(**REPLICA_A)
    events.user_says(CHANNEL, ALICE, f"{MENTION} hello", to=[bot.events_url])
    (placeholder,) = wait_until(
        lambda: len(shown := answers_in(slack, CHANNEL)) == 1 and shown,
        message="a placeholder in Slack",
    )
    bot.kill()

    restarted = start_bot(**REPLICA_A)
    answers = wait_for_answers(slack, CHANNEL, 3)
    restarted.wait_until_idle()
    assert len(answers_in(slack, CHANNEL)) == 3, "the placeholder was adopted, not posted again"
    assert (answers[0]["ts"], answers[0]["username"]) == (placeholder["ts"], "Claude Test")
    assert [m["username"] for m in answers[1:]] == ["GPT-test", "Gemini Test"], "model order"
    for message in answers:
        assert "stopped before this answer was finished" in status_line(message)


def test_a_replica_held_up_past_its_heartbeats_leaves_its_answers_as_taken_over(
    database_url, start_bot, slack, models, events
):
    """A replica whose process stood still (SIGSTOP: a VM paused, a long stall) for longer
    than the heartbeats last has its answers finalised by another; when it runs again, no
    streaming edit of its lands over that final text."""
    if database_url.startswith("sqlite"):
        pytest.skip(
            "a process stopped mid-transaction keeps SQLite's one write lock, stalling every "
            "replica on the file: replicas that take over each other's work share PostgreSQL"
        )
    stale = {"CHORUS_STALE_ANSWER_SECONDS": "2"}
    held_up = start_bot(CHORUS_REPLICA_ID="replica-a", **stale)
    start_bot(CHORUS_REPLICA_ID="replica-b", **stale)
    ask_for_a_long_story(slack, models, events, held_up.events_url)
    assert held_up.pid is not None
    os.kill(held_up.pid, signal.SIGSTOP)
    try:
        wait_for_answers(slack, CHANNEL, 3)  # finalised by replica-b
    finally:
        os.kill(held_up.pid, signal.SIGCONT)
    wait_until(
        lambda: held_up.logs().count("was taken over by recovery") == 3,
        message="replica-a letting go of all three",
    )

    for message in answers_in(slack, CHANNEL):
        assert is_final(message), status_line(message)
        assert "stopped before this answer was finished" in status_line(message)
