"""Model output is untrusted: no pings, no broken formatting, nothing cut silently."""

import re

import pytest

from bot.chat.in_chat import AnswerStatus
from bot.slack import rendering
from bot.slack.markdown import (
    MARKDOWN_BLOCK_LIMIT,
    close_open_fence,
    split_markdown,
    tables_as_code,
)
from bot.slack.rendering import (
    FALLBACK_TEXT_LIMIT,
    MESSAGE_TEXT_LIMIT,
    REGENERATE_ACTION,
    STOP_ACTION,
    SlackMessage,
    as_plain_text,
    as_sections,
    error_message,
    final_messages,
    footer_line,
    neutralise_pings,
    outcome_messages,
    placeholder_message,
    plain_final_messages,
    streaming_message,
)
from tests.doubles.slack_emulator.blocks import block_problems


def action_ids(message: SlackMessage) -> list[str]:
    return [
        element["action_id"]
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


@pytest.mark.parametrize(
    "dangerous",
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<!group>",
        "<@U123ABC>",
        "<!subteam^S1|@devs>",
        "<#C1>",
        # As Markdown shows escaped or entity-encoded text: the same tokens.
        "<\\!here>",
        "<\\@U123ABC>",
        "&lt;!channel&gt;",
        "&lt;#C1&gt;",
        "<&#64;U123ABC>",
        "&lt;&#33;channel&gt;",
        "&lt;&#x21;here&gt;",
        "<&excl;everyone>",
        "<&num;C1>",
        # The word itself written with character references: Markdown shows `<!here>`.
        "<!&#104;ere>",
        "<!her&#101;>",
        "&lt;!c&#x68;annel&gt;",
        "<!&#83;ubteam^S1|@devs>",
    ],
)
def test_special_tokens_in_model_output_are_neutralised(dangerous):
    safe = neutralise_pings(f"hey {dangerous} look")
    assert dangerous not in safe
    assert safe.replace("\u200b", "") == f"hey {dangerous} look"


@pytest.mark.parametrize(
    "word",
    [
        *("@channel", "@here", "@everyone", "@Here", "_@here_", "__@channel__"),
        *("x.@everyone", "-@here", "\\@here", "&#64;here", "&#x40;channel"),
        *("@&#104;ere", "@her&#101;", "&#64;every&#x4F;ne"),
        # Full-width, as whatever reads text normalised reads `@here`.
        *("\uff20here", "\ufe6bchannel", "\uff20\uff45\uff56\uff45\uff52\uff59\uff4f\uff4e\uff45"),
    ],
)
def test_broadcast_words_cannot_notify(word):
    safe = neutralise_pings(f"ping {word}!")
    assert word not in safe
    assert "\u200b" in safe
    assert safe.replace("\u200b", "") == f"ping {word}!"


# Hangul fillers are letters that show as blank space; the others are not letters at all.
@pytest.mark.parametrize(
    "invisible", ["\u3164", "\u115f", "\u1160", "\uffa0", "\u2060", "\ufeff", "\u200b", "\u00ad"]
)
def test_a_broadcast_word_after_an_invisible_character_cannot_notify(invisible):
    assert neutralise_pings(f"ping {invisible}@here!") == f"ping {invisible}@\u200bhere!"


@pytest.mark.parametrize(
    "invisible", ["\u3164", "\u115f", "\u1160", "\uffa0", "\u2060", "\ufeff", "\u200b", "\u00ad"]
)
def test_a_broadcast_word_before_an_invisible_character_cannot_notify(invisible):
    """`@here` then a Hangul filler reads `@here ` as much as a filler then `@here` does."""
    assert neutralise_pings(f"ping @everyone{invisible}!") == f"ping @\u200beveryone{invisible}!"


def markdown_parts(answer: str) -> list[str]:
    """The text of the `markdown` block of each message a finished answer is posted as."""
    messages = final_messages("GPT", answer, "footer")
    return [block["text"] for m in messages for block in m.blocks if block["type"] == "markdown"]


@pytest.mark.parametrize(
    "answer",
    [
        "x" * 12_000 + "@here and the rest",  # a cut before the `@`: `x` | `@here`
        "x" * 11_998 + "&#64;everyone look",  # the cut moves before the entity
        "-" * 11_995 + "@heresy and more",  # a cut inside a longer word: `@here` | `sy`
        "y" * 11_996 + "x@channels" + "z" * 12_000,
    ],
)
def test_a_cut_between_two_messages_makes_no_ping_of_inert_text(answer):
    assert neutralise_pings(answer) == answer  # inert as a whole
    parts = markdown_parts(answer)
    assert len(parts) >= 2
    for part in parts:
        assert neutralise_pings(part) == part, part[:20] + "…" + part[-20:]
        assert len(part) <= MARKDOWN_BLOCK_LIMIT
    assert "".join(parts).replace("\u200b", "") == answer


