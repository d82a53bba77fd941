"""A team upgrading the bot keeps its conversations: the bot, started on a database an older
revision wrote (it migrates at start-up), goes on with the chat held there as if it had
written it (SPEC §3): threads under old answers, new rounds, and the buttons on old answers."""

from __future__ import annotations

import pytest

from tests.doubles.bot_process import BotProcess
from tests.doubles.waiting import wait_until
from tests.e2e.answer_buttons import REGENERATE
from tests.e2e.conftest import StartBot
from tests.e2e.old_chats import (
    CAT_QUESTION,
    CLAUDE_COLOUR,
    COLOUR_QUESTION,
    GEMINI_CAT,
    GEMINI_SHORTER,
    GPT_CAT,
    GPT_COLOUR,
    GPT_WHY,
    OLD_ERAS,
    SHORTER,
    WHY,
    OldChat,
    SchemaEra,
    hold_an_old_chat,
)
from tests.e2e.scene import ALICE, BOB, CHANNEL, MODEL_IDS, ask
from tests.e2e.slack_views import Message, body, is_final, status_line, wait_for_answers

ROUND_1 = [("user", f"Alice: {COLOUR_QUESTION}"), ("assistant", CLAUDE_COLOUR)]
ROUND_2_ASKED = ("user", f"Alice: {CAT_QUESTION}")
ANOTHER_ROUND = "and a name for a dog?"


@pytest.fixture(params=OLD_ERAS, ids=lambda era: f"from-{era.revision}")
def old_chat(request: pytest.FixtureRequest, slack, database_url: str) -> OldChat:
    era: SchemaEra = request.param
    return hold_an_old_chat(slack, database_url, era)


@pytest.fixture
def upgraded_bot(old_chat: OldChat, start_bot: StartBot) -> BotProcess:
    """The bot of today, started on the old database."""
    return start_bot()


def marks_of(slack, answers: tuple[str, ...]) -> list[bool]:
    """Which of these answers show the In Chat mark."""
    return [
        status_line(slack.message(CHANNEL, ts)).endswith(" · :pushpin: In Chat") for ts in answers
    ]


def shown_whole(slack, ts: str) -> Message | None:
    """The answer at `ts`, once it shows its final text."""
    message = slack.message(CHANNEL, ts)
    return message if body(message) and is_final(message) else None


def next_round_sees(bot, slack, models, events, cat_in_chat: str) -> None:
    """Alice asks again: every model is sent both old rounds, each with its In Chat answer."""
    ask(bot, events, ANOTHER_ROUND)
    wait_for_answers(slack, CHANNEL, 9)
    for model_id in MODEL_IDS:
        assert models.requests_for(model_id)[-1].turns() == [
            *ROUND_1,
            ROUND_2_ASKED,
            ("assistant", cat_in_chat),
            ("user", f"Alice: {ANOTHER_ROUND}"),
        ]


def test_a_reply_under_an_old_answer_is_answered_by_its_model_with_its_thread_context(
    old_chat, upgraded_bot, slack, models, events
):
    gemini_cat = old_chat.cat_answers[2]
    events.user_says(
        CHANNEL, BOB, "and in French?", thread_ts=gemini_cat, to=[upgraded_bot.events_url]
    )

    _, reply = wait_for_answers(slack, CHANNEL, 2, thread_ts=gemini_cat)
    assert reply["username"] == "Gemini Test"
    (request,) = models.requests_for("gemini-test")
    assert request.turns() == [
        *ROUND_1,  # the thread's snapshot
        ROUND_2_ASKED,
        ("assistant", GEMINI_CAT),
        ("user", f"Bob: {SHORTER}"),
        ("assistant", GEMINI_SHORTER),
        ("user", "Bob: and in French?"),
    ]
    assert models.requests_for("claude-test") == models.requests_for("gpt-test") == []


def test_a_reply_in_the_thread_of_an_old_long_answer_is_sent_all_of_it(
    old_chat, upgraded_bot, slack, models, events
):
    gpt_colour = old_chat.colour_answers[1]
    events.user_says(
        CHANNEL, BOB, "anything else?", thread_ts=gpt_colour, to=[upgraded_bot.events_url]
    )

    shown_before = len(old_chat.gpt_colour_continuations) + 1  # and GPT's reply to Bob
    *_, reply = wait_for_answers(slack, CHANNEL, shown_before + 1, thread_ts=gpt_colour)
    assert reply["username"] == "GPT-test"
    (request,) = models.requests_for("gpt-test")
    assert request.turns() == [
        ("user", f"Alice: {COLOUR_QUESTION}"),
        ("assistant", GPT_COLOUR),
        ("user", f"Bob: {WHY}"),
        ("assistant", GPT_WHY),
        ("user", "Bob: anything else?"),
    ]


def test_a_new_mention_sends_every_model_the_old_rounds_in_chat_answers(
    old_chat, upgraded_bot, slack, models, events
):
    next_round_sees(upgraded_bot, slack, models, events, cat_in_chat=GPT_CAT)

    # The upgrade left nothing owed: no old answer was taken for one to show again.
    edited = {call.params["ts"] for call in slack.calls_for("chat.update")}
    assert edited.isdisjoint([*old_chat.colour_answers, *old_chat.cat_answers])
    logs = upgraded_bot.logs()
    assert " WARNING " not in logs and "Traceback" not in logs


def test_the_first_answer_of_an_old_round_regenerated_after_its_failure_becomes_in_chat(
    old_chat, upgraded_bot, slack, models, events
):
    """Claude failed in the latest round, so GPT's answer was In Chat: Claude's, regenerated,
    takes its place, as it does in a round the upgraded bot held from the start."""
    claude_cat = old_chat.cat_answers[0]
    events.user_clicks(CHANNEL, claude_cat, REGENERATE, BOB, to=upgraded_bot.events_url)

    regenerated = wait_until(
        lambda: shown_whole(slack, claude_cat), message="Claude's answer regenerated"
    )
    assert models.requests_for("claude-test")[-1].turns() == [*ROUND_1, ROUND_2_ASKED]
    upgraded_bot.wait_until_idle()
    next_round_sees(upgraded_bot, slack, models, events, cat_in_chat=body(regenerated))
    assert marks_of(slack, old_chat.cat_answers) == [True, False, False]


def test_pushpins_on_old_answers_pick_and_explain_as_on_new_ones(
    old_chat, upgraded_bot, slack, models, events
):
    def notes() -> list[str]:
        return [call.params["text"] for call in slack.calls_for("chat.postEphemeral")]

    continuation = old_chat.gpt_colour_continuations[0]
    events.user_reacts(CHANNEL, continuation, BOB, "pushpin", to=[upgraded_bot.events_url])
    wait_until(notes, message="the pushpin on a continuation answered")
    assert notes() == [
        "GPT-test's answer can't become In Chat from a continuation of it: put the pushpin on "
        "its first message."
    ]

    gemini_cat = old_chat.cat_answers[2]
    events.user_reacts(CHANNEL, gemini_cat, ALICE, "pushpin", to=[upgraded_bot.events_url])
    wait_until(lambda: len(notes()) == 2, message="the pick confirmed")
    assert "Gemini Test's answer is now In Chat" in notes()[1]
    wait_until(
        lambda: marks_of(slack, old_chat.cat_answers) == [False, False, True],
        message="the In Chat mark on Gemini's answer alone",
    )
    upgraded_bot.wait_until_idle()
    next_round_sees(upgraded_bot, slack, models, events, cat_in_chat=GEMINI_CAT)
