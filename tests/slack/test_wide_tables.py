"""A table too wide to align reads as a list of its rows: padding every cell to one long cell
would wrap in Slack, so its columns no longer line up, and multiply the answer's size."""

from bot.slack.markdown import ALIGNED_TABLE_WIDTH, tables_as_code
from bot.slack.rendering import final_messages, streaming_message

LONG_NOTE = "This option is best when " + "you need a lot of flexibility and " * 25


def test_one_long_cell_does_not_multiply_the_messages():
    rows = [f"| Option {i} | {LONG_NOTE if i == 0 else 'short note'} | yes |" for i in range(60)]
    table = "| Name | Notes | OK |\n|---|---|---|\n" + "\n".join(rows)

    (message,) = final_messages("GPT", table, "footer")

    shown = message.blocks[0]["text"]
    assert len(shown) < 2 * len(table)
    assert shown.startswith(f"**Option 0**\n- **Notes:** {LONG_NOTE.strip()}\n- **OK:** yes\n\n")
    assert shown.endswith("\n\n**Option 59**\n- **Notes:** short note\n- **OK:** yes")


def test_a_table_as_wide_as_the_budget_is_still_aligned():
    cell = "x" * (ALIGNED_TABLE_WIDTH - 3)
    text = f"| a | b |\n|---|---|\n| 1 | {cell} |"
    assert tables_as_code(text) == f"```\na  b\n-  {'-' * len(cell)}\n1  {cell}\n```"


def test_a_listed_row_keeps_its_markdown_and_skips_empty_cells():
    text = (
        "Compared:\n| Model | Notes | Link | Extra |\n|---|---|---|---|\n"
        f"| `gpt_5` | {LONG_NOTE.strip()} `x \\| y` | |\n"
        "| **claude** | short | [docs](https://x.y) | z |\n"
        "That's all."
    )
    assert tables_as_code(text) == (
        "Compared:\n\n"
        f"**gpt\\_5**\n- **Notes:** {LONG_NOTE.strip()} `x | y`\n\n"
        "**claude**\n- **Notes:** short\n- **Link:** [docs](https://x.y)\n- **Extra:** z\n\n"
        "That's all."
    )


def test_a_wide_header_over_short_cells_stays_as_written_rather_than_repeat_for_every_row():
    header = "|" + "|".join(f"Column heading number {i}" for i in range(10)) + "|"
    rows = ["|" + "x|" * 10] * 20
    table = [header, "|" + "---|" * 10, *rows]
    assert tables_as_code("\n".join(table)) == "\n".join(["```", *table, "```"])


def test_a_wide_table_of_one_column_stays_as_written():
    table = f"| Notes |\n|---|\n| {LONG_NOTE.strip()} |"
    assert tables_as_code(table) == f"```\n{table}\n```"


WIDE_HEADER = "| " + " | ".join(f"Column heading number {i}" for i in range(10)) + " |"


def test_a_wide_table_streamed_up_to_its_delimiter_row_shows_its_header_as_written():
    """While the first row is still to come: a list of no rows would show nothing (and a
    streaming edit of nothing would end the answer's updates)."""
    for delimiter in ("|---|", "|" + "---|" * 10):
        table = f"{WIDE_HEADER}\n{delimiter}"
        assert tables_as_code(f"Compared:\n{table}") == f"Compared:\n```\n{table}\n```"
        assert streaming_message("GPT", table).blocks[0]["text"] == f"```\n{table}\n```"


def test_a_wide_table_of_empty_cells_keeps_its_header():
    table = f"{WIDE_HEADER}\n|{'---|' * 10}\n|{' |' * 10}"
    assert tables_as_code(table) == f"```\n{table}\n```"