def test_an_answer_just_over_the_limit_for_its_trailing_spaces_is_one_message():
    (message,) = final_messages("GPT", "a" * 11_999 + "\n" + " " * 20, "footer")
    assert message.blocks[0]["text"] == "a" * 11_999
    assert "part" not in message.blocks[-1]["elements"][0]["text"]


def test_ordinary_text_and_emails_are_left_alone():
    text = "Mail bob@example.com or ops@here.com about 3 < 4 and x > y, `@decorator`"
    assert neutralise_pings(text) == text


def test_code_that_is_not_a_slack_token_is_left_as_written():
    code = "```html\n<!DOCTYPE html>\n<!-- note -->\n<![CDATA[ x ]]>\n```"
    (message,) = final_messages("Claude", code, "footer")
    assert message.blocks[0]["text"] == code


def test_a_table_becomes_aligned_columns_in_a_code_block():
    answer = (
        "Compared:\n\n| Model | **Speed** |\n|:--|--:|\n"
        "| `claude` | fast |\n| gpt-5.1 | <!here> |\n\nThat's all."
    )
    (message,) = final_messages("Claude", answer, "footer")
    assert message.blocks[0]["text"] == (
        "Compared:\n\n```\nModel    Speed\n-------  -------\nclaude   fast\n"
        "gpt-5.1  <\u200b!here>\n```\n\nThat's all."
    )


def test_pipes_in_code_and_in_prose_are_no_table():
    text = "a | b, and:\n```\n| x | y |\n|---|---|\n```\n--- | not after prose"
    (message,) = final_messages("Claude", text, "footer")
    assert message.blocks[0]["text"] == text


