"""Text built to make a pattern backtrack (by a model asked to repeat it, or by a person) still
renders as it should, in one pass: the bot is one event loop, and a render that took seconds
would hold up every other answer and event. The inputs are large enough that the quadratic or
cubic scans these tests replaced would make this module take seconds to minutes."""

from bot.slack.markdown import tables_as_code


def test_a_long_row_that_almost_looks_like_a_table_delimiter_is_no_table():
    text = "| a | b |\n" + " " * 1200 + "-" + " " * 1200 + "|x"
    assert tables_as_code(text) == text


def test_a_delimiter_row_padded_with_spaces_is_still_a_table_delimiter():
    text = "| a | b |\n|" + " " * 5000 + ":--" + " " * 5000 + "| --: |\n| 1 | 2 |"
    assert tables_as_code(text) == "```\na  b\n-  -\n1  2\n```"
