"""The core loop, end to end: the real bot process, Slack emulator, fake model servers."""

from __future__ import annotations

import re

import httpx

from tests.doubles.model_servers import ModelFault, ModelScript, RecordedRequest
from tests.doubles.slack_emulator import OTHER_BOT_USER_ID
from tests.doubles.waiting import wait_until
from tests.e2e.answer_buttons import SLOW_REPLY, STOP, oversized_gpt_answer, stream_slowly
from tests.e2e.scene import ALICE, BOB, CHANNEL, DM, MENTION, MODEL_IDS
from tests.e2e.slack_views import (
    answers_in,
    body,
    is_final,
    marked_in_chat,
    status_line,
    streaming_first_answer,
    wait_for_answers,
)
from tests.e2e.stored_answers import saved_usage

SYSTEM_PROMPT_START = "You are one of several AI models"
PROVIDERS = ("anthropic", "openai", "google")


def reply_of(model_id: str, last_user_message: str) -> str:
    """What the fake model servers answer by default."""
    return f"{model_id} answers: {last_user_message}"


def test_a_mention_gets_one_streamed_message_per_model(bot, slack, models, events):
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(chunk_chars=5, chunk_delay=0.03))
    events.user_says(CHANNEL, ALICE, f"{MENTION} hello there", to=[bot.events_url])

    answers = wait_for_answers(slack, CHANNEL, 3)
    names = ["Claude Test", "GPT-test", "Gemini Test"]
    assert [m["username"] for m in answers] == names
    for message, model_id, name in zip(answers, MODEL_IDS, names, strict=True):
        assert body(message) == reply_of(model_id, "Alice: hello there")
        # The first model's answer is In Chat: later rounds are sent it.
        mark = " · :pushpin: In Chat" if name == names[0] else ""
        footer = rf"\*{re.escape(name)}\* · \d+\.\d s · [\d,]+ tokens in, [\d,]+ out{mark}"
        assert re.fullmatch(footer, status_line(message)), status_line(message)
        updates = [c for c in slack.calls_for("chat.update") if c.params["ts"] == message["ts"]]
        assert len(updates) >= 2, "the answer should stream in several updates"
    for model_id in MODEL_IDS:
        (request,) = models.requests_for(model_id)
        assert request.system_prompt().startswith(SYSTEM_PROMPT_START)
        assert request.turns() == [("user", "Alice: hello there")]
    logs = bot.logs()
    assert " WARNING " not in logs, "a normal start and round warn of nothing"
    # Each answer's id, to find its own line below.
    models_in_order = ", ".join(
        f"{provider}:{model_id} (answer {number})"
        for number, (provider, model_id) in enumerate(zip(PROVIDERS, MODEL_IDS, strict=True), 1)
    )
    assert f"round 1 in C0GENERAL for U0ALICE: {models_in_order}\n" in logs
    assert re.search(r"answer 2 by openai:gpt-test in C0GENERAL: done in \d+\.\d s", logs)


def gpt_answer_to_a_question(bot, slack, events) -> dict:
    """Alice asks `question`; GPT's answer, under which the test goes on in a thread."""
    events.user_says(CHANNEL, ALICE, f"{MENTION} question", to=[bot.events_url])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    return gpt_answer


def test_a_thread_reply_continues_with_that_model_only(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} name a colour", to=[bot.events_url])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)

    events.user_says(CHANNEL, BOB, "why that one?", thread_ts=gpt_answer["ts"], to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt_answer["ts"])

    assert reply["username"] == "GPT-test"
    assert body(reply) == reply_of("gpt-test", "Bob: why that one?")
    assert len(models.requests_for("claude-test")) == 1
    assert len(models.requests_for("gemini-test")) == 1
    assert models.requests_for("gpt-test")[-1].turns() == [
        ("user", "Alice: name a colour"),
        ("assistant", reply_of("gpt-test", "Alice: name a colour")),
        ("user", "Bob: why that one?"),
    ]
    assert len(answers_in(slack, CHANNEL)) == 3, "a thread reply posts nothing in the channel"
    turn = f"thread turn 1 under {gpt_answer['ts']} in C0GENERAL for U0BOB: openai:gpt-test"
    assert f"{turn} (answer 4)\n" in bot.logs()