def test_long_answers_split_at_paragraphs_within_the_limit_without_losing_text():
    paragraphs = [f"Paragraph {i}: " + "word " * 300 for i in range(30)]
    text = "\n\n".join(paragraphs)
    parts = split_markdown(text, limit=5000)
    assert len(parts) > 1
    assert all(len(part) <= 5000 for part in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
    assert all(set(part.split("\n\n")) <= set(paragraphs) for part in parts)


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
    assert [len(p) for p in parts] == [10_000, 10_000, 5_000]


@pytest.mark.parametrize(
    "character",
    [
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a family: three people joined
        "e\u0301",  # e and a combining acute accent
        "\U0001f1eb\U0001f1f7",  # a flag: two regional indicator letters
        "\u0e01\u0e34",  # Thai: a consonant and a vowel sign above it
        "\U0001f44d\U0001f3fd",  # a thumbs up with a skin tone
    ],
)
def test_a_hard_cut_never_splits_a_character(character):
    text = "a" + character * (12_000 // len(character) + 10)
    parts = split_markdown(text)
    assert len(parts) == 2 and "".join(parts) == text
    assert all(len(part) <= MARKDOWN_BLOCK_LIMIT for part in parts)
    assert parts[1].startswith(character)


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
        "Claude", status=AnswerStatus.STOPPED, text="half", error="Stopped by Bob.", seconds=2.0
    )
    assert message.blocks[0] == {"type": "markdown", "text": "half"}
    assert message.blocks[1]["elements"][0]["text"] == "*Claude* · 2.0 s · Stopped by Bob."


def test_an_answer_stopped_before_any_text_says_who_stopped_it_without_a_warning():
    (message,) = outcome_messages(
        "Claude", status=AnswerStatus.STOPPED, text="", error="Stopped by Bob.", seconds=0.4
    )
    assert status_line(message) == "*Claude* · Stopped by Bob."


def test_an_interrupted_answer_shows_no_time_which_would_be_the_bots_downtime():
    (message,) = outcome_messages(
        "Claude", status=AnswerStatus.INTERRUPTED, text="half", error="The bot stopped.", seconds=62
    )
    assert status_line(message) == "*Claude* · :warning: The bot stopped."


def status_line(message: SlackMessage) -> str:
    (context,) = [block for block in message.blocks if block["type"] == "context"]
    return context["elements"][0]["text"]


def fence_lines(part: str, fence: str) -> list[str]:
    return [line for line in part.split("\n") if line.startswith(fence)]


def words_outside_fence_lines(text: str, fence: str) -> list[str]:
    return [
        word for line in text.split("\n") if not line.startswith(fence) for word in line.split()
    ]


FENCES = ["```", "`````", "~~~~~~~~", "`" * 12]


@pytest.mark.parametrize("fence", FENCES)
@pytest.mark.parametrize("code_starts_at", [0, 500, 11_990, 20_000])
def test_every_part_of_a_long_code_answer_fits_a_markdown_block_and_renders_as_code(
    fence, code_starts_at
):
    prose = "word " * (code_starts_at // 5)
    code = "\n".join(f"print({i})" for i in range(4_000))
    text = f"{prose}\n\n{fence}python\n{code}\n{fence}\n\nThat is all."
    parts = split_markdown(text)
    assert len(parts) > 2
    for number, part in enumerate(parts):
        assert len(part) <= MARKDOWN_BLOCK_LIMIT
        opened_and_closed = fence_lines(part, fence)
        assert len(opened_and_closed) % 2 == 0, (number, opened_and_closed)
        assert not part.startswith("print("), f"part {number} shows code outside a code block"
        if part.startswith(fence):
            assert part.startswith(f"{fence}python\n")
    joined = "\n".join(parts)
    assert words_outside_fence_lines(joined, fence) == words_outside_fence_lines(text, fence)


@pytest.mark.parametrize(("item", "indent"), [("- ", "    "), ("1. ", "   "), ("- ", "\t")])
def test_a_code_block_in_a_list_item_split_between_messages_is_code_in_both(item, indent):
    """The first part closes the fence inside its list item; the next, without the list item
    around it, reopens it unindented (indented four columns, a fence would be text)."""
    answer = f"{item}step\n{indent}```sh\n" + f"{indent}make\n" * 2000 + f"{indent}```\n- next"
    first, second = (message.blocks[0]["text"] for message in final_messages("G", answer, "f"))
    assert first.startswith(f"{item}step\n{indent}```sh\n{indent}make\n")
    assert first.endswith(f"\n{indent}make\n{indent}```")
    assert second.startswith("```sh\nmake\n")
    assert second.endswith("\nmake\n```\n- next")
    assert streaming_message("G", answer).blocks[0]["text"] == first


def test_a_long_list_is_cut_before_an_item_rather_than_before_its_indented_lines():
    """At the top of a message, lines indented four columns would show as a code block."""
    answer = "".join(
        f"{n}. Step {n} " + "word " * 30 + "\n    - detail " + "word " * 20 + "\n    - more\n"
        for n in range(1, 80)
    )
    parts = markdown_parts(answer)
    assert len(parts) == 2
    assert parts[1].startswith(tuple(f"{n}. Step" for n in range(1, 80)))
    assert "\n".join(parts) == answer


def test_lines_after_a_reopened_fence_closes_are_left_as_written():
    answer = "- step\n    ```\n" + "    x\n" * 3000 + "    ```\n\n    more of the step"
    parts = split_markdown(answer)
    assert parts[-1].endswith("\nx\n```\n\n    more of the step")


@pytest.mark.parametrize("fence", FENCES)
@pytest.mark.parametrize("room_left", [0, 1, 4, 20])
def test_a_streaming_answer_inside_an_open_code_block_fits_its_markdown_block(fence, room_left):
    opening = f"{fence}\n"
    answer = opening + "x\n" * ((MARKDOWN_BLOCK_LIMIT - len(opening) - room_left) // 2)
    shown = streaming_message("Claude", answer).blocks[0]["text"]
    assert len(shown) <= MARKDOWN_BLOCK_LIMIT
    assert shown.endswith(f"\n{fence}")


ANSWER_WITH_MARKUP = "use `Vec<String>` & <b>tags</b>"
SHOWN_LITERALLY = "use `Vec&lt;String&gt;` &amp; &lt;b&gt;tags&lt;/b&gt;"


def test_model_text_in_mrkdwn_is_escaped_so_it_shows_literally():
    (final,) = final_messages("Claude", ANSWER_WITH_MARKUP, "*Claude* · 1.0 s")
    assert final.text == f"Claude: {SHOWN_LITERALLY}"
    assert streaming_message("Claude", ANSWER_WITH_MARKUP).text == f"Claude: {SHOWN_LITERALLY}"
    assert as_plain_text(final).text == f"{SHOWN_LITERALLY}\n\n*Claude* · 1.0 s"
    error = error_message("Gemini", f"HTTP 502: {ANSWER_WITH_MARKUP}")
    assert error.text == f"Gemini: HTTP 502: {SHOWN_LITERALLY}"
    assert SHOWN_LITERALLY in status_line(error)


def test_markdown_blocks_keep_standard_markdown_unescaped():
    (final,) = final_messages("Claude", ANSWER_WITH_MARKUP, "*Claude* · 1.0 s")
    assert final.blocks[0]["text"] == ANSWER_WITH_MARKUP


def stopped_answer(text: str, note: str, *, in_chat: bool = False) -> SlackMessage:
    """Claude's answer as shown after a person pressed Stop."""
    (message,) = outcome_messages(
        "Claude", status=AnswerStatus.STOPPED, text=text, error=note, seconds=1.0, in_chat=in_chat
    )
    return message


def test_pings_in_mrkdwn_are_inert_and_escaped_only_once():
    final = stopped_answer("hi <!here> <@U1> @channel & bye", "Stopped by Ann & <Bob>.")
    for mrkdwn in (final.text, as_plain_text(final).text, status_line(final)):
        assert "<!here>" not in mrkdwn and "<@U1>" not in mrkdwn and "@channel" not in mrkdwn
        assert "&amp;lt;" not in mrkdwn and "&amp;amp;" not in mrkdwn
    assert "&lt;\u200b!here&gt; &lt;\u200b@U1&gt; @\u200bchannel &amp; bye" in final.text
    assert "Stopped by Ann &amp; &lt;Bob&gt;." in status_line(final)
    assert as_plain_text(final).text.endswith("Stopped by Ann &amp; &lt;Bob&gt;.")


@pytest.mark.parametrize("span", ["```echo hi```", "```js `x` ```", "   ```ls -la```"])
def test_a_one_line_code_span_opens_no_code_block(span):
    assert close_open_fence(span) == span
    text = ("word " * 100 + f"\n{span}\n") * 20
    parts = split_markdown(text, limit=1_000)
    assert len(parts) > 1
    assert {line for part in parts for line in part.split("\n") if "`" in line} == {span}


def test_a_code_block_the_model_leaves_open_is_closed_before_the_status_line():
    (final,) = final_messages("Claude", "Run:\n```sh\nmake", "*Claude* · 1.0 s")
    assert final.blocks[0]["text"] == "Run:\n```sh\nmake\n```"
    assert as_plain_text(final).text == "Run:\n```sh\nmake\n```\n\n*Claude* · 1.0 s"


def test_a_failed_answer_shows_its_error_line_not_the_text_it_got_before_failing():
    (message,) = outcome_messages(
        "Claude", status=AnswerStatus.FAILED, text="half a", error="HTTP 500", seconds=1.0
    )
    assert [block["type"] for block in message.blocks] == ["context", "actions"]
    assert "HTTP 500" in status_line(message) and "half a" not in message.text


def test_a_cut_off_answer_says_it_was_cut_off_and_why():
    (message,) = outcome_messages(
        "Claude", status=AnswerStatus.CUT_OFF, text="half", error="HTTP 500", seconds=1.0
    )
    assert status_line(message).endswith(":warning: Cut off: HTTP 500")


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            "The stream from Gemini stopped before the answer was complete.",
            "Cut off: the stream from Gemini stopped before the answer was complete.",
        ),
        (
            "Anthropic sent a stream that could not be read ('delta' is missing).",
            "Cut off: Anthropic sent a stream that could not be read ('delta' is missing).",
        ),
    ],
)
def test_a_cut_off_answers_reason_reads_on_after_the_colon(error, shown):
    (message,) = outcome_messages(
        "Gemini", status=AnswerStatus.CUT_OFF, text="half", error=error, seconds=1.0
    )
    assert status_line(message).endswith(f":warning: {shown}")


