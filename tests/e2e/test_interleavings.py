"""People acting while answers still stream: Regenerate, Stop, edits, deletions and new
thread messages interleaved with answers that are not settled yet."""

from __future__ import annotations

import re

import pytest

from tests.doubles.model_servers import ModelScript
from tests.doubles.model_servers.recording import RecordedRequest
from tests.doubles.waiting import wait_until
from tests.e2e.answer_buttons import (
    REGENERATE,
    STOP,
    assert_interrupted,
    numbered_takes,
    stream_slowly,
)
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION, MODEL_IDS, REPLICA_A
from tests.e2e.slack_views import (
    Message,
    answers_in,
    body,
    buttons,
    is_final,
    status_line,
    streaming_first_answer,
    wait_for_answers,
)

# -- Regenerate on an answer whose reply thread already has turns -----------------------------


def test_an_answer_its_thread_replies_discuss_is_not_regenerated(bot, slack, models, events):
    """Its thread's replies were written about its text: a new text would leave them
    discussing something gone, and the thread's model would be sent a talk that never was."""
    numbered_takes(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} name a bakery", to=[bot.events_url])
    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude) == "take 1"
    events.user_says(CHANNEL, BOB, "why take 1?", thread_ts=claude["ts"], to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 1, thread_ts=claude["ts"])
    bot.wait_until_idle()

    events.user_clicks(CHANNEL, claude["ts"], REGENERATE, BOB, to=bot.events_url)
    wait_until(
        lambda: (
            slack.ephemeral_messages(CHANNEL)
            or body(slack.message(CHANNEL, claude["ts"])) == "take 3"
        ),
        message="a refusal or a regeneration",
    )
    bot.wait_until_idle()
    events.user_says(CHANNEL, BOB, "and now?", thread_ts=claude["ts"], to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 2, thread_ts=claude["ts"])
    turns = models.requests_for("claude-test")[-1].turns()
    # The thread's first reply answered "take 1"; it must follow "take 1", not another text.
    anchor = turns[1]
    assert anchor == ("assistant", "take 1"), turns
    assert "has replies in its thread" in slack.ephemeral_messages(CHANNEL)[0]["text"]


# -- a second thread message while the thread model's reply to the first still streams --------


def test_a_thread_message_written_while_the_previous_reply_streams_is_sent_that_reply(
    bot, slack, models, events
):
    """As a reply written while the answer above streams waits for all of it."""
    events.user_says(CHANNEL, ALICE, f"{MENTION} hi", to=[bot.events_url])
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    slow = "A slow thread reply, piece by piece. " * 4

    def slow_first_reply(request: RecordedRequest) -> str:
        return slow if request.last_user_text() == "Bob: tell me more" else "Short."

    models.script("gpt-test", ModelScript(reply=slow_first_reply, chunk_chars=8, chunk_delay=0.2))
    events.user_says(CHANNEL, BOB, "tell me more", thread_ts=gpt["ts"], to=[bot.events_url])
    wait_until(
        lambda: (shown := answers_in(slack, CHANNEL, gpt["ts"])) and body(shown[0]),
        message="the first thread reply streaming",
    )
    events.user_says(CHANNEL, BOB, "go on", thread_ts=gpt["ts"], to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 2, thread_ts=gpt["ts"])
    turns = models.requests_for("gpt-test")[-1].turns()
    assert turns[-3:] == [
        ("user", "Bob: tell me more"),
        ("assistant", slow),
        ("user", "Bob: go on"),
    ], turns


# -- messages said moments apart: their answers' messages in the order they were recorded -------


def test_answers_to_two_mentions_said_moments_apart_do_not_interleave(bot, slack, models, events):
    """Each round's placeholders go out after those of the round recorded before it, so a
    slow Slack never shuffles the answers of two rounds together in the channel."""
    slack.delay("chat.postMessage", 0.3)
    events.user_says(CHANNEL, ALICE, f"{MENTION} one", to=[bot.events_url])
    events.user_says(CHANNEL, BOB, f"{MENTION} two", to=[bot.events_url])
    answers = wait_for_answers(slack, CHANNEL, 6)
    assert [body(answer) for answer in answers] == [
        *(f"{model_id} answers: Alice: one" for model_id in MODEL_IDS),
        *(f"{model_id} answers: Bob: two" for model_id in MODEL_IDS),
    ]