def test_a_thread_reply_written_while_its_answer_streams_is_sent_all_of_that_answer(
    bot, slack, models, events
):
    slow = "A slow answer, streamed piece by piece. " * 4

    def slow_then_short(request: RecordedRequest) -> str:
        return slow if len(request.turns()) == 1 else "Short."

    script = ModelScript(reply=slow_then_short, chunk_chars=8, chunk_delay=0.25)
    models.script("claude-test", script)
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude = streaming_first_answer(slack, CHANNEL)

    events.user_says(CHANNEL, BOB, "go on", thread_ts=claude["ts"], to=[bot.events_url])
    wait_until(
        lambda: answers_in(slack, CHANNEL, thread_ts=claude["ts"]), message="a thread placeholder"
    )
    assert not is_final(answers_in(slack, CHANNEL)[0]), "the reply is seen while Claude streams"
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=claude["ts"])
    seconds = float(re.search(r"· (\d+\.\d) s", status_line(reply))[1])  # type: ignore[index]
    assert seconds < 2.0, "its time is the model's, not the wait for the answer above"
    assert body(reply) == "Short."
    assert models.requests_for("claude-test")[-1].turns() == [
        ("user", "Alice: first"),
        ("assistant", slow),
        ("user", "Bob: go on"),
    ]


def test_a_person_of_another_organisation_slack_will_not_describe_is_named_as_their_message_says(
    bot, slack, models, events
):
    """Slack Connect: users.info may not know a person of the other organisation; their
    message's `user_profile` names them. Their mention continues the channel's one chat."""
    slack.add_user("U0ERIN", "Erin Partner", team_id="T0PARTNER", described=False)
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()

    events.user_says(CHANNEL, "U0ERIN", f"{MENTION} and for us?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("claude-test")[-1].turns() == [
        ("user", "Alice: first"),
        ("assistant", reply_of("claude-test", "Alice: first")),
        ("user", "Erin Partner: and for us?"),
    ]
    assert "user_not_found" in bot.logs()


def test_a_second_mention_gets_the_in_chat_answer_and_no_thread_turn(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} first question", to=[bot.events_url])
    claude_answer, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    events.user_says(CHANNEL, BOB, "thread secret", thread_ts=gpt_answer["ts"], to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt_answer["ts"])

    events.user_says(CHANNEL, ALICE, f"{MENTION} second question", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)

    for model_id in MODEL_IDS:
        assert models.requests_for(model_id)[-1].turns() == [
            ("user", "Alice: first question"),
            ("assistant", body(claude_answer)),
            ("user", "Alice: second question"),
        ]
        assert "thread secret" not in str(models.requests_for(model_id)[-1].body)


def test_a_direct_message_needs_no_mention(bot, slack, models, events):
    events.user_says(DM, ALICE, "hi, no mention here", to=[bot.events_url])
    answers = wait_for_answers(slack, DM, 3)
    assert [body(m) for m in answers] == [
        reply_of(model_id, "Alice: hi, no mention here") for model_id in MODEL_IDS
    ]


def test_a_failing_model_says_so_while_the_others_answer(start_bot, slack, models, events):
    models.script(
        "gemini-test",
        ModelScript(error=ModelFault(status=500, message="backend exploded")),
    )
    bot = start_bot(CHORUS_PROVIDER_MAX_ATTEMPTS="2")
    events.user_says(CHANNEL, ALICE, f"{MENTION} are you there?", to=[bot.events_url])

    claude_answer, gpt_answer, gemini_answer = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude_answer) == reply_of("claude-test", "Alice: are you there?")
    assert body(gpt_answer) == reply_of("gpt-test", "Alice: are you there?")
    assert body(gemini_answer) == ""
    line = status_line(gemini_answer)
    assert "Gemini" in line and "500" in line and "Traceback" not in line
    assert len(models.requests_for("gemini-test")) == 2, "retried once, then gave up"


def test_when_the_first_model_fails_the_first_answer_that_succeeded_is_marked_in_chat(
    start_bot, slack, models, events
):
    """GPT's answer is finished (and shown without the mark: Claude may still answer) before
    Claude's model fails: then GPT's answer is the one later rounds see, and says so."""
    models.script("claude-test", ModelScript(error=ModelFault(status=500, message="down")))
    bot = start_bot(CHORUS_PROVIDER_MAX_ATTEMPTS="2", CHORUS_PROVIDER_RETRY_BASE_DELAY="1.5")
    events.user_says(CHANNEL, ALICE, f"{MENTION} are you there?", to=[bot.events_url])

    wait_until(
        lambda: len(answers_in(slack, CHANNEL)) == 3 and is_final(answers_in(slack, CHANNEL)[1]),
        message="GPT has answered",
    )
    assert marked_in_chat(slack, CHANNEL) == []
    claude_answer, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    assert "500" in status_line(claude_answer)
    wait_until(
        lambda: marked_in_chat(slack, CHANNEL) == ["GPT-test"],
        message="GPT's answer marked In Chat once Claude's failed",
    )
    assert body(answers_in(slack, CHANNEL)[1]) == body(gpt_answer)
    assert_the_next_round_sees(gpt_answer, bot, slack, models, events)


