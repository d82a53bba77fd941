"""Model output is untrusted: no pings, no broken formatting, nothing cut silently."""

import pytest

from bot.chat.in_chat import AnswerStatus
from bot.slack.rendering import (
    MARKDOWN_BLOCK_LIMIT,
    REGENERATE_ACTION,
    STOP_ACTION,
    SlackMessage,
    as_plain_text,
    close_open_fence,
    final_messages,
    neutralise_pings,
    outcome_messages,
    placeholder_message,
    split_markdown,
    streaming_message,
)


def action_ids(message: SlackMessage) -> list[str]:
    return [
        element["action_id"]
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


@pytest.mark.parametrize(
    "dangerous",
    ["<!channel>", "<!here>", "<!everyone>", "<@U123ABC>", "<!subteam^S1|@devs>", "<#C1>"],
)
def test_special_tokens_in_model_output_are_neutralised(dangerous):
    safe = neutralise_pings(f"hey {dangerous} look")
    assert dangerous not in safe
    assert safe.replace("\u200b", "") == f"hey {dangerous} look"


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@Here"])
def test_broadcast_words_cannot_notify(word):
    safe = neutralise_pings(f"ping {word}!")
    assert word not in safe
    assert safe.replace("\u200b", "") == f"ping {word}!"


def test_ordinary_text_and_emails_are_left_alone():
    text = "Mail bob@example.com about 3 < 4 and x > y, `@decorator`"
    assert neutralise_pings(text) == text


def test_long_answers_split_at_paragraphs_within_the_limit_without_losing_text():
    paragraphs = [f"Paragraph {i}: " + "word " * 300 for i in range(30)]
    text = "\n\n".join(paragraphs)
    parts = split_markdown(text, limit=5000)
    assert len(parts) > 1
    assert all(len(part) <= 5000 for part in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())


def test_a_split_inside_a_code_block_closes_and_reopens_the_fence():
    code = "```python\n" + "\n".join(f"print({i})" for i in range(2000)) + "\n```"
    parts = split_markdown("Here:\n\n" + code, limit=3000)
    assert len(parts) > 2
    for part in parts:
        assert part.count("```") % 2 == 0, part[:50]
        assert len(part) <= 3000
    assert parts[1].startswith("```python\n")


def test_unsplittable_text_is_cut_hard_at_the_limit():
    parts = split_markdown("x" * 25_000, limit=10_000)
    assert [len(p) for p in parts] == [9_996, 9_996, 5_008]


def test_streaming_text_shows_an_open_code_block_closed():
    assert close_open_fence("look:\n```js\nlet a") == "look:\n```js\nlet a\n```"
    assert close_open_fence("done\n```\nx\n```") == "done\n```\nx\n```"


def test_oversized_answer_becomes_continuation_messages_each_within_slack_limits():
    text = "\n\n".join("line " * 400 for _ in range(20))  # ~40k characters
    messages = final_messages("GPT-5.1", text, "*GPT-5.1* · 2.0 s")
    assert len(messages) == 4
    for number, message in enumerate(messages, start=1):
        markdown = [b for b in message.blocks if b["type"] == "markdown"]
        assert sum(len(b["text"]) for b in markdown) <= MARKDOWN_BLOCK_LIMIT
        assert len(message.text) <= 400
        assert f"part {number} of 4" in message.blocks[-1]["elements"][0]["text"]
    assert "continued" in messages[1].blocks[-1]["elements"][0]["text"]


def test_streaming_message_of_a_long_answer_stays_within_one_block():
    message = streaming_message("Claude", "y" * 50_000)
    assert len(message.blocks[0]["text"]) <= MARKDOWN_BLOCK_LIMIT
    assert "continues" in message.blocks[1]["elements"][0]["text"]


def test_an_answer_slack_refuses_as_blocks_keeps_its_text_as_plain_text():
    (message,) = final_messages("Gemini", "**bold** answer", "*Gemini* · 1.0 s")
    plain = as_plain_text(message)
    assert plain.blocks == []
    assert plain.text == "**bold** answer\n\n*Gemini* · 1.0 s"


def test_an_answer_can_be_stopped_while_writing_and_regenerated_once_settled():
    assert action_ids(placeholder_message("Claude")) == [STOP_ACTION]
    assert action_ids(streaming_message("Claude", "so far")) == [STOP_ACTION]
    for status, text in [
        (AnswerStatus.DONE, "all"),
        (AnswerStatus.STOPPED, "some"),
        (AnswerStatus.FAILED, ""),
        (AnswerStatus.DONE, "long " * 5000),
    ]:
        first, *continuations = outcome_messages(
            "Claude", status=status, text=text, error="x", seconds=1.0
        )
        assert action_ids(first) == [REGENERATE_ACTION]
        assert all(action_ids(message) == [] for message in continuations)


def test_a_stopped_answer_keeps_its_text_and_says_who_stopped_it():
    (message,) = outcome_messages(
        "Claude", status=AnswerStatus.STOPPED, text="half", error="Stopped by Bob", seconds=2.0
    )
    assert message.blocks[0] == {"type": "markdown", "text": "half"}
    assert "Stopped by Bob" in message.blocks[1]["elements"][0]["text"]
