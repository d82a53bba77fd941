"""`/chorus new`, `/chorus models`, `/chorus prompt`, `/chorus help`, through the real bot."""

from __future__ import annotations

import pytest

from bot.chat.context import BASE_SYSTEM_PROMPT
from tests.doubles.waiting import wait_until
from tests.e2e.scene import ALICE, BOB, CHANNEL, DM, MENTION
from tests.e2e.slack_views import wait_for_answers


def run(events, bot, text: str, *, where: str = CHANNEL) -> dict:
    response = events.user_runs_command(where, ALICE, text, to=bot.events_url)
    assert response.status_code == 200
    return response.json()


def test_chorus_new_starts_a_fresh_chat(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} before", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    reply = run(events, bot, "new")
    assert reply["response_type"] == "in_channel"
    assert reply["text"] == (
        f"<@{ALICE}> started a new chat: earlier messages here are no longer sent to the models."
    )
    assert "INFO bot.channel_commands: new chat started in C0GENERAL by U0ALICE\n" in bot.logs()

    events.user_says(CHANNEL, ALICE, f"{MENTION} after", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert models.requests_for("claude-test")[-1].turns() == [("user", "Alice: after")]


def test_after_chorus_new_the_old_chats_answers_are_neither_made_in_chat_nor_regenerated(
    bot, slack, models, events
):
    events.user_says(CHANNEL, ALICE, f"{MENTION} before", to=[bot.events_url])
    claude_answer, _, gemini_answer = wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()
    assert events.user_runs_command(CHANNEL, ALICE, "new", to=bot.events_url).status_code == 200

    events.user_reacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="the pick is answered")
    assert (
        slack.calls_for("chat.postEphemeral")[-1]
        .params["text"]
        .endswith(
            "can't become In Chat: a new chat was started here since (`/chorus new`), and later "
            "messages no longer see this one."
        )
    )
    events.user_clicks(CHANNEL, claude_answer["ts"], "regenerate_answer", BOB, to=bot.events_url)
    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="refused")
    assert slack.calls_for("chat.postEphemeral")[-1].params["text"] == (
        "A new chat was started here since (`/chorus new`), so that answer can't be "
        "regenerated: ask again."
    )
    assert len(models.requests_for("claude-test")) == 1


