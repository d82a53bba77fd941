"""Text built to make a pattern backtrack (by a model asked to repeat it, or by a person) still
renders as it should, in one pass: the bot is one event loop, and a render that took seconds
would hold up every other answer and event. The inputs are large enough that the quadratic or
cubic scans these tests replaced would make this module take seconds to minutes."""

from bot.slack.inbound import readable_text
from bot.slack.links import unspoofed_links
from bot.slack.markdown import tables_as_code
from bot.slack.rendering import FALLBACK_TEXT_LIMIT, final_messages, streaming_message
from tests.slack.known_names import KnownNames


def test_a_long_row_that_almost_looks_like_a_table_delimiter_is_no_table():
    text = "| a | b |\n" + " " * 1200 + "-" + " " * 1200 + "|x"
    assert tables_as_code(text) == text


def test_a_delimiter_row_padded_with_spaces_is_still_a_table_delimiter():
    text = "| a | b |\n|" + " " * 5000 + ":--" + " " * 5000 + "| --: |\n| 1 | 2 |"
    assert tables_as_code(text) == "```\na  b\n-  -\n1  2\n```"


def test_a_cell_of_backticks_shows_them_as_written_in_a_fence_they_cannot_close():
    text = "| " + "`" * 8000 + " |\n|---|\n| x |"
    assert tables_as_code(text) == f"~~~\n{text}\n~~~"


def test_code_spans_in_a_cell_close_at_a_run_of_as_many_backticks():
    text = "| a |\n|---|\n| ``x ` y`` and `z` and ``` |"
    reads = "x ` y and z and ```"  # the last run is never closed: as written
    assert tables_as_code(text) == f"````\na\n{'-' * len(reads)}\n{reads}\n````"


def test_a_cell_of_bold_markers_that_never_close_shows_them_as_written():
    cell = ("**a " * 6000).strip()
    text = f"| a | b |\n|---|---|\n| {cell} | x |"
    shown = cell.replace("*", "\\*")
    assert tables_as_code(text) == f"**{shown}**\n- **b:** x"


def test_bold_in_a_cell_loses_its_markers_but_not_inside_a_word():
    text = "| a |\n|---|\n| **b** __c__ d__e__ ** f** |"
    reads = "b c d__e__ ** f**"
    assert tables_as_code(text) == f"```\na\n{'-' * len(reads)}\n{reads}\n```"


def test_a_reply_of_opening_brackets_is_its_own_notification_text():
    reply = "[" * 24_000
    shown = "GPT: " + "[" * (FALLBACK_TEXT_LIMIT - 1) + "…"
    assert streaming_message("GPT", reply).text == shown
    assert [message.text for message in final_messages("GPT", reply, "footer")] == [shown] * 2


def test_links_that_never_close_read_as_written_and_a_closed_one_as_its_label():
    unclosed = "[a](x" * 2_400
    reply = f"[the docs](https://x.y/z) {unclosed}"
    shown = f"the docs {unclosed}"[: FALLBACK_TEXT_LIMIT - 1] + "…"
    assert streaming_message("GPT", reply).text == f"GPT: {shown}"


def test_runs_of_links_that_never_finish_are_left_as_written():
    runs = ("[acme.com](x", '[acme.com](x "', "[acme.com](x (", "<https://x|acme.com")
    # Targets whose parentheses nest, one level more in each link, never closed.
    runs += ("[acme.com](x(", "[acme.com](x()", "[acme.com](<", "[acme.com](\\(")
    runs += ("&lt;https://x|acme.com", "&lt;https://x&#124;acme.com&", "&#60;https://x&vert;")
    for run in runs:
        assert unspoofed_links(run * 6_000) == run * 6_000


def test_the_innermost_brackets_make_a_link_label():
    assert streaming_message("GPT", "[see [the docs](https://x.y/z)").text == "GPT: [see the docs"


async def test_a_message_of_spaces_around_the_bot_mention_reads_as_its_words():
    text = " " * 40_000 + "<@U0BOT>\t" + " " * 40_000 + "hi" + " " * 40_000
    assert await readable_text(text, bot_user_id="U0BOT", names=KnownNames()) == "hi"


async def test_the_bot_mention_leaves_one_space_between_the_words_beside_it():
    text = "ask <@U0BOT|chorus>\t about <@U0BOB> \t<@U0BOT> today"
    readable = await readable_text(text, bot_user_id="U0BOT", names=KnownNames())
    assert readable == "ask about @U0BOB today"


def test_a_long_label_is_read_for_the_hosts_it_names_in_one_pass():
    for label in ("a" * 20_000, "a." * 10_000, "a-" * 10_000, "a.a@" * 5_000, "\u00b7a" * 10_000):
        link = f"[{label}](https://evil.example)"
        assert unspoofed_links(link) in (link, f"{label} (<https://evil.example>)")