def test_token_counts_a_provider_reported_only_in_part_show_the_rest_as_unknown():
    assert footer_line("Claude", 1.0, 1204, 312) == "*Claude* · 1.0 s · 1,204 tokens in, 312 out"
    assert footer_line("Claude", 1.0, None, 312) == "*Claude* · 1.0 s · 312 tokens out"
    assert footer_line("Claude", 1.0, 96, None) == "*Claude* · 1.0 s · 96 tokens in"
    assert footer_line("Claude", 1.0, None, None) == "*Claude* · 1.0 s"


def test_the_notification_text_of_a_long_answer_is_cut_to_its_limit():
    message = streaming_message("Claude", "word " * 200)
    assert message.text.startswith("Claude: word")
    assert len(message.text) == len("Claude: ") + FALLBACK_TEXT_LIMIT
    assert message.text.endswith("…")


def test_an_answer_that_grows_when_escaped_still_fits_a_plain_text_message():
    (final,) = final_messages("Claude", "<" * 11_000, "*Claude* · 1.0 s")
    plain = as_plain_text(final).text
    assert len(plain) <= MESSAGE_TEXT_LIMIT
    assert plain.endswith("&lt;…\n\n*Claude* · 1.0 s")


@pytest.mark.parametrize("text", ["<" * 11_000, "a < b " * 2_000, "```\n" + "x = 1\n" * 1_900])
def test_an_answer_moved_into_sections_stays_within_slacks_block_limits(text):
    (final,) = outcome_messages(
        "Claude", status=AnswerStatus.DONE, text=text, error=None, seconds=1
    )
    sections = as_sections(final)
    assert list(block_problems(sections.blocks)) == []
    assert action_ids(sections) == [REGENERATE_ACTION]


def test_a_code_block_split_across_sections_is_closed_and_reopened():
    (final,) = final_messages("Claude", "```\n" + "x = 1\n" * 1_000 + "```", "*Claude* · 1.0 s")
    parts = [b["text"]["text"] for b in as_sections(final).blocks if b["type"] == "section"]
    assert len(parts) == 3
    assert all(part.startswith("```") and part.endswith("```") for part in parts)


