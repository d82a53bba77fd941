"""A person edits a message the bot answered: later rounds and turns are sent the new text,
as they would read it in Slack, and the edit itself asks nothing."""

from __future__ import annotations

import pytest

from tests.doubles.waiting import wait_until
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION
from tests.e2e.slack_views import answers_in, wait_for_answers
from tests.e2e.stored_answers import kept_edits


def wait_for_edit_seen(bot, ts: str) -> None:
    wait_until(lambda: f"{ts} in {CHANNEL} was edited" in bot.logs(), message="edit not seen")


def test_an_edited_question_reaches_later_rounds_as_edited(bot, slack, models, events):
    asked = events.user_says(CHANNEL, ALICE, f"{MENTION} what is 2+3?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)

    events.user_edits(CHANNEL, asked["ts"], f"{MENTION} what is 2+2?", to=[bot.events_url])
    wait_for_edit_seen(bot, asked["ts"])
    events.user_says(CHANNEL, ALICE, f"{MENTION} and doubled?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)

    turns = models.requests_for("claude-test")[-1].turns()
    assert turns[0] == ("user", "Alice: what is 2+2?")
    assert turns[-1] == ("user", "Alice: and doubled?")
    assert len(models.requests_for("gpt-test")) == 2, "the edit itself asked nothing"
    assert len(answers_in(slack, CHANNEL)) == 6


@pytest.mark.parametrize("while_recorded", [False, True], ids=["after", "while recorded"])
def test_an_edited_thread_reply_reaches_later_turns_as_edited(
    bot, slack, models, events, while_recorded
):
    events.user_says(CHANNEL, ALICE, f"{MENTION} name a colour", to=[bot.events_url])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    thread = gpt_answer["ts"]
    if while_recorded:
        slack.delay("users.info", 0.5)  # Bob's name is looked up for the first time
    reply = events.user_says(CHANNEL, BOB, "why tht?", thread_ts=thread, to=[bot.events_url])
    if not while_recorded:
        wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)

    events.user_edits(CHANNEL, reply["ts"], "why that one?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 1, thread_ts=thread)
    wait_for_edit_seen(bot, reply["ts"])
    events.user_says(CHANNEL, BOB, "thanks", thread_ts=thread, to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 2, thread_ts=thread)

    turns = models.requests_for("gpt-test")[-1].turns()
    assert ("user", "Bob: why that one?") in turns
    assert ("user", "Bob: why tht?") not in turns


def test_an_edit_down_to_the_mention_takes_the_words_out_of_later_rounds(
    bot, slack, models, events
):
    asked = events.user_says(
        CHANNEL, ALICE, f"{MENTION} my password is hunter2", to=[bot.events_url]
    )
    wait_for_answers(slack, CHANNEL, 3)

    events.user_edits(CHANNEL, asked["ts"], f"{MENTION} +gpt", to=[bot.events_url])
    wait_for_edit_seen(bot, asked["ts"])
    events.user_says(CHANNEL, ALICE, f"{MENTION} next", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)

    said = [text for role, text in models.requests_for("gpt-test")[-1].turns() if role == "user"]
    assert said == ["Alice: (no text)", "Alice: next"]


def test_an_edit_that_adds_the_mention_asks_nothing(bot, slack, models, events):
    """Slack sends `app_mention` again, marked edited, for such an edit: it is not a new message."""
    said = events.user_says(CHANNEL, ALICE, "what is 2+2?", to=[bot.events_url])
    events.user_edits(CHANNEL, said["ts"], f"{MENTION} what is 2+2?", to=[bot.events_url])
    events.user_says(CHANNEL, ALICE, f"{MENTION} hello", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()  # every event handled: a round for the edit would be there by now

    assert len(answers_in(slack, CHANNEL)) == 3
    (request,) = models.requests_for("gpt-test")
    assert request.turns() == [("user", "Alice: hello")]
    wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="the edit answered")
    (note,) = slack.ephemeral_messages(CHANNEL)
    assert note["user"] == ALICE
    assert note["text"] == (
        "I answer new messages, not edits: send it again as a new message to ask."
    )


def test_an_edit_mending_an_unknown_alias_is_told_it_asks_nothing(bot, slack, models, events):
    said = events.user_says(CHANNEL, ALICE, f"{MENTION} +gtp hi", to=[bot.events_url])
    wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="the unknown alias explained")
    events.user_edits(CHANNEL, said["ts"], f"{MENTION} +gpt hi", to=[bot.events_url])
    wait_until(lambda: len(slack.ephemeral_messages(CHANNEL)) == 2, message="the edit answered")
    assert "send it again as a new message" in slack.ephemeral_messages(CHANNEL)[1]["text"]
    bot.wait_until_idle()  # the edit handled: a round for it would be there by now
    assert models.requests == []


def test_an_edit_of_an_answered_message_gets_no_note(bot, slack, models, events):
    asked = events.user_says(CHANNEL, ALICE, f"{MENTION} what is 2+3?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    events.user_edits(CHANNEL, asked["ts"], f"{MENTION} what is 2+2?", to=[bot.events_url])
    wait_for_edit_seen(bot, asked["ts"])
    bot.wait_until_idle()
    assert slack.ephemeral_messages(CHANNEL) == []


def test_an_edit_made_while_its_message_is_recorded_is_not_lost(bot, slack, models, events):
    """Alice fixes a typo at once, while the bot still looks her name up (a slow users.info)."""
    slack.delay("users.info", 0.5)
    asked = events.user_says(CHANNEL, ALICE, f"{MENTION} what is 2+3?", to=[bot.events_url])
    events.user_edits(CHANNEL, asked["ts"], f"{MENTION} what is 2+2?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    wait_for_edit_seen(bot, asked["ts"])
    events.user_says(CHANNEL, ALICE, f"{MENTION} and doubled?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)

    assert models.requests_for("gpt-test")[-1].turns()[0] == ("user", "Alice: what is 2+2?")
    bot.wait_until_idle()
    assert slack.ephemeral_messages(CHANNEL) == [], "her message was answered"


def test_an_edit_slack_delivers_before_its_message_is_what_the_models_answer(
    bot, slack, models, events, database_url
):
    """A retried event can come after the edit of its message: the message is answered as
    it reads in Slack."""
    asked = dict(slack.post_user_message(CHANNEL, ALICE, f"{MENTION} what is 2+3?"))
    events.user_edits(CHANNEL, asked["ts"], f"{MENTION} what is 2+2?", to=[bot.events_url])
    wait_for_edit_seen(bot, asked["ts"])
    late = [events.envelope(event) for event in events.events_for(CHANNEL, asked)]
    events.deliver_all(late, [bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)
    events.user_says(CHANNEL, ALICE, f"{MENTION} and doubled?", to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 6)

    first, second = models.requests_for("claude-test")
    assert first.turns() == [("user", "Alice: what is 2+2?")]
    assert second.turns()[0] == ("user", "Alice: what is 2+2?")
    bot.wait_until_idle()
    assert slack.ephemeral_messages(CHANNEL) == []
    assert kept_edits(database_url) == [], "taken by the round"


def test_an_edit_of_chatter_in_a_thread_leaves_nothing_behind(
    bot, slack, models, events, database_url
):
    """A reply in a thread under a person's message is for the bot only with a mention."""
    root = events.user_says(CHANNEL, ALICE, "lunch?", to=[bot.events_url])
    said = events.user_says(CHANNEL, BOB, "pizza", thread_ts=root["ts"], to=[bot.events_url])
    events.user_edits(CHANNEL, said["ts"], "pizza again", to=[bot.events_url])
    bot.wait_until_idle()
    assert kept_edits(database_url) == []
    assert models.requests == [] and slack.ephemeral_messages(CHANNEL) == []