# -- a new mention while the In Chat answer before it still streams --------------------------

SLOW_FIRST_ANSWER = "Claude's slow first answer, piece by piece. " * 6


def _claude_slow_on_the_first_message(models) -> None:
    def reply(request: RecordedRequest) -> str:
        return SLOW_FIRST_ANSWER if request.turns() == [("user", "Alice: first")] else "quick"

    models.script("claude-test", ModelScript(reply=reply, chunk_chars=8, chunk_delay=0.2))


def test_a_mention_written_while_the_in_chat_answer_streams_is_sent_all_of_it(
    bot, slack, models, events
):
    """An answer still being written has not failed: the next round waits for it, so every
    model is sent round 1's In Chat answer (SPEC §3), as a later round would be."""
    _claude_slow_on_the_first_message(models)
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    streaming_first_answer(slack, CHANNEL)
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)

    assert body(answers_in(slack, CHANNEL)[0]) == SLOW_FIRST_ANSWER
    for model_id in ("claude-test", "gpt-test", "gemini-test"):
        turns = models.requests_for(model_id)[-1].turns()
        assert turns == [
            ("user", "Alice: first"),
            ("assistant", SLOW_FIRST_ANSWER),
            ("user", "Alice: second"),
        ], (model_id, turns)


def test_a_mention_edited_while_it_waits_for_the_answer_before_it_is_answered_as_edited(
    bot, slack, models, events
):
    _claude_slow_on_the_first_message(models)
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    streaming_first_answer(slack, CHANNEL)
    asked = events.user_says(CHANNEL, ALICE, f"{MENTION} in French", to=[bot.events_url])
    wait_until(lambda: len(answers_in(slack, CHANNEL)) == 6, message="round 2's placeholders")
    events.user_edits(CHANNEL, asked["ts"], f"{MENTION} in German", to=[bot.events_url])
    wait_until(lambda: f"{asked['ts']} in {CHANNEL} was edited" in bot.logs(), message="edit seen")
    assert not is_final(answers_in(slack, CHANNEL)[0]), "edited while Claude still streams"
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("gpt-test")[-1].turns()[-1] == ("user", "Alice: in German")


def test_stop_on_the_answer_a_mention_waits_for_lets_it_go_with_the_answer_that_finished(
    bot, slack, models, events
):
    _claude_slow_on_the_first_message(models)
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude = streaming_first_answer(slack, CHANNEL)
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_until(lambda: len(answers_in(slack, CHANNEL)) == 6, message="round 2's placeholders")
    events.user_clicks(CHANNEL, claude["ts"], STOP, BOB, to=bot.events_url)
    wait_for_answers(slack, CHANNEL, 6)

    assert body(slack.message(CHANNEL, claude["ts"])) != SLOW_FIRST_ANSWER, "stopped midway"
    assert models.requests_for("gemini-test")[-1].turns() == [
        ("user", "Alice: first"),
        ("assistant", "gpt-test answers: Alice: first"),
        ("user", "Alice: second"),
    ]


def test_a_thread_started_while_an_earlier_in_chat_answer_streams_is_sent_all_of_it(
    bot, slack, models, events
):
    """Bob replies under GPT's answer to round 2 while it still waits for Claude's answer to
    round 1: the thread's snapshot of the chat has round 1 with that answer, once whole."""
    _claude_slow_on_the_first_message(models)
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    streaming_first_answer(slack, CHANNEL)
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_until(lambda: len(answers_in(slack, CHANNEL)) == 6, message="round 2's placeholders")
    gpt_second = answers_in(slack, CHANNEL)[4]
    events.user_says(CHANNEL, BOB, "why?", thread_ts=gpt_second["ts"], to=[bot.events_url])
    wait_until(
        lambda: answers_in(slack, CHANNEL, thread_ts=gpt_second["ts"]),
        message="the thread reply's placeholder",
    )
    assert not is_final(answers_in(slack, CHANNEL)[0]), "the thread began while Claude streams"
    wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt_second["ts"])

    turns = models.requests_for("gpt-test")[-1].turns()
    assert turns == [
        ("user", "Alice: first"),
        ("assistant", SLOW_FIRST_ANSWER),
        ("user", "Alice: second"),
        ("assistant", "gpt-test answers: Alice: second"),
        ("user", "Bob: why?"),
    ], turns