def test_state_survives_a_restart(start_bot, slack, models, events):
    bot = start_bot()
    events.user_says(CHANNEL, ALICE, f"{MENTION} remember this", to=[bot.events_url])
    claude_answer, _, _ = wait_for_answers(slack, CHANNEL, 3)
    bot.stop()

    restarted = start_bot()
    events.user_says(
        CHANNEL, BOB, "what did I ask?", thread_ts=claude_answer["ts"], to=[restarted.events_url]
    )
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=claude_answer["ts"])
    assert reply["username"] == "Claude Test"
    assert models.requests_for("claude-test")[-1].turns() == [
        ("user", "Alice: remember this"),
        ("assistant", body(claude_answer)),
        ("user", "Bob: what did I ask?"),
    ]


def test_a_mention_in_a_thread_not_under_an_answer_makes_that_thread_a_chat(
    bot, slack, models, events
):
    root = slack.post_user_message(CHANNEL, ALICE, "a plain message, no bot")
    events.user_says(
        CHANNEL, BOB, f"{MENTION} help here", thread_ts=root["ts"], to=[bot.events_url]
    )
    answers = wait_for_answers(slack, CHANNEL, 3, thread_ts=root["ts"])
    assert [m["username"] for m in answers] == ["Claude Test", "GPT-test", "Gemini Test"]
    assert answers_in(slack, CHANNEL) == []


def test_thread_replies_not_under_an_answer_and_other_bots_are_ignored(bot, slack, models, events):
    root = slack.post_user_message(CHANNEL, ALICE, "just chatting")
    events.user_says(
        CHANNEL, BOB, "no mention in this thread", thread_ts=root["ts"], to=[bot.events_url]
    )
    events.user_says(CHANNEL, ALICE, "no mention at the top", to=[bot.events_url])
    events.bot_posts(CHANNEL, f"{MENTION} I am another bot", to=[bot.events_url])
    # A message that is addressed proves the bot was listening all along.
    events.user_says(CHANNEL, ALICE, f"{MENTION} now you", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    for model_id in MODEL_IDS:
        assert [r.turns() for r in models.requests_for(model_id)] == [[("user", "Alice: now you")]]


def test_model_output_cannot_ping_anyone(bot, slack, models, events):
    models.script(
        "claude-test", ModelScript(reply="<!channel> hey @here and <@U0BOB>, hi @everyone")
    )
    events.user_says(CHANNEL, ALICE, f"{MENTION} say hi", to=[bot.events_url])
    claude_answer, _, _ = wait_for_answers(slack, CHANNEL, 3)
    shown = body(claude_answer) + claude_answer["text"]
    for ping in ("<!channel>", "@here", "<@U0BOB>", "@everyone"):
        assert ping not in shown
    assert body(claude_answer).replace("\u200b", "") == (
        "<!channel> hey @here and <@U0BOB>, hi @everyone"
    )


def test_model_output_cannot_disguise_where_a_link_goes(bot, slack, models, events):
    reply = (
        "Sign in at [acme-bank.com](https://evil.example/phish) or read [the docs](https://x.y)."
    )
    models.script("claude-test", ModelScript(reply=reply, chunk_chars=7))
    events.user_says(CHANNEL, ALICE, f"{MENTION} where do I sign in?", to=[bot.events_url])
    claude_answer, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude_answer) == (
        "Sign in at acme-bank.com (<https://evil.example/phish>) or read [the docs](https://x.y)."
    )


def test_a_table_of_operators_and_python_code_read_as_written(bot, slack, models, events):
    reply = (
        "| Operator | Meaning |\n|---|---|\n| `a || b` | **or** |\n| `x | y` | pipe |\n\n"
        "Add `__init__.py`; 2**10 is 1024."
    )
    models.script("claude-test", ModelScript(reply=reply, chunk_chars=9))
    events.user_says(CHANNEL, ALICE, f"{MENTION} which operators?", to=[bot.events_url])
    claude_answer, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude_answer) == (
        "```\nOperator  Meaning\n--------  -------\na || b    or\nx | y     pipe\n```\n\n"
        "Add `__init__.py`; 2**10 is 1024."
    )
    assert claude_answer["text"] == (
        "Claude Test: Operator Meaning a || b or x | y pipe Add `__init__.py`; 2**10 is 1024."
    )


def test_math_a_model_writes_reads_as_written_in_code(bot, slack, models, events):
    reply = "For $5 a month: $$\n\\sum_{i=1}^n i = \\frac{n(n+1)}{2}\n$$\nwith \\(n \\ge 1\\)."
    models.script("claude-test", ModelScript(reply=reply, chunk_chars=5))
    events.user_says(CHANNEL, ALICE, f"{MENTION} sum of 1..n?", to=[bot.events_url])
    claude_answer, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude_answer) == (
        "For $5 a month: `\\sum_{i=1}^n i = \\frac{n(n+1)}{2}`\nwith `n \\ge 1`."
    )