@pytest.mark.parametrize("before", range(2_990, 3_001))
def test_a_cut_between_two_sections_makes_no_ping_of_inert_text(before):
    for answer in ("x" * before + "@here and more", "-" * before + "@heresy and more"):
        (final,) = final_messages("Claude", answer, "*Claude* · 1.0 s")
        sections = as_sections(final)
        parts = [b["text"]["text"] for b in sections.blocks if b["type"] == "section"]
        assert len(parts) == 2
        assert [neutralise_pings(part) for part in parts] == parts
        assert list(block_problems(sections.blocks)) == []
        assert "".join(parts).replace("\u200b", "") == answer


def test_an_answer_cut_to_fit_a_plain_text_message_ends_in_no_ping():
    for padding in range(40):
        answer = "<" * 9_990 + "a" * padding + " @heresy"
        (final,) = final_messages("Claude", answer, "*Claude* · 1.0 s")
        plain = as_plain_text(final).text
        assert len(plain) <= MESSAGE_TEXT_LIMIT
        assert neutralise_pings(plain) == plain, plain[-30:]


@pytest.mark.parametrize(
    ("opened", "inner"),
    [("```", "```python"), ("````", "```"), ("~~~", "```"), ("```", "``` x")],
)
def test_a_line_that_cannot_close_the_open_fence_stays_inside_the_code(opened, inner):
    assert close_open_fence(f"{opened}\n{inner}\nx") == f"{opened}\n{inner}\nx\n{opened}"


def test_an_escaped_pipe_in_a_table_cell_shows_as_a_pipe():
    table = "| op | means |\n|---|---|\n| `a \\| b` | or |"
    assert tables_as_code(table) == "```\nop     means\n-----  -----\na | b  or\n```"


def test_a_pipe_inside_code_in_a_table_cell_stays_in_its_cell():
    # Models write operators in code unescaped: `a || b` is one cell, not three.
    table = "| op | means |\n|---|---|\n| `a || b` | or |\n| `x | y` | pipe |\n| `&&` | and |"
    assert tables_as_code(table) == (
        "```\nop      means\n------  -----\na || b  or\nx | y   pipe\n&&      and\n```"
    )


def test_a_lone_backtick_in_a_cell_leaves_the_rows_cells_where_its_table_has_them():
    # Paired with the code in a later cell, it would make one cell of three.
    table = "| char | name | note |\n|---|---|---|\n| ` | backtick | see `x` |"
    assert tables_as_code(table).split("\n")[3] == "`     backtick  see x"


@pytest.mark.parametrize(
    ("cell", "reads"),
    [
        ("`__init__`", "__init__"),
        ("`2**3`", "2**3"),
        ("**kwargs", "**kwargs"),
        ("**bold**", "bold"),
    ],
)
def test_a_table_cell_reads_as_it_would_in_markdown(cell, reads):
    table = f"| name | note |\n|---|---|\n| {cell} | x |"
    assert tables_as_code(table).split("\n")[3] == f"{reads.ljust(4)}  x"


def test_windows_line_breaks_read_like_any_other():
    crlf = "```python\r\nprint(1)\r\n```\r\nsee:\r\n\r\n| a | b |\r\n|---|---|\r\n| 1 | 2 |"

    (message,) = final_messages("Claude", crlf, "footer")

    assert message.blocks[0]["text"] == (
        "```python\nprint(1)\n```\nsee:\n\n```\na  b\n-  -\n1  2\n```"
    )


def test_a_long_answer_with_windows_line_breaks_is_code_only_where_the_model_wrote_code():
    crlf = "```python\r\nprint(1)\r\n```\r\n" + ("plain prose. " * 100 + "\r\n\r\n") * 20

    _, *rest = final_messages("Claude", crlf, "footer")

    assert rest
    assert not any(part.blocks[0]["text"].startswith("```") for part in rest)


def test_a_stream_that_begins_with_blank_lines_sends_no_blank_markdown_block():
    message = streaming_message("Claude", "\n\n")
    assert [block["type"] for block in message.blocks] == ["context", "actions"]


def test_the_notification_text_reads_the_answer_plainly():
    answer = "## Title\n**bold** and __this__ [the docs](https://x.y/z)\n```python\nprint(1)\n```"
    assert (
        streaming_message("Claude", answer).text == "Claude: Title bold and this the docs print(1)"
    )


def test_the_notification_text_reads_bold_across_a_line_break_but_not_across_paragraphs():
    answer = "**Short answer: yes,\nin most cases.** Details:\n\n**not\n\nbold** here"
    assert streaming_message("Claude", answer).text == (
        "Claude: Short answer: yes, in most cases. Details: **not bold** here"
    )