# -- a thread message deleted (or edited) while its reply waits for the answer above ----------


def _slow_anchor_then_short(models, seconds: float = 5.0) -> None:
    """Claude writes its round answer over `seconds`, and "Short." in its thread."""
    slow = "A slow answer, streamed piece by piece. " * 4  # 20 chunks

    def reply(request: RecordedRequest) -> str:
        return "Short." if "Bob:" in str(request.turns()) else slow

    script = ModelScript(reply=reply, chunk_chars=8, chunk_delay=seconds / 20)
    models.script("claude-test", script)


def bob_writes_while_claude_streams(bot, slack, models, events, text: str, seconds: float = 5.0):
    """Claude's answer streams slowly (over `seconds`); Bob writes `text` in its thread,
    which gets its placeholder at once. Claude's answer and Bob's message."""
    _slow_anchor_then_short(models, seconds)
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude = streaming_first_answer(slack, CHANNEL)
    said = events.user_says(CHANNEL, BOB, text, thread_ts=claude["ts"], to=[bot.events_url])
    wait_until(
        lambda: answers_in(slack, CHANNEL, thread_ts=claude["ts"]), message="a thread placeholder"
    )
    return claude, said


def test_a_thread_message_deleted_while_its_reply_waits_is_never_sent_to_the_model(
    bot, slack, models, events
):
    """A reply written while the answer above streams waits for it; a message deleted
    meanwhile is never sent (SPEC §3), and its reply says why it was not written."""
    claude, secret = bob_writes_while_claude_streams(
        bot, slack, models, events, "oops, my password is hunter2"
    )
    events.user_deletes(CHANNEL, secret["ts"], to=[bot.events_url])
    wait_until(lambda: f"message {secret['ts']}" in bot.logs(), message="deletion handled")
    assert not is_final(answers_in(slack, CHANNEL)[0]), "deleted while Claude still streams"
    wait_for_answers(slack, CHANNEL, 3)
    wait_until(
        lambda: all(is_final(m) for m in answers_in(slack, CHANNEL, claude["ts"])),
        message="the thread reply settled",
    )
    sent = [text for request in models.requests_for("claude-test") for _, text in request.turns()]
    assert not any("hunter2" in text for text in sent), sent
    (reply,) = answers_in(slack, CHANNEL, claude["ts"])
    assert "was deleted before it could be answered" in reply["text"]


def test_a_thread_message_edited_while_its_reply_waits_is_answered_as_edited(
    bot, slack, models, events
):
    """Same wait: the model is asked the message as it reads when it is asked."""
    claude, asked = bob_writes_while_claude_streams(bot, slack, models, events, "in French plz")
    events.user_edits(CHANNEL, asked["ts"], "in German please", to=[bot.events_url])
    wait_until(lambda: f"{asked['ts']} in {CHANNEL} was edited" in bot.logs(), message="edit seen")
    assert not is_final(answers_in(slack, CHANNEL)[0]), "edited while Claude still streams"
    wait_for_answers(slack, CHANNEL, 1, thread_ts=claude["ts"])
    assert models.requests_for("claude-test")[-1].turns()[-1] == ("user", "Bob: in German please")


# -- a thread reply regenerated while the answer above still streams -------------------------


def test_a_thread_reply_regenerated_while_the_answer_above_streams_waits_for_all_of_it(
    bot, slack, models, events
):
    """As when first asked: the reply (stopped while it waited, then regenerated) is sent
    all of the answer above, not the part of it saved so far; meanwhile it shows that it is
    being written again, with Stop."""
    stopped, _ = _a_waiting_reply_stopped(bot, slack, models, events)
    events.user_clicks(CHANNEL, stopped["ts"], REGENERATE, BOB, to=bot.events_url, seen=stopped)
    _shows_stop_while_claude_streams(slack, stopped["ts"])
    wait_until(
        lambda: body(slack.message(CHANNEL, stopped["ts"])) == "Short.",
        message="the reply regenerated",
    )
    claude = wait_for_answers(slack, CHANNEL, 3)[0]
    turns = models.requests_for("claude-test")[-1].turns()
    assert ("assistant", body(claude)) in turns, turns


