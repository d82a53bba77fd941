"""The renderer's promises hold for any answer a model may write, not only for the cases
written out in test_rendering.py: answers made of Markdown's awkward pieces (unclosed fences
and spans, tables, math, entities, pings in every disguise, odd Unicode), short and far over
Slack's limits, render without an error, in blocks Slack accepts in every form the bot may
send, and ping no one; plain prose reaches Slack whole, however many parts it takes."""

import html
import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.in_chat import AnswerStatus
from bot.slack.rendering import (
    MESSAGE_TEXT_LIMIT,
    SlackMessage,
    as_plain_text,
    as_sections,
    final_messages,
    outcome_messages,
    streaming_message,
)
from tests.doubles.slack_emulator.blocks import block_problems

# The same examples on every run: a failure found once is found again, in CI too.
PROPERTIES = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PIECES = [
    *["**", "__", "*", "_", "`", "``", "```", "~~~", "~~", "\\", "\\|", "|", "|:-:|", "---"],
    *["\n", "\n\n", "\r\n", "\r", " ", "    ", "\t", "#", "## ", "> ", "- ", "1. ", "===", "+"],
    *["[", "]", "(", ")", "](", "[docs](https://bank.com)", "[x](http://a.b)", "bank.com"],
    *["<", ">", "&", "&amp;", "&lt;", "&#64;", "&#x40;", "&commat;", "<br>", "!"],
    *["@here", "@channel", "@everyone", "@h", "ere", "\uff20here", "\u3164", "\u200b"],
    *["<!here>", "<!channel>", "<@U123>", "<#C1>", "<!subteam^S1>", "<https://a.b|label>"],
    *["| a | b |\n|---|---|\n", "| 1 | `2` |\n", "<mailto:a@b.c>", "http://evil.example"],
    *["$", "$$", "\\(", "\\)", "\\[", "\\]", "$x^2$", "\\frac{a}{b}", "$5"],
    *["x", "word", "abc def", "é", "e\u0301", "👍🏽", "👨‍👩‍👧", "\U0001d54f", "ﷺ", "\x00"],
]
markdown_soup = st.lists(st.sampled_from(PIECES), min_size=1, max_size=120).map("".join)


def repeated_to(text: str, size: int) -> str:
    return text * (size // len(text) + 1)


# Long answers: one shape repeated past the 12,000 characters one message can show.
longer_than_a_message = st.integers(10_000, 50_000)
answers = st.one_of(markdown_soup, st.builds(repeated_to, markdown_soup, longer_than_a_message))

settled_statuses = st.sampled_from([status for status in AnswerStatus if status.settled])

PINGS = re.compile(r"<(?:[@#]|!(?:here|channel|everyone|subteam|group|usergroup))", re.I)
BROADCAST = re.compile(r"(?<![\w])@(?:here|channel|everyone)(?!\w)", re.I)


def every_form(message: SlackMessage) -> list[SlackMessage]:
    """The message as posted, and as the bot sends it again when Slack refuses that."""
    return [message, as_sections(message), as_plain_text(message)]


def shown_texts(message: SlackMessage) -> list[str]:
    """What Slack reads for tokens and shows: the text and each text in the blocks, with
    character references and full-width letters read as the characters they show."""
    texts = [message.text]
    for block in message.blocks:
        text = block.get("text")
        texts.append(text["text"] if isinstance(text, dict) else str(text or ""))
        texts += [element.get("text", "") for element in block.get("elements", [])]
    return [unicodedata.normalize("NFKC", html.unescape(str(text))) for text in texts]


def assert_slack_takes_it_and_it_pings_no_one(message: SlackMessage) -> None:
    for form in every_form(message):
        assert list(block_problems(form.blocks)) == []
        assert len(form.text) <= MESSAGE_TEXT_LIMIT
        for text in shown_texts(form):
            assert not PINGS.search(text), text
            assert not BROADCAST.search(text), text


@PROPERTIES
@given(answer=answers, status=settled_statuses, in_chat=st.booleans())
def test_any_settled_answer_renders_in_blocks_slack_takes_and_pings_no_one(answer, status, in_chat):
    messages = outcome_messages(
        "GPT", status=status, text=answer, error="@here <!channel>", seconds=1.5, in_chat=in_chat
    )
    assert messages
    for message in messages:
        assert_slack_takes_it_and_it_pings_no_one(message)


@PROPERTIES
@given(answer=answers)
def test_any_answer_so_far_renders_in_blocks_slack_takes_and_pings_no_one(answer):
    assert_slack_takes_it_and_it_pings_no_one(streaming_message("GPT", answer))


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.,?", min_size=1, max_size=30)
gaps = st.sampled_from([" ", "\n", "\n\n", "  "])
prose = st.lists(st.tuples(words, gaps), min_size=1, max_size=200).map(
    lambda pairs: "".join(word + gap for word, gap in pairs)
)
long_prose = st.one_of(prose, st.builds(repeated_to, prose, longer_than_a_message))


@PROPERTIES
@given(answer=long_prose)
def test_prose_of_any_length_reaches_slack_whole_in_order(answer):
    parts = final_messages("GPT", answer, "*GPT* · 1.0 s")
    shown = " ".join(
        block["text"] for part in parts for block in part.blocks if block["type"] == "markdown"
    )
    assert shown.split() == answer.split()
