"""Files attached to a message for the bot: text files reach the models, others are named."""

from __future__ import annotations

import codecs

from tests.doubles import SharedFile
from tests.doubles.waiting import wait_until
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION, MODEL_IDS
from tests.e2e.slack_views import answers_in, body, status_line, wait_for_answers

CODE = "def add(a, b):\n    return a - b\n"


def alice_asks_with(bot, slack, events, question: str, *files: SharedFile | str) -> None:
    """Alice mentions the bot with files attached, and the three answers land."""
    events.user_says(CHANNEL, ALICE, f"{MENTION} {question}", files=files, to=[bot.events_url])
    wait_for_answers(slack, CHANNEL, 3)


def test_a_text_file_reaches_every_model_and_an_image_is_named(bot, slack, models, events):
    alice_asks_with(
        bot, slack, events, "why does this fail?", SharedFile("add.py", CODE), "screenshot.png"
    )

    expected = (
        "Alice: why does this fail?\n"
        f"[attached file: add.py]\n```\n{CODE.rstrip()}\n```\n"
        "[attached, not shown to you: screenshot.png]"
    )
    for model_id in MODEL_IDS:
        (request,) = models.requests_for(model_id)
        assert request.turns() == [("user", expected)]
    (download,) = slack.file_downloads()
    assert download.authorized and download.path.endswith("/add.py")


def test_a_file_with_a_nul_character_is_answered_without_it(bot, slack, models, events):
    # A UTF-16 file may hold U+0000, which PostgreSQL cannot store in text.
    data = codecs.BOM_UTF16_LE + "a,b\x00\r\n1,2\r\n".encode("utf-16-le")
    alice_asks_with(bot, slack, events, "sum?", SharedFile("t.csv", data, mimetype="text/csv"))

    (request,) = models.requests_for("claude-test")
    assert request.turns() == [
        ("user", "Alice: sum?\n[attached file: t.csv]\n```\na,b\r\n1,2\n```")
    ]
    assert "Traceback" not in bot.logs()


def test_a_file_from_another_organisation_is_looked_up_and_read(bot, slack, models, events):
    theirs = SharedFile("their-plan.md", "# Plan\nShip it.", external=True)
    alice_asks_with(bot, slack, events, "thoughts?", theirs)

    (request,) = models.requests_for("claude-test")
    assert request.turns() == [
        ("user", "Alice: thoughts?\n[attached file: their-plan.md]\n```\n# Plan\nShip it.\n```")
    ]


def test_a_file_that_cannot_be_downloaded_is_named_and_the_person_told_once(
    bot, slack, models, events
):
    alice_asks_with(bot, slack, events, "summarise", SharedFile("notes.txt", "x", deleted=True))

    (request,) = models.requests_for("gpt-test")
    assert request.turns() == [
        ("user", "Alice: summarise\n[attached, not shown to you: notes.txt (could not be read)]")
    ]
    bot.wait_until_idle()  # the notice goes out beside the answers: all of them sent by now
    (notice,) = slack.ephemeral_messages(CHANNEL)
    assert notice["user"] == ALICE
    assert "couldn't download `notes.txt`" in notice["text"] and "files:read" in notice["text"]
    assert "not downloaded: HTTP 404" in bot.logs()


def test_a_notice_slack_is_slow_to_take_holds_up_no_answer(start_bot, slack, models, events):
    # Answers are kept from recovery (as silent ones) from the moment they are recorded,
    # however long Slack takes with the notice meanwhile.
    bot = start_bot(CHORUS_STALE_ANSWER_SECONDS="1")
    slack.inject("chat.postEphemeral", times=1, retry_after=3)
    unreadable = SharedFile("notes.txt", "x", deleted=True)
    events.user_says(
        CHANNEL, ALICE, f"{MENTION} +claude summarise", files=[unreadable], to=[bot.events_url]
    )

    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert body(answer).startswith("claude-test answers: Alice: summarise\n[attached, not shown")
    wait_until(lambda: slack.ephemeral_messages(CHANNEL), message="the notice")
    bot.wait_until_idle()
    (answer,) = answers_in(slack, CHANNEL)
    assert "stopped before this answer was finished" not in status_line(answer)


def test_a_snippet_in_a_reply_thread_reaches_the_threads_model(bot, slack, models, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} I will paste the log", to=[bot.events_url])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)
    log = "ERROR: disk full\n" * 3

    events.user_says(
        CHANNEL,
        BOB,
        "",
        thread_ts=gpt_answer["ts"],
        files=[SharedFile("Untitled", log, mimetype="text/plain", snippet=True)],
        to=[bot.events_url],
    )
    wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt_answer["ts"])

    last_turn = models.requests_for("gpt-test")[-1].turns()[-1]
    assert last_turn == ("user", f"Bob: [attached file: Untitled]\n```\n{log.rstrip()}\n```")