def test_a_thread_reply_regenerated_while_the_answer_above_streams_can_be_stopped_again(
    bot, slack, models, events
):
    stopped, _ = _a_waiting_reply_stopped(bot, slack, models, events)
    events.user_clicks(CHANNEL, stopped["ts"], REGENERATE, BOB, to=bot.events_url, seen=stopped)
    waiting = _shows_stop_while_claude_streams(slack, stopped["ts"])

    events.user_clicks(CHANNEL, stopped["ts"], STOP, BOB, to=bot.events_url, seen=waiting)

    again = wait_until(
        lambda: REGENERATE in buttons(m := slack.message(CHANNEL, stopped["ts"])) and m,
        message="the regenerated reply stopped",
    )
    assert "Stopped by Bob." in status_line(again)
    wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()  # past the answer above: a reply still waiting on it has asked by now
    assert len(models.requests_for("claude-test")) == 1, "the stopped reply never asked Claude"


def test_a_thread_message_edited_while_its_regenerated_reply_waits_is_answered_as_edited(
    bot, slack, models, events
):
    """As for a new message: the model is asked the message as it reads when it is asked."""
    stopped, asked = _a_waiting_reply_stopped(bot, slack, models, events)
    events.user_clicks(CHANNEL, stopped["ts"], REGENERATE, BOB, to=bot.events_url, seen=stopped)
    _shows_stop_while_claude_streams(slack, stopped["ts"])
    events.user_edits(CHANNEL, asked["ts"], "in German please", to=[bot.events_url])
    wait_until(lambda: f"{asked['ts']} in {CHANNEL} was edited" in bot.logs(), message="edit seen")
    assert not is_final(answers_in(slack, CHANNEL)[0]), "edited while Claude still streams"
    wait_until(
        lambda: body(slack.message(CHANNEL, stopped["ts"])) == "Short.",
        message="the reply regenerated",
    )
    assert models.requests_for("claude-test")[-1].turns()[-1] == ("user", "Bob: in German please")


def _a_waiting_reply_stopped(bot, slack, models, events) -> tuple[Message, Message]:
    """Claude's answer streams slowly; Bob writes in its thread and stops the reply while it
    waits for that answer. The stopped reply, as Slack shows it, and Bob's message."""
    claude, asked = bob_writes_while_claude_streams(
        bot, slack, models, events, "in French plz", seconds=10
    )
    (waiting,) = answers_in(slack, CHANNEL, thread_ts=claude["ts"])
    events.user_clicks(CHANNEL, waiting["ts"], STOP, BOB, to=bot.events_url)
    stopped = wait_until(
        lambda: REGENERATE in buttons(m := slack.message(CHANNEL, waiting["ts"])) and m,
        message="the waiting reply stopped",
    )
    assert not is_final(answers_in(slack, CHANNEL)[0]), "Claude's answer still streams"
    return stopped, asked


def _shows_stop_while_claude_streams(slack, reply_ts: str) -> Message:
    """The regenerated reply as it shows while it waits: its placeholder, with Stop."""
    shown = wait_until(
        lambda: buttons(m := slack.message(CHANNEL, reply_ts)) == [STOP] and m,
        message="the regenerated reply waiting, with Stop",
    )
    assert not is_final(answers_in(slack, CHANNEL)[0]), "Claude's answer still streams"
    return shown


# -- the bot stopped, or Stop pressed, while a regenerated thread reply waits -----------------