def test_chorus_models_sets_and_shows_the_channel_models(bot, slack, models, events):
    reply = run(events, bot, "models gemini claude")
    assert reply["response_type"] == "in_channel"
    assert reply["text"] == (
        f"<@{ALICE}> set this channel's models: Gemini Test (`+gemini`), Claude Test "
        "(`+claude`). No longer answering here: GPT-test (`+gpt`)."
    )
    # Who changed who answers here, for the admin asked why GPT went quiet.
    changed = "models set to google:gemini-test, anthropic:claude-test in C0GENERAL by U0ALICE"
    assert f"INFO bot.channel_commands: {changed}\n" in bot.logs()
    assert run(events, bot, "models")["text"] == (
        "Models in this channel (its own list): Gemini Test (`+gemini`), Claude Test (`+claude`)."
    )

    events.user_says(CHANNEL, ALICE, f"{MENTION} who answers?", to=[bot.events_url])
    answers = wait_for_answers(slack, CHANNEL, 2)
    assert [m["username"] for m in answers] == ["Gemini Test", "Claude Test"]
    assert models.requests_for("gpt-test") == []

    assert run(events, bot, "models Default")["text"] == (
        f"<@{ALICE}> set this channel to the default models: Claude Test (`+claude`), "
        "GPT-test (`+gpt`), Gemini Test (`+gemini`)."
    )
    assert "models set to the default in C0GENERAL by U0ALICE\n" in bot.logs()
    events.user_says(CHANNEL, ALICE, f"{MENTION} and now?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 5)


def test_commands_apply_in_a_channel_shared_with_and_hosted_by_another_organisation(
    bot, slack, models, events
):
    """Slack Connect: the event envelope's `team_id` is the host organisation's, the slash
    command's is ours; both mean this installation's channel."""
    assert "models: Gemini Test" in run(events, bot, "models gemini")["text"]
    message = events.emulator.post_user_message(CHANNEL, ALICE, f"{MENTION} who answers?")
    envelopes = [events.envelope(event) for event in events.events_for(CHANNEL, message)]
    for envelope in envelopes:
        envelope |= {"team_id": "T0HOSTORG", "context_team_id": "T0HOSTORG"}
        envelope["is_ext_shared_channel"] = True
    events.deliver_all(envelopes, [bot.events_url])

    answers = wait_for_answers(slack, CHANNEL, 1)
    assert [m["username"] for m in answers] == ["Gemini Test"]


def test_commands_in_a_direct_message_speak_of_the_dm_not_a_channel(bot, slack, events):
    assert run(events, bot, "models gemini", where=DM)["text"].startswith(
        f"<@{ALICE}> set this DM's models: Gemini Test (`+gemini`)."
    )
    assert run(events, bot, "models", where=DM)["text"] == (
        "Models in this DM (its own list): Gemini Test (`+gemini`)."
    )
    assert run(events, bot, "models default", where=DM)["text"].startswith(
        f"<@{ALICE}> set this DM to the default models:"
    )
    assert run(events, bot, "prompt", where=DM)["text"] == "This DM has no prompt of its own."
    assert "set this DM's prompt" in run(events, bot, "prompt Be brief.", where=DM)["text"]
    assert "This DM's prompt:" in run(events, bot, "prompt", where=DM)["text"]
    assert run(events, bot, "prompt clear", where=DM)["text"] == (
        f"<@{ALICE}> removed this DM's prompt."
    )
    help_in_dm = run(events, bot, "help", where=DM)["text"]
    assert "this DM's models" in help_in_dm and "channel" not in help_in_dm

    events.user_says(DM, ALICE, "help", to=[bot.events_url])
    wait_until(lambda: slack.calls_for("chat.postEphemeral"), message="help in the DM")
    assert "this DM's models" in slack.calls_for("chat.postEphemeral")[0].params["text"]


def test_a_group_dm_is_a_conversation_not_a_channel(bot, slack, events):
    slack.add_channel("G0TRIO", "mpdm-alice--bob--carol-1", "mpim")
    assert run(events, bot, "models claude", where="G0TRIO")["text"].startswith(
        f"<@{ALICE}> set this conversation's models: Claude Test (`+claude`)."
    )
    # Whichever of the mention's two events comes first, the help names the place rightly:
    # the `app_mention` event does not say it comes from a group DM.
    for order in ("message_first", "mention_first"):
        events.user_says("G0TRIO", ALICE, f"{MENTION} help", to=[bot.events_url], order=order)
    wait_until(lambda: len(slack.calls_for("chat.postEphemeral")) == 2, message="help twice")
    for call in slack.calls_for("chat.postEphemeral"):
        help_text = call.params["text"]
        assert "this conversation's models" in help_text and "this channel" not in help_text


def test_unknown_models_and_commands_get_help_only_the_person_sees(bot, events):
    reply = run(events, bot, "models claude mistral")
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == (
        "I don't know `mistral`. Models you can pick: `claude`, `gpt`, `gemini`. This "
        "channel's models are unchanged."
    )
    reply = run(events, bot, "dance")
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("I don't know `/chorus dance`.")


def test_a_plus_or_minus_before_a_model_is_answered_with_what_the_list_now_is(bot, events):
    """`/chorus models` takes the whole list: `+gemini` makes Gemini the only model (said,
    with how to add one), `-gpt` is no model (with how to leave one out)."""
    run(events, bot, "models claude gpt")
    left_out = run(events, bot, "models -gpt")
    assert left_out["response_type"] == "ephemeral"
    assert left_out["text"] == (
        "I don't know `-gpt`. Models you can pick: `claude`, `gpt`, `gemini`. This channel's "
        "models are unchanged. To leave a model out, list the ones to keep: "
        "`/chorus models claude`."
    )
    unknown = run(events, bot, "models +mistral")
    assert unknown["text"].startswith("I don't know `+mistral`. Models you can pick:")

    replaced = run(events, bot, "models +gemini")
    assert replaced["response_type"] == "in_channel"
    assert replaced["text"] == (
        f"<@{ALICE}> set this channel's models: Gemini Test (`+gemini`). No longer answering "
        "here: Claude Test (`+claude`), GPT-test (`+gpt`). To add a model, list them all: "
        "`/chorus models claude gpt gemini`."
    )


def test_chorus_prompt_adds_the_channel_prompt_after_the_workspace_prompt(
    start_bot, slack, models, events
):
    bot = start_bot(CHORUS_SYSTEM_PROMPT="Our team ships Python.")
    reply = run(events, bot, "prompt Answer in <French>, & briefly.")
    assert reply["response_type"] == "in_channel"
    assert reply["text"].endswith(">Answer in &lt;French&gt;, &amp; briefly.")
    assert "Answer in &lt;French&gt;" in run(events, bot, "prompt")["text"]
    # Who changed it, not what it says: that is what someone wrote.
    assert "INFO bot.channel_commands: prompt set in C0GENERAL by U0ALICE\n" in bot.logs()

    events.user_says(CHANNEL, ALICE, f"{MENTION} bonjour", to=[bot.events_url])
    answers = wait_for_answers(slack, CHANNEL, 3)
    for model_id in ("claude-test", "gpt-test", "gemini-test"):
        system = models.requests_for(model_id)[-1].system_prompt()
        assert system == (
            f"{BASE_SYSTEM_PROMPT}\n\nOur team ships Python.\n\nAnswer in <French>, & briefly."
        )
    # A thread under an answer gets it too; another channel does not.
    events.user_says(CHANNEL, ALICE, "encore", thread_ts=answers[0]["ts"], to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 1, thread_ts=answers[0]["ts"])
    assert models.requests_for("claude-test")[-1].system_prompt().endswith("& briefly.")
    slack.add_channel("C0OTHER", "other")
    events.user_says("C0OTHER", ALICE, f"{MENTION} hello", to=[bot.events_url])
    wait_for_answers(slack, "C0OTHER", 3)
    assert "French" not in models.requests_for("claude-test")[-1].system_prompt()

    removed = run(events, bot, "prompt clear")
    assert (removed["text"], removed["response_type"]) == (
        f"<@{ALICE}> removed this channel's prompt.",
        "in_channel",
    )
    assert run(events, bot, "prompt")["text"] == "This channel has no prompt of its own."
    again = run(events, bot, "prompt clear")
    assert (again["text"], again["response_type"]) == (
        "This channel has no prompt of its own.",
        "ephemeral",
    )
    assert bot.logs().count("prompt removed in C0GENERAL by U0ALICE\n") == 1
    events.user_says(CHANNEL, ALICE, f"{MENTION} again", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)
    assert "French" not in models.requests_for("claude-test")[-1].system_prompt()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_command_the_database_holds_up_is_acknowledged_in_time_and_answered_after(
    start_bot, slack, events, proxied_database_url, database_proxy
):
    """Slack shows its own error for a command not acknowledged within 3 s: one the database
    holds up is acknowledged with a word that the reply follows, which the command's
    response_url then gets."""
    bot = start_bot(DATABASE_URL=proxied_database_url)
    bot.wait_until_idle()
    database_proxy.freeze()  # connections stay open; nothing comes back
    try:
        acknowledged = run(events, bot, "new")
    finally:
        database_proxy.thaw()
    assert acknowledged == {
        "response_type": "ephemeral",
        "text": "Still working on `/chorus new`: my database is slow to answer right now. "
        "The reply will follow here.",
    }

    wait_until(lambda: slack.response_url_posts(), message="the reply, by the response_url")
    (reply,) = slack.response_url_posts()
    assert reply["response_type"] == "in_channel"
    assert reply["text"] == (
        f"<@{ALICE}> started a new chat: earlier messages here are no longer sent to the models."
    )
