"""A token granted fewer scopes than manifest.yml asks for (an app installed from an older
manifest): Slack refuses what needs a missing scope, and the bot does what it still can, with
one ERROR line naming the scope for the admin."""

from __future__ import annotations

from tests.doubles.app_manifest import manifest_bot_scopes
from tests.doubles.waiting import wait_until
from tests.e2e.scene import BOB, CHANNEL, MODEL_IDS, ask
from tests.e2e.slack_views import answers_in, body, marked_in_chat, status_line, wait_for_answers


def all_but(scope: str) -> list[str]:
    return [granted for granted in manifest_bot_scopes() if granted != scope]


def admin_told_of(logs: str, scope: str) -> list[str]:
    """The ERROR lines telling the admin the app lacks `scope`."""
    return [
        line
        for line in logs.splitlines()
        if " ERROR " in line and f"the app lacks the Slack scope {scope}:" in line
    ]


def test_without_users_read_every_model_answers_and_people_go_by_their_ids(
    start_bot, slack, events
):
    slack.grant_scopes(all_but("users:read"))
    bot = start_bot()
    ask(bot, events, "still there?")

    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [body(m) for m in answers] == [f"{m} answers: U0ALICE: still there?" for m in MODEL_IDS]
    refused = [call for call in slack.calls_for("users.info") if not call.ok]
    assert refused and all(call.response["needed"] == "users:read" for call in refused)
    ask(bot, events, "and now?")
    wait_for_answers(slack, CHANNEL, 6)
    assert len(admin_told_of(bot.logs(), "users:read")) == 1, bot.logs()


def test_without_reactions_read_a_pushpin_still_picks_and_taking_it_off_keeps_the_pick(
    start_bot, slack, events
):
    """Who pins an answer still is not known without reactions.get: the pick stays, rather
    than being undone while someone else may pin it."""
    slack.grant_scopes(all_but("reactions:read"))
    bot = start_bot()
    ask(bot, events, "first")
    _, _, gemini_answer = wait_for_answers(slack, CHANNEL, 3)
    events.user_reacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])
    wait_until(lambda: marked_in_chat(slack, CHANNEL) == ["Gemini Test"], message="picked")

    events.user_unreacts(CHANNEL, gemini_answer["ts"], BOB, "pushpin", to=[bot.events_url])

    wait_until(lambda: admin_told_of(bot.logs(), "reactions:read"), message="the admin told")
    assert [call.response["needed"] for call in slack.calls_for("reactions.get")] == [
        "reactions:read"
    ]
    assert marked_in_chat(slack, CHANNEL) == ["Gemini Test"]
    assert len(slack.calls_for("chat.postEphemeral")) == 1, "only the pick was confirmed"
    ask(bot, events, "next")
    wait_for_answers(slack, CHANNEL, 6)
    assert len(admin_told_of(bot.logs(), "reactions:read")) == 1, bot.logs()


def test_without_chat_write_customize_answers_are_posted_as_the_app_and_name_their_model(
    start_bot, slack, events
):
    """Slack ignores a message's name and icon without the scope (no refusal): each answer
    still says in its status line which model wrote it."""
    slack.grant_scopes(all_but("chat:write.customize"))
    bot = start_bot()
    ask(bot, events)

    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [body(m) for m in answers] == [f"{m} answers: Alice: go" for m in MODEL_IDS]
    assert all("username" not in m and "icon_emoji" not in m for m in answers)
    names = ["Claude Test", "GPT-test", "Gemini Test"]
    assert [status_line(m).split(" · ")[0] for m in answers] == [f"*{n}*" for n in names]
    assert len(answers_in(slack, CHANNEL)) == 3
    assert " ERROR " not in bot.logs()