def test_a_graceful_stop_answers_a_regenerated_thread_reply_that_waits_before_exiting(
    start_bot, slack, models, events
):
    """SIGTERM: the reply waiting for the answer above is work in flight like that answer;
    both are finished before the bot exits, and the next start posts nothing again."""
    bot = start_bot(**REPLICA_A)
    waiting = _a_regenerated_reply_waiting(bot, slack, models, events)
    bot.stop(timeout=30)  # more than the bot's grace, which is enough here
    assert bot.returncode == 0
    reply = slack.message(CHANNEL, waiting["ts"])
    assert body(reply) == "Short." and is_final(reply), status_line(reply)
    _nothing_posted_again(start_bot(**REPLICA_A), slack, models, claude_asked=2)


def test_a_regenerated_thread_reply_that_waits_when_the_bot_stops_at_once_says_so(
    start_bot, slack, models, events
):
    bot = start_bot(**REPLICA_A)
    waiting = _a_regenerated_reply_waiting(bot, slack, models, events)
    bot.stop_at_once()
    assert_interrupted(slack.message(CHANNEL, waiting["ts"]))
    _nothing_posted_again(start_bot(**REPLICA_A), slack, models, claude_asked=1)


@pytest.mark.parametrize(
    "who_takes_over",
    [REPLICA_A, {"CHORUS_STALE_ANSWER_SECONDS": "2"}],
    ids=["same-replica-restarts", "another-replica-takes-over"],
)
def test_a_regenerated_thread_reply_whose_replica_dies_while_it_waits_is_finalised(
    who_takes_over, start_bot, slack, models, events
):
    bot = start_bot(**REPLICA_A)
    waiting = _a_regenerated_reply_waiting(bot, slack, models, events)
    bot.kill()

    restarted = start_bot(**who_takes_over)
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=waiting["thread_ts"])
    assert_interrupted(reply)
    # The log names the thread turn as well as the round (over one sweep or two).
    marked = r"marked interrupted the unfinished answers of \d round\(s\) and 1 thread turn\(s\)"
    assert re.search(rf"{marked}: (round \d+; )?thread turn \d+", restarted.logs())
    wait_until(lambda: "resuming event" in restarted.logs(), message="the round's event resumed")
    _nothing_posted_again(restarted, slack, models, claude_asked=1)


def test_stop_pressed_through_another_replica_stops_a_regenerated_thread_reply_that_waits(
    start_bot, slack, models, events
):
    """The reply waits on the replica Regenerate was pressed through; Stop is pressed
    through the one that streams the answer above."""
    streaming_replica, waiting_replica = start_bot(), start_bot()
    waiting = _a_regenerated_reply_waiting(
        streaming_replica, slack, models, events, via=waiting_replica
    )

    events.user_clicks(CHANNEL, waiting["ts"], STOP, BOB, to=streaming_replica.events_url)

    stopped = wait_until(
        lambda: REGENERATE in buttons(m := slack.message(CHANNEL, waiting["ts"])) and m,
        message="the regenerated reply stopped",
    )
    assert "Stopped by Bob." in status_line(stopped)
    assert not is_final(answers_in(slack, CHANNEL)[0]), "stopped while Claude's answer streams"
    wait_for_answers(slack, CHANNEL, 3)
    for replica in (streaming_replica, waiting_replica):
        replica.wait_until_idle()  # past the answer above: a reply still waiting has asked
    assert len(models.requests_for("claude-test")) == 1, "the stopped reply never asked Claude"


def _a_regenerated_reply_waiting(bot, slack, models, events, *, via=None) -> Message:
    """A reply stopped while it waits for Claude's answer, regenerated (through the replica
    `via`, if given): it waits again, with Stop, as Slack shows it."""
    stopped, _ = _a_waiting_reply_stopped(bot, slack, models, events)
    pressed_through = (via or bot).events_url
    events.user_clicks(CHANNEL, stopped["ts"], REGENERATE, BOB, to=pressed_through, seen=stopped)
    return _shows_stop_while_claude_streams(slack, stopped["ts"])


def _nothing_posted_again(restarted, slack, models, *, claude_asked: int) -> None:
    """Once the bot `restarted` has taken over what was left: the round's three answers and
    the one reply, Claude asked `claude_asked` times in all."""
    restarted.wait_until_idle()
    claude = answers_in(slack, CHANNEL)[0]
    assert len(answers_in(slack, CHANNEL)) == 3
    assert len(answers_in(slack, CHANNEL, thread_ts=claude["ts"])) == 1
    assert len(models.requests_for("claude-test")) == claude_asked
    assert "Traceback" not in restarted.logs()


