"""Math in model output: Slack renders none, and as Markdown a formula loses its backslashes
and gains emphasis, so it is shown as code, as the model wrote it."""

import pytest

from bot.slack.latex_math import math_as_code
from bot.slack.rendering import final_messages


def test_inline_math_is_shown_as_code_as_written():
    text = r"The area is $\pi r^2$ and \(a_1 * b_1\) is a product; let \(x\) be the rest."
    assert math_as_code(text) == (
        r"The area is `\pi r^2` and `a_1 * b_1` is a product; let `x` be the rest."
    )


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 to $10 a month.",
        "Plans: $5-$10, or $20/$30 with support.",
        "US$5 and US$6",
        "Set $PATH:$HOME first.",
        "Price: $5 (or $4.50 with a discount).",
        "Price: $$ (moderate), or $$$ at dinner; $$ to $$$$ elsewhere.",
        "Tiers: $, $$, $$$. Their $$$ expensive $$$ menu.",
    ],
)
def test_prices_price_tiers_and_variables_are_not_taken_for_math(text: str):
    assert math_as_code(text) == text


@pytest.mark.parametrize("text", [r"See \[1\] and \[a\].", r"Use \( and \) to group, \(twice\)."])
def test_escaped_brackets_around_prose_are_not_taken_for_math(text: str):
    assert math_as_code(text) == text


def test_display_math_on_lines_of_its_own_is_a_code_block():
    text = "Solve:\n\n$$\n\\int_0^1 x\\,dx = \\frac{1}{2}\n$$\n\nDone."
    assert math_as_code(text) == ("Solve:\n\n```\n\\int_0^1 x\\,dx = \\frac{1}{2}\n```\n\nDone.")


def test_display_math_in_a_list_item_stays_in_it():
    text = "- Energy:\n  \\[\n  E = mc^2 \\\\\n  p = mv\n  \\]\n- Next"
    assert math_as_code(text) == "- Energy:\n  ```\n  E = mc^2 \\\\\n  p = mv\n  ```\n- Next"


def test_display_math_in_a_block_quote_stays_in_it():
    text = "> Note:\n> $$\n> x^2 + y^2\n> $$\n> so $$a >\n> b$$ holds."
    assert math_as_code(text) == "> Note:\n> ```\n> x^2 + y^2\n> ```\n> so `a > b` holds."


def test_display_math_inside_a_sentence_is_a_code_span():
    text = "So $$\\sum_{i=1}^n i\n= \\frac{n(n+1)}{2}$$ holds."
    assert math_as_code(text) == "So `\\sum_{i=1}^n i = \\frac{n(n+1)}{2}` holds."


def test_math_in_code_is_left_as_written():
    text = "Run `echo $x$` or:\n\n```latex\n$$ x^2 $$ and \\(y\\)\n```\n\nthen $z$."
    assert math_as_code(text) == (
        "Run `echo $x$` or:\n\n```latex\n$$ x^2 $$ and \\(y\\)\n```\n\nthen `z`."
    )


@pytest.mark.parametrize(
    "text",
    ["Then $$\n\\int_0^1", "Then \\[ x^2", "and $x^2", "a $$ b\n\n c $$ d", "> $$\n>\n> $$"],
)
def test_math_not_yet_closed_is_left_as_written(text: str):
    """While an answer streams, and past a paragraph's end: no closing, no math."""
    assert math_as_code(text) == text


def test_a_formula_holding_backticks_cannot_close_its_code():
    assert math_as_code("quote $a`b$ here") == "quote ``a`b`` here"
    assert math_as_code("quote $a + b`$ here") == "quote `` a + b` `` here"
    assert math_as_code("$$\nx ```` y\n$$") == "`````\nx ```` y\n`````"


def test_answers_show_their_math_as_code_with_pings_in_it_neutralised():
    (message,) = final_messages("Claude", r"Here $x^{2} @here$ and \(<!channel>\).", "footer")
    assert message.blocks[0]["text"] == "Here `x^{2} @\u200bhere` and `<\u200b!channel>`."