def test_angle_brackets_and_references_a_model_writes_read_as_meant(bot, slack, models, events):
    reply = (
        "Use `Vec<String>` when a &lt; b &amp;&amp; <@U0BOB> says so.\n\n"
        "| type | note |\n|---|---|\n| `List<T>` | a &lt; b |\n\n"
        "```html\n<br> &amp;\n```"
    )
    models.script("claude-test", ModelScript(reply=reply, chunk_chars=6))
    events.user_says(CHANNEL, ALICE, f"{MENTION} which type?", to=[bot.events_url])
    claude_answer, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude_answer) == (
        "Use `Vec<String>` when a &lt; b &amp;&amp; <\u200b@U0BOB> says so.\n\n"
        "```\ntype     note\n-------  -----\nList<T>  a < b\n```\n\n"
        "```html\n<br> &amp;\n```"
    )
    assert claude_answer["text"] == (
        "Claude Test: Use `Vec&lt;String&gt;` when a &lt; b &amp;&amp; &lt;\u200b@U0BOB&gt; "
        "says so. type note List&lt;T&gt; a &lt; b &lt;br&gt; &amp;amp;"
    )


def test_an_oversized_answer_continues_in_its_thread_and_nothing_is_cut(bot, slack, models, events):
    long_reply = "\n\n".join(f"Paragraph {i}. " + "lorem ipsum " * 150 for i in range(40))
    models.script("gpt-test", ModelScript(reply=long_reply, chunk_chars=4000))
    events.user_says(CHANNEL, ALICE, f"{MENTION} write a lot", to=[bot.events_url])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    continuations = wait_for_answers(slack, CHANNEL, 6, thread_ts=gpt_answer["ts"])
    shown = " ".join(body(m) for m in [gpt_answer, *continuations])
    assert " ".join(shown.split()) == " ".join(long_reply.split())
    assert all("continued" in status_line(m) for m in continuations)
    assert not [c for c in slack.calls if c.response.get("ok") is False]


def test_plus_aliases_pick_the_models_and_unknown_ones_are_explained(bot, slack, models, events):
    events.user_says(
        CHANNEL, ALICE, f"{MENTION}, +gemini +claude only you two", to=[bot.events_url]
    )
    answers = wait_for_answers(slack, CHANNEL, 2)
    assert [m["username"] for m in answers] == ["Gemini Test", "Claude Test"]
    assert models.requests_for("gpt-test") == []
    (request,) = models.requests_for("claude-test")
    assert request.turns() == [("user", "Alice: only you two")]

    events.user_says(CHANNEL, ALICE, f"{MENTION} +grok hello", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="an ephemeral note")
    (note,) = slack.calls_for("chat.postEphemeral")
    assert note.params["user"] == ALICE
    assert "`+grok`" in note.params["text"] and "`+claude`" in note.params["text"]


def test_an_alias_with_no_question_is_told_where_the_question_goes_and_an_unknown_one_is_explained(
    bot, slack, models, events
):
    events.user_says(CHANNEL, ALICE, f"{MENTION} +GPT", to=[bot.events_url])
    events.user_says(CHANNEL, BOB, f"{MENTION} +grok", to=[bot.events_url])
    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="two notes")
    notes = {
        call.params["user"]: call.params["text"] for call in slack.calls_for("chat.postEphemeral")
    }
    assert notes[ALICE] == (
        "Ask your question after `+gpt` in a new message (an edit asks nothing). To have only "
        "this model answer here from now on: `/chorus models gpt`."
    )
    assert notes[BOB].startswith("I don't know `+grok`.")
    assert notes[BOB].endswith(
        " Nothing was asked: send your message again with models from that list (an edit "
        "asks nothing)."
    )
    bot.wait_until_idle()  # both events handled: a round for either would be there by now
    assert answers_in(slack, CHANNEL) == []
    assert all(models.requests_for(model_id) == [] for model_id in MODEL_IDS)


def test_a_leading_alias_in_a_thread_hands_the_thread_to_that_model(bot, slack, models, events):
    gpt_answer = gpt_answer_to_a_question(bot, slack, events)
    thread = gpt_answer["ts"]
    events.user_says(CHANNEL, BOB, "+claude your view?", thread_ts=thread, to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)
    events.user_says(CHANNEL, BOB, "and more?", thread_ts=thread, to=[bot.events_url])
    first, second = wait_for_answers(slack, CHANNEL, 2, thread_ts=thread)
    assert [first["username"], second["username"]] == ["Claude Test", "Claude Test"]
    assert models.requests_for("claude-test")[-1].turns() == [
        ("user", "Alice: question"),
        ("assistant", body(gpt_answer)),
        ("user", "Bob: your view?"),
        ("assistant", body(first)),
        ("user", "Bob: and more?"),
    ]