# -- `/chorus new` while a round streams, then a new mention ---------------------------------


def test_an_answer_from_before_chorus_new_is_neither_pinned_nor_regenerated(
    bot, slack, models, events
):
    """`/chorus new` while a round streams, then a new mention: the new round starts from
    nothing, and the old round is no longer the latest (SPEC §2.4)."""
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} one", to=[bot.events_url])
    claude = streaming_first_answer(slack, CHANNEL)
    events.user_runs_command(CHANNEL, ALICE, "new", to=bot.events_url)
    models.script("claude-test", ModelScript())
    events.user_says(CHANNEL, ALICE, f"{MENTION} two", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("gpt-test")[-1].turns() == [("user", "Alice: two")]
    bot.wait_until_idle()

    events.user_reacts(
        CHANNEL, answers_in(slack, CHANNEL)[1]["ts"], BOB, "pushpin", to=[bot.events_url]
    )
    wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="the pin refused")
    assert "a new chat was started here since" in slack.ephemeral_messages(CHANNEL)[0]["text"]

    events.user_clicks(CHANNEL, claude["ts"], REGENERATE, BOB, to=bot.events_url)
    wait_until(
        lambda: (
            len(slack.ephemeral_messages(CHANNEL)) == 2
            or len(models.requests_for("claude-test")) == 3
        ),
        message="a refusal or a regeneration",
    )
    assert len(models.requests_for("claude-test")) == 2, "the old chat's answer is kept"
    assert "new chat was started here since" in slack.ephemeral_messages(CHANNEL)[1]["text"]


# -- A message said first whose author's name takes longer to read -----------------------------

CAROL = "U0CAROL"  # never seen by the bot: her name is asked of Slack (slowly, here)


def _said_by_carol_then_alice(slack, events, bot, first: str, then: str, thread_ts=None) -> None:
    slack.delay("users.info", 1.0)
    for user, text in ((CAROL, first), (ALICE, then)):
        events.user_says(CHANNEL, user, text, thread_ts=thread_ts, to=[bot.events_url])


def test_a_mention_said_after_one_still_being_read_is_sent_it(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} zero", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()

    _said_by_carol_then_alice(slack, events, bot, f"{MENTION} one", f"{MENTION} two")
    wait_for_answers(slack, CHANNEL, 9)

    (second,) = [r for r in models.requests_for("gpt-test") if r.last_user_text() == "Alice: two"]
    assert [text for role, text in second.turns() if role == "user"] == [
        "Alice: zero",
        "Carol: one",
        "Alice: two",
    ]


def test_a_thread_message_said_after_one_still_being_read_is_sent_it(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} zero", to=[bot.events_url])
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()

    _said_by_carol_then_alice(slack, events, bot, "turn one", "turn two", thread_ts=gpt["ts"])
    wait_for_answers(slack, CHANNEL, 2, thread_ts=gpt["ts"])

    (second,) = [r for r in models.requests_for("gpt-test") if "turn two" in r.last_user_text()]
    assert [text for role, text in second.turns() if role == "user"] == [
        "Alice: zero",
        "Carol: turn one",
        "Alice: turn two",
    ]


def test_a_thread_handed_to_another_model_is_answered_by_it_from_the_next_message_on(
    bot, slack, models, events
):
    events.user_says(CHANNEL, ALICE, f"{MENTION} zero", to=[bot.events_url])
    _, gpt, _ = wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()

    _said_by_carol_then_alice(
        slack, events, bot, "+gemini look again", "and you?", thread_ts=gpt["ts"]
    )
    wait_for_answers(slack, CHANNEL, 2, thread_ts=gpt["ts"])

    asked = {
        model_id: [r.last_user_text() for r in models.requests_for(model_id)]
        for model_id in ("gpt-test", "gemini-test")
    }
    assert asked == {
        "gpt-test": ["Alice: zero"],
        "gemini-test": ["Alice: zero", "Carol: look again", "Alice: and you?"],
    }