def test_the_notification_text_leaves_out_rules_and_a_tables_rule():
    answer = "Compared\n===\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n---\n\n***\n\nDone - - ok"
    assert streaming_message("Claude", answer).text == "Claude: Compared a b 1 2 Done - - ok"


def test_the_notification_text_leaves_out_a_spaced_rule_whatever_else_the_answer_holds():
    assert streaming_message("Claude", "Intro\n* * *\nMore").text == "Claude: Intro More"


def test_the_notification_text_reads_an_image_as_its_alt_text():
    answer = "Wow! ![Architecture diagram](https://x.y/a.png) shows it."
    assert streaming_message("Claude", answer).text == "Claude: Wow! Architecture diagram shows it."


def test_the_notification_text_keeps_code_and_a_lone_double_star_as_written():
    answer = (
        "Add `__init__.py`, pass `**kwargs`; 2**10 is 1024. **Run `make`** then:\n"
        '```python\n# entry point\nif __name__ == "__main__":\n    main(**options)\n```'
    )
    assert streaming_message("Claude", answer).text == (
        "Claude: Add `__init__.py`, pass `**kwargs`; 2**10 is 1024. Run `make` then: "
        '# entry point if __name__ == "__main__": main(**options)'
    )


@pytest.mark.parametrize("text", ["x" * 2_998 + "&" * 10 + "y" * 3_000, "<&>" * 3_000])
def test_an_answer_moved_into_sections_never_splits_an_escaped_character(text):
    (final,) = final_messages("Claude", text, "*Claude* · 1.0 s")
    parts = [b["text"]["text"] for b in as_sections(final).blocks if b["type"] == "section"]
    assert len(parts) > 1
    assert all("&" not in re.sub("&(?:amp|lt|gt);", "", part) for part in parts)
    assert "".join(parts) == text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_the_in_chat_answer_says_so_after_its_figures_and_any_note():
    assert footer_line("Claude", 1.0, 96, 12, in_chat=True) == (
        "*Claude* · 1.0 s · 96 tokens in, 12 out · :pushpin: In Chat"
    )
    stopped = stopped_answer("half", "Stopped by Bob.", in_chat=True)
    assert status_line(stopped) == "*Claude* · 1.0 s · Stopped by Bob. · :pushpin: In Chat"
    first, second = outcome_messages(
        "Claude", status=AnswerStatus.DONE, text="x" * 13_000, error=None, seconds=1.0, in_chat=True
    )
    assert status_line(first).endswith(":pushpin: In Chat · part 1 of 2")
    assert "In Chat" not in status_line(second)


EXAMPLE_OF_A_FENCE_IN_A_LIST = (
    "Write the step like this:\n\n```markdown\n1. Install it:\n    ```bash\n    npm i acme\n"
    "    ```\n```\n\n"
)