def test_an_alias_alone_in_a_thread_switches_it_without_asking_a_model(bot, slack, models, events):
    gpt_answer = gpt_answer_to_a_question(bot, slack, events)
    thread = gpt_answer["ts"]
    events.user_says(CHANNEL, BOB, "+claude", thread_ts=thread, to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="a note on the switch")
    (note,) = slack.calls_for("chat.postEphemeral")
    assert (note.params["user"], note.params["thread_ts"]) == (BOB, thread)
    assert note.params["text"] == "From now on *Claude Test* answers in this thread."
    bot.wait_until_idle()  # the event handled: a turn for it would be there by now
    assert len(models.requests_for("claude-test")) == 1, "a switch alone asks no model"
    events.user_says(CHANNEL, ALICE, "+claude", thread_ts=thread, to=[bot.events_url])
    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="a second note")
    again = slack.calls_for("chat.postEphemeral")[1]
    assert again.params["text"] == "*Claude Test* answers in this thread already."

    events.user_says(CHANNEL, BOB, "and now?", thread_ts=thread, to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)
    assert reply["username"] == "Claude Test"
    assert models.requests_for("claude-test")[-1].turns() == [
        ("user", "Alice: question"),
        ("assistant", body(gpt_answer)),
        ("user", "Bob: and now?"),
    ]


def test_help_asked_of_the_bot_in_a_thread_comes_from_the_bot_and_plain_help_from_the_model(
    bot, slack, models, events
):
    thread = gpt_answer_to_a_question(bot, slack, events)["ts"]
    events.user_says(CHANNEL, BOB, f"{MENTION} help?", thread_ts=thread, to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="help was sent")
    (help_call,) = slack.calls_for("chat.postEphemeral")
    assert (help_call.params["user"], help_call.params["thread_ts"]) == (BOB, thread)
    assert "/chorus models" in help_call.params["text"]
    bot.wait_until_idle()  # the event handled: a turn for it would be there by now
    assert len(models.requests_for("gpt-test")) == 1

    events.user_says(CHANNEL, BOB, "help", thread_ts=thread, to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)
    assert body(reply) == reply_of("gpt-test", "Bob: help")


def test_several_aliases_in_a_thread_hand_it_to_the_first_and_say_so(bot, slack, models, events):
    gpt_answer = gpt_answer_to_a_question(bot, slack, events)
    thread = gpt_answer["ts"]
    events.user_says(CHANNEL, BOB, "+claude +gemini yours?", thread_ts=thread, to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)
    assert reply["username"] == "Claude Test"
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="a note on the handover")
    (note,) = slack.calls_for("chat.postEphemeral")
    assert (note.params["user"], note.params["thread_ts"]) == (BOB, thread)
    assert note.params["text"] == (
        "A thread goes on with one model: from now on *Claude Test* answers in this thread, "
        "not *Gemini Test*. To ask several models at once, ask me outside this thread."
    )
    assert len(models.requests_for("gemini-test")) == 1, "Gemini was not asked in the thread"

    events.user_says(CHANNEL, BOB, "+gemini +gpt", thread_ts=thread, to=[bot.events_url])
    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="another note")
    assert (
        "from now on *Gemini Test* answers"
        in slack.calls_for("chat.postEphemeral")[1].params["text"]
    )
    events.user_says(CHANNEL, BOB, "and now?", thread_ts=thread, to=[bot.events_url])
    assert wait_for_answers(slack, CHANNEL, 2, thread_ts=thread)[1]["username"] == "Gemini Test"


def test_a_deleted_message_leaves_the_context(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} keep this", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    deleted = events.user_says(CHANNEL, ALICE, f"{MENTION} oops, private", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    events.user_deletes(CHANNEL, deleted["ts"], to=[bot.events_url])
    # Its answers stay in the channel, but none is marked as the one later rounds see.
    wait_until(
        lambda: marked_in_chat(slack, CHANNEL) == ["Claude Test"], message="the mark taken off"
    )
    events.user_says(CHANNEL, ALICE, f"{MENTION} third", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 9)
    sent = models.requests_for("claude-test")[-1].turns()
    assert [text for _, text in sent if "oops" in text] == []
    assert sent[0] == ("user", "Alice: keep this")