def test_a_fence_line_indented_four_more_than_the_open_fence_is_its_code_not_its_end():
    """A Markdown example of a fence in a list item: its fence lines are the code's text, and
    the example's own fence closes it, so what follows is prose (its links checked, its
    tables aligned), with no fence added after it."""
    answer = EXAMPLE_OF_A_FENCE_IN_A_LIST + (
        "Then log in at [acme.com](https://evil.example).\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    (message,) = final_messages("GPT", answer, "footer")
    assert message.blocks[0]["text"] == EXAMPLE_OF_A_FENCE_IN_A_LIST + (
        "Then log in at acme.com (<https://evil.example>).\n\n```\na  b\n-  -\n1  2\n```"
    )
    assert close_open_fence("```\n    ```\nx") == "```\n    ```\nx\n```"


def test_prose_after_a_markdown_example_of_a_fence_in_a_list_is_split_as_prose():
    answer = EXAMPLE_OF_A_FENCE_IN_A_LIST + "\n\n".join(["word " * 200] * 20)
    parts = markdown_parts(answer)
    assert len(parts) == 2
    assert parts[0].startswith(EXAMPLE_OF_A_FENCE_IN_A_LIST)
    assert parts[1].startswith("word") and "```" not in parts[0][-100:] + parts[1]


@pytest.mark.parametrize("item", ["1. ", "- ", "* ", "2) ", "- 1. "])
def test_a_fence_opened_on_a_list_items_own_line_is_closed_by_its_own_fence(item):
    """`1. ```bash`: the fence opens after the item's markers and closes in the item, so no
    fence is added after the answer (Slack would show an empty code block)."""
    indent = " " * len(item)
    answer = f"Steps:\n\n{item}```bash\n{indent}npm i acme\n{indent}```\n\nDone."
    (message,) = final_messages("GPT", answer, "footer")
    assert message.blocks[0]["text"] == answer


def test_a_fence_opened_on_a_list_items_own_line_is_reopened_alone_in_the_next_message():
    code = "".join(f"  print({i})\n" for i in range(3_000))
    parts = markdown_parts(f"- ```python\n{code}  ```\n- done")
    assert len(parts) > 1
    assert parts[0].startswith("- ```python\n  print(0)\n") and parts[0].endswith("\n  ```")
    assert parts[1].startswith("```python\nprint(")
    assert parts[-1].endswith("\n```\n- done")


def test_the_notification_text_shows_what_a_character_reference_stands_for_outside_code():
    # As Markdown reads it (and the markdown block shows it): `&lt;` is `<`, but not in code.
    answer = (
        "AT&amp;T: a &lt; b &#38;&#x26; c &gt; d; `&lt;br&gt;` is HTML, &bogus; is no name\n"
        "```html\n&amp;nbsp;\n```"
    )
    assert streaming_message("Claude", answer).text == (
        "Claude: AT&amp;T: a &lt; b &amp;&amp; c &gt; d; `&amp;lt;br&amp;gt;` is HTML, "
        "&amp;bogus; is no name &amp;amp;nbsp;"
    )


@pytest.mark.parametrize(
    "written", ["&lt;!here&gt;", "&#60;@U1&#62;", "&lt;!subteam^S1&gt;", "&#x3C;#C1&#x3E;"]
)
def test_a_ping_written_as_character_references_stays_inert_in_the_notification_text(written):
    text = streaming_message("Claude", f"hi {written} there").text
    assert text.startswith("Claude: hi &lt;\u200b")
    assert "<" not in text and "&amp;" not in text


def test_the_notification_text_leaves_a_reference_to_link_syntax_as_written():
    # `&#91;a](u)` is text in Markdown, no link: read before the links, it would read `a`.
    answer = "&#91;a](https://x.y) and &#33;[b](https://x.y)"
    assert streaming_message("Claude", answer).text == (
        "Claude: &amp;#91;a](https://x.y) and &amp;#33;b"
    )


def test_the_notification_text_keeps_code_that_a_reference_would_run_into():
    assert streaming_message("Claude", "a &`lt`; b").text == "Claude: a &amp;`lt`; b"


def test_the_notification_text_reads_a_br_outside_code_as_a_space():
    answer = "Pros: quick<br>Cons: loud<BR />Cost: low; `a<br>b` is code"
    assert streaming_message("Claude", answer).text == (
        "Claude: Pros: quick Cons: loud Cost: low; `a&lt;br&gt;b` is code"
    )


def test_a_character_reference_in_a_table_cell_shows_its_character_in_the_aligned_table():
    # In a table `&lt;` shows `<`; in the code block it becomes, it would show `&lt;`.
    table = "| expr | note |\n|---|---|\n| a &lt; b &amp;&amp; c | `&lt;` is &quot;<&quot; |"
    assert tables_as_code(table) == (
        '```\nexpr        note\n----------  -----------\na < b && c  &lt; is "<"\n```'
    )


def test_a_ping_written_as_references_in_a_table_cell_stays_inert_in_the_aligned_table():
    table = "| who | why |\n|---|---|\n| &lt;!here&gt; &#60;@U1&#62; | x |"
    (final,) = final_messages("Claude", table, "*Claude* · 1.0 s")
    assert final.blocks[0]["text"].split("\n")[3] == "<\u200b!here> <\u200b@U1>  x"


def test_a_line_break_written_as_a_reference_in_a_table_cell_keeps_its_row_whole():
    table = "| a | b |\n|---|---|\n| 1&#10;2 | 3 |"
    assert tables_as_code(table) == "```\na        b\n-------  -\n1&#10;2  3\n```"


def test_a_cell_broken_with_br_takes_a_line_for_each_part_in_the_aligned_table():
    # Models break a cell's lines with HTML's `<br>`, which a code block would show as written.
    table = (
        "| Option | Notes |\n|---|---|\n"
        "| fast | Pros: quick<br>Cons: loud<BR/>Cost: low |\n| slow | cheap <br /> quiet |"
    )
    assert tables_as_code(table) == (
        "```\nOption  Notes\n------  -----------\nfast    Pros: quick\n        Cons: loud\n"
        "        Cost: low\nslow    cheap\n        quiet\n```"
    )


def test_a_br_in_code_in_a_table_cell_stays_as_written():
    table = "| tag | use |\n|---|---|\n| `<br>` | a line break |"
    assert tables_as_code(table) == ("```\ntag   use\n----  ------------\n<br>  a line break\n```")


ANGLE_BRACKET_TEXT = [
    "Vec<String>",
    "a < b && c > d",
    "line<br>break",
    '<div class="x">hi</div>',
    "List<Map<K, V>>",
    "x -> y",
    "fn id<T>(x: T)",
    "<https://example.com|label>",
    "<mailto:a@b.c>",
    "<!date^1392734382^{date_short}|Feb 18, 2014>",
    "<#C123>",
    "<@U123>",
    "<!subteam^S123>",
    "<!here>",
]
PINGS = re.compile(r"(?:<|&lt;)(?:[@#]|!(?:here|channel|everyone|subteam))")


@pytest.mark.parametrize("written", ANGLE_BRACKET_TEXT)
@pytest.mark.parametrize(
    "place",
    [
        "{}",
        "`{}`",
        "```\n{}\n```",
        "# {}",
        "| a | b |\n|---|---|\n| {} | `{}` |",
        "[{}](https://x.y)",
    ],
)
def test_angle_brackets_a_model_writes_reach_every_field_whole_and_ping_no_one(written, place):
    in_cell = written.replace("|", "\\|") if place.startswith("|") else written  # as in GFM
    answer = f"See:\n\n{place.format(in_cell, in_cell)}\n\nnow"
    (final,) = final_messages("Claude", answer, "*Claude* · 1.0 s")
    block = final.blocks[0]["text"]
    sections = as_sections(final).blocks[0]["text"]["text"]
    plain = as_plain_text(final).text
    assert not PINGS.search(block) and not PINGS.search(sections) and not PINGS.search(plain)
    assert not PINGS.search(final.text) and not PINGS.search(streaming_message("C", answer).text)
    for mrkdwn in (final.text, sections, plain):
        assert "<" not in mrkdwn and ">" not in mrkdwn.replace("&gt;", "")
        assert not re.search("&amp;(?:lt|gt|amp);", mrkdwn)
    assert written in block.replace("\u200b", "") or "](https://x.y)" in place
    shown = final.text.replace("\u200b", "").replace("&lt;", "<").replace("&gt;", ">")
    shown = shown.replace("&amp;", "&")
    assert written in shown or written.replace("<br>", " ") in shown  # outside code: a space


def unescaped(mrkdwn: str) -> str:
    """Escaped mrkdwn as the text it shows."""
    shown = mrkdwn.replace("\u200b", "").replace("&lt;", "<").replace("&gt;", ">")
    return shown.replace("&amp;", "&")


# Awkward for any renderer: pings, a table, code, characters mrkdwn escapes, long lines.
HOSTILE_ANSWER = (
    "Hi <!here> and @channel, <@U123ABC> & <#C1>.\r\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    + "```\nx = 1 < 2 && 3 > 2\n```\n"
    + ("& " * 400 + "\n")
    + "word " * 4_000
    + "x" * 1_300
    + " @heresy <!channel>"
)


def plain_sections(message: SlackMessage) -> list[str]:
    return [block["text"]["text"] for block in message.blocks if block["type"] == "section"]


def test_an_answer_the_renderer_fails_on_is_still_shown_whole_as_plain_text(monkeypatch, caplog):
    def renderer_fault(*_args: object) -> list[SlackMessage]:
        raise ValueError("a renderer fault")

    monkeypatch.setattr(rendering, "final_messages", renderer_fault)
    messages = outcome_messages(
        "Claude", status=AnswerStatus.DONE, text=HOSTILE_ANSWER, error=None, seconds=1.5
    )
    assert "Claude's answer could not be rendered" in caplog.text
    assert "a renderer fault" in caplog.text  # its traceback
    assert len(messages) > 1
    assert action_ids(messages[0]) == [REGENERATE_ACTION]
    assert messages[0].blocks[-2]["elements"][0]["text"].startswith("*Claude* · 1.5 s")
    assert messages[0].text.startswith("Claude: Hi &lt;\u200b!here&gt; and @\u200bchannel")
    shown = []
    for message in messages:
        assert list(block_problems(message.blocks)) == []
        for section in plain_sections(message):
            assert neutralise_pings(section) == section
            assert "<" not in section and ">" not in section  # no link, mention or ping
            shown.append(unescaped(section))
    assert "".join(shown) == HOSTILE_ANSWER.replace("\r\n", "\n")


def test_a_plainly_shown_answer_slack_refuses_in_blocks_keeps_its_text_as_plain_text():
    first, *_ = plain_final_messages("Claude", HOSTILE_ANSWER[:3_000], "*Claude* · 1.0 s")
    assert as_sections(first) == first  # no Markdown to move into sections
    plain = as_plain_text(first)
    assert plain.blocks == []
    assert unescaped(plain.text) == HOSTILE_ANSWER[:3_000].replace("\r\n", "\n") + (
        "\n\n*Claude* · 1.0 s"
    )
    assert neutralise_pings(plain.text) == plain.text


def test_an_empty_answer_shown_plainly_is_its_status_line():
    (message,) = plain_final_messages("Claude", " \n", "*Claude* · 1.0 s")
    assert message.blocks == [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Claude* · 1.0 s"}]}
    ]
    assert message.text == "Claude"