def test_a_deleted_message_with_thread_replies_leaves_the_context(bot, slack, models, events):
    asked = events.user_says(CHANNEL, ALICE, f"{MENTION} oops, private", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    # A person replies under the mention itself (not under an answer): not for the bot, but
    # the message now has replies, so deleting it leaves a tombstone.
    events.user_says(CHANNEL, BOB, "hm", thread_ts=asked["ts"], to=[bot.events_url])
    events.user_deletes(CHANNEL, asked["ts"], to=[bot.events_url])
    wait_for_deletion_seen(bot, asked["ts"])
    events.user_says(CHANNEL, ALICE, f"{MENTION} next", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("claude-test")[-1].turns() == [("user", "Alice: next")]


def test_deleting_a_question_stops_its_answers_still_being_written(bot, slack, models, events):
    stream_slowly(models, "claude-test")
    asked = events.user_says(CHANNEL, ALICE, f"{MENTION} oops, wrong channel", to=[bot.events_url])
    streaming_first_answer(slack, CHANNEL)
    events.user_deletes(CHANNEL, asked["ts"], to=[bot.events_url])

    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)  # stopped, not the whole 8 s story
    assert "Stopped: the message it answers was deleted." in status_line(claude)
    assert SLOW_REPLY.startswith(body(claude)) and 0 < len(body(claude)) < len(SLOW_REPLY)


def test_deleting_a_thread_reply_stops_the_reply_to_it_being_written(bot, slack, models, events):
    gpt_answer = gpt_answer_to_a_question(bot, slack, events)
    stream_slowly(models, "gpt-test")
    thread = gpt_answer["ts"]
    said = events.user_says(CHANNEL, BOB, "oops, not this", thread_ts=thread, to=[bot.events_url])
    wait_until(
        lambda: any(body(reply) for reply in answers_in(slack, CHANNEL, thread)),
        message="the reply writing",
    )
    events.user_deletes(CHANNEL, said["ts"], to=[bot.events_url])

    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)
    assert "Stopped: the message it answers was deleted." in status_line(reply)


def wait_for_deletion_seen(bot, ts: str) -> None:
    wait_until(lambda: f"{ts} in {CHANNEL} was deleted" in bot.logs(), message="deletion seen")


def test_an_answer_an_admin_deleted_leaves_the_context(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude_answer, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    events.user_deletes(CHANNEL, claude_answer["ts"], to=[bot.events_url])
    wait_for_deletion_seen(bot, claude_answer["ts"])
    wait_until(lambda: marked_in_chat(slack, CHANNEL) == ["GPT-test"], message="mark moved")

    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 5)
    # The next answer in model order stands in for it.
    assert models.requests_for("gemini-test")[-1].turns() == [
        ("user", "Alice: first"),
        ("assistant", body(gpt_answer)),
        ("user", "Alice: second"),
    ]


def test_an_answer_an_admin_deletes_while_it_streams_stops_being_written(
    bot, slack, models, events
):
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude_answer = streaming_first_answer(slack, CHANNEL)
    events.user_deletes(CHANNEL, claude_answer["ts"], to=[bot.events_url])

    ended = wait_until(
        lambda: re.search(r"answer 1 by anthropic:claude-test in \w+: (\w+)", bot.logs()),
        message="Claude's answer ended",
    )
    assert ended[1] == "stopped", "not written on to the end of its 8 s story"
    models.hurry()  # the next round's answer from Claude without the 8 s pace
    gpt_answer, _ = wait_for_answers(slack, CHANNEL, 2)
    wait_until(lambda: marked_in_chat(slack, CHANNEL) == ["GPT-test"], message="GPT In Chat")
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 5)
    assert ("assistant", body(gpt_answer)) in models.requests_for("claude-test")[-1].turns()


def test_a_thread_reply_an_admin_deleted_leaves_later_turns(bot, slack, models, events):
    gpt_answer = gpt_answer_to_a_question(bot, slack, events)
    thread = gpt_answer["ts"]
    events.user_says(CHANNEL, BOB, "tell me", thread_ts=thread, to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)
    events.user_deletes(CHANNEL, reply["ts"], to=[bot.events_url])
    wait_for_deletion_seen(bot, reply["ts"])

    events.user_says(CHANNEL, BOB, "again", thread_ts=thread, to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)
    wait_until(lambda: len(models.requests_for("gpt-test")) == 3, message="the second turn")
    turns = models.requests_for("gpt-test")[-1].turns()
    assert ("assistant", body(reply)) not in turns
    assert turns[-2:] == [("user", "Bob: tell me"), ("user", "Bob: again")]


def test_a_retried_event_is_answered_once(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} once please", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    retried = events.last_envelopes
    for envelope in retried:
        response = events.deliver(
            bot.events_url, envelope, retry_num=1, retry_reason="http_timeout"
        )
        assert response.status_code == 200
    events.user_says(CHANNEL, ALICE, f"{MENTION} a later question", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert len(models.requests_for("claude-test")) == 2
    said_again = re.findall(
        r"Slack delivered event (\w+) again \(retry 1, http_timeout\)", bot.logs()
    )
    assert said_again == [envelope["event_id"] for envelope in retried]


def test_an_unsigned_event_is_refused(bot, models):
    response = httpx.post(bot.events_url, json={"type": "event_callback"}, timeout=5)
    assert response.status_code == 401
    assert models.requests == []


def assert_the_next_round_sees(answer: dict, bot, slack, models, events) -> None:
    """Alice's second mention: every model is sent `answer` as the first round's answer."""
    events.user_says(CHANNEL, ALICE, f"{MENTION} second", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    for model_id in MODEL_IDS:
        assert models.requests_for(model_id)[-1].turns()[1] == ("assistant", body(answer))


def test_a_pushpin_makes_another_answer_in_chat_for_the_latest_round(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    _, _, gemini_answer = wait_for_answers(slack, CHANNEL, 3)
    events.user_reacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the choice is confirmed")
    assert (
        "Gemini Test's answer is now In Chat"
        in slack.calls_for("chat.postEphemeral")[0].params["text"]
    )
    wait_until(
        lambda: marked_in_chat(slack, CHANNEL) == ["Gemini Test"],
        message="the In Chat mark moved from Claude's answer to Gemini's",
    )
    assert body(answers_in(slack, CHANNEL)[2]) == body(gemini_answer), "its text is kept"

    assert_the_next_round_sees(gemini_answer, bot, slack, models, events)

    events.user_reacts(CHANNEL, gemini_answer["ts"], ALICE, "pushpin", to=[bot.events_url])
    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="refused")
    assert (
        "only an answer to the latest message"
        in slack.calls_for("chat.postEphemeral")[1].params["text"]
    )
    assert ": chosen\n" in bot.logs() and ": not latest round\n" in bot.logs()


def test_taking_the_pushpin_off_the_picked_answer_undoes_the_pick(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude_answer, _, gemini_answer = wait_for_answers(slack, CHANNEL, 3)
    events.user_reacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the pick is confirmed")

    events.user_unreacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])

    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="undone")
    notice = slack.calls_for("chat.postEphemeral")[1].params
    assert notice["user"] == BOB and notice["text"] == (
        "Gemini Test's answer is no longer In Chat: later messages in this chat will see "
        "Claude Test's answer instead."
    )
    wait_until(
        lambda: marked_in_chat(slack, CHANNEL) == ["Claude Test"],
        message="the In Chat mark back on Claude's answer",
    )
    assert_the_next_round_sees(claude_answer, bot, slack, models, events)


def test_a_pick_undone_while_the_first_model_still_writes_names_its_answer(
    bot, slack, models, events
):
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    wait_until(lambda: len(answers_in(slack, CHANNEL)) == 3, message="placeholders")
    gemini_answer = answers_in(slack, CHANNEL)[2]
    wait_until(lambda: is_final(answers_in(slack, CHANNEL)[2]), message="Gemini's answer")
    events.user_reacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the pick is confirmed")

    events.user_unreacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])

    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="undone")
    assert not is_final(answers_in(slack, CHANNEL)[0]), "Claude still writes"
    assert slack.calls_for("chat.postEphemeral")[1].params["text"] == (
        "Gemini Test's answer is no longer In Chat: later messages in this chat will see "
        "Claude Test's answer instead, once it is written."
    )
    models.hurry()  # the rest of Claude's answer, and the next round, without its 8 s pace
    claude_answer, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert_the_next_round_sees(claude_answer, bot, slack, models, events)


def test_a_pick_undone_on_the_answer_the_usual_choice_falls_to_says_it_stays_in_chat(
    bot, slack, models, events
):
    """GPT's answer was picked while Claude's still streamed; Claude's was stopped since, so
    GPT's is the usual choice too: taking the pushpin off leaves it In Chat, and says so."""
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    wait_until(lambda: len(answers_in(slack, CHANNEL)) == 3, message="placeholders")
    claude_answer, gpt_answer, _ = answers_in(slack, CHANNEL)
    wait_until(lambda: is_final(answers_in(slack, CHANNEL)[1]), message="GPT's answer")
    events.user_reacts(CHANNEL, gpt_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the pick is confirmed")
    events.user_clicks(CHANNEL, claude_answer["ts"], STOP, ALICE, to=bot.events_url)
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)

    events.user_unreacts(CHANNEL, gpt_answer["ts"], BOB, "pushpin", to=[bot.events_url])

    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="undone")
    assert slack.calls_for("chat.postEphemeral")[1].params["text"] == (
        "GPT-test's answer stays In Chat without the pushpin: it would be chosen anyway, so "
        "later messages in this chat will see it."
    )
    assert marked_in_chat(slack, CHANNEL) == ["GPT-test"]
    models.script("claude-test", ModelScript())
    assert_the_next_round_sees(gpt_answer, bot, slack, models, events)


def test_a_pushpin_on_a_continuation_of_an_answer_says_where_to_put_it(bot, slack, models, events):
    gpt_answer, continuations = oversized_gpt_answer(bot, slack, models, events)

    events.user_reacts(CHANNEL, continuations[0]["ts"], BOB, "pushpin", to=[bot.events_url])

    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the pushpin answered")
    (note,) = [call.params for call in slack.calls_for("chat.postEphemeral")]
    assert (note["user"], note["thread_ts"]) == (BOB, gpt_answer["ts"])
    assert note["text"] == (
        "GPT-test's answer can't become In Chat from a continuation of it: put the pushpin on "
        "its first message."
    )
    assert marked_in_chat(slack, CHANNEL) == ["Claude Test"]


def test_a_pick_stays_while_someone_elses_pushpin_is_on_the_answer(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    _, _, gemini_answer = wait_for_answers(slack, CHANNEL, 3)
    for person in (BOB, ALICE):
        events.user_reacts(CHANNEL, gemini_answer["ts"], person, "pushpin", to=[bot.events_url])
    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="both pins")

    events.user_unreacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    bot.wait_until_idle()

    assert len(slack.calls_for("chat.postEphemeral")) == 2
    assert slack.calls_for("reactions.get"), "the bot asked who pins the answer still"
    assert_the_next_round_sees(gemini_answer, bot, slack, models, events)


def test_a_pushpin_counts_only_when_a_person_adds_it(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    claude_answer, _, gemini_answer = wait_for_answers(slack, CHANNEL, 3)
    for other_bot in (OTHER_BOT_USER_ID, slack.bot_user_id):
        events.user_reacts(CHANNEL, gemini_answer["ts"], other_bot, "pushpin", to=[bot.events_url])
    bot.wait_until_idle()
    assert slack.calls_for("chat.postEphemeral") == []

    assert_the_next_round_sees(claude_answer, bot, slack, models, events)


def test_a_pushpin_on_an_answer_still_streaming_makes_it_in_chat_once_finished(
    bot, slack, models, events
):
    models.script("gemini-test", ModelScript(reply="Slow but chosen. " * 20, chunk_delay=0.1))
    events.user_says(CHANNEL, ALICE, f"{MENTION} first", to=[bot.events_url])
    wait_until(
        lambda: len(answers_in(slack, CHANNEL)) == 3 and body(answers_in(slack, CHANNEL)[2]),
        message="Gemini writing",
    )
    gemini_answer = answers_in(slack, CHANNEL)[2]
    assert not is_final(gemini_answer)

    events.user_reacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the choice is answered")
    assert slack.calls_for("chat.postEphemeral")[0].params["text"] == (
        "Gemini Test's answer will be In Chat once it has finished: later messages in this chat "
        "will see it instead."
    )
    models.hurry()  # the rest of Gemini's answer, and the next round, without its pace

    _, _, gemini_answer = wait_for_answers(slack, CHANNEL, 3)
    wait_until(
        lambda: marked_in_chat(slack, CHANNEL) == ["Gemini Test"],
        message="once finished, Gemini's answer carries the In Chat mark, Claude's no longer",
    )
    assert_the_next_round_sees(gemini_answer, bot, slack, models, events)


def test_a_pushpin_on_a_reply_in_a_reply_thread_is_told_why_it_picks_nothing(
    bot, slack, models, events
):
    events.user_says(CHANNEL, ALICE, f"{MENTION} question", to=[bot.events_url])
    claude_answer, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    thread = gpt_answer["ts"]
    events.user_says(CHANNEL, BOB, "tell me more", thread_ts=thread, to=[bot.events_url])
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)

    events.user_reacts(CHANNEL, reply["ts"], BOB, "pushpin", to=[bot.events_url])

    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the pick is answered")
    (notice,) = slack.calls_for("chat.postEphemeral")
    assert notice.params["text"] == (
        "GPT-test's answer can't become In Chat: it is a reply in a thread, and what is said "
        "in a thread stays in that thread."
    )
    assert notice.params["thread_ts"] == thread
    assert notice.params["user"] == BOB
    # The round's In Chat answer is still the first model's.
    events.user_says(CHANNEL, ALICE, f"{MENTION} next", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("gpt-test")[-1].turns()[1] == ("assistant", body(claude_answer))


def test_a_pushpin_in_a_thread_chat_is_answered_in_that_thread(bot, slack, events):
    root = events.user_says(CHANNEL, ALICE, "not for the bot", to=[bot.events_url])
    events.user_says(CHANNEL, ALICE, f"{MENTION} hi", thread_ts=root["ts"], to=[bot.events_url])
    _, _, gemini_answer = wait_for_answers(slack, CHANNEL, 3, thread_ts=root["ts"])

    events.user_reacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])

    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the choice is confirmed")
    (notice,) = slack.calls_for("chat.postEphemeral")
    assert "is now In Chat" in notice.params["text"]
    assert notice.params["thread_ts"] == root["ts"]


def test_a_count_of_zero_tokens_is_shown_and_saved_as_zero(
    bot, slack, models, events, database_url
):
    models.script("gpt-test", ModelScript(usage=(1234, 0)))
    events.user_says(CHANNEL, ALICE, f"{MENTION} +gpt say nothing new", to=[bot.events_url])

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert status_line(answer).startswith("*GPT-test* · "), status_line(answer)
    assert "· 1,234 tokens in, 0 out · " in status_line(answer)
    assert saved_usage(database_url) == [(1234, 0)]
