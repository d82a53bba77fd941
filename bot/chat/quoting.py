"""Words a person, a file name or a provider supplied, quoted back in a line people read."""

from __future__ import annotations

QUOTED_LIMIT = 80  # characters of one quoted word shown; the rest is elided
_MARKUP = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def quoted(text: str) -> str:
    """`text` as a code span it cannot close, without characters Slack reads as markup (a
    notice is Slack mrkdwn), shortened: `<!here>` typed by someone cannot become a ping."""
    if len(text) > QUOTED_LIMIT:
        text = text[: QUOTED_LIMIT - 1] + "…"
    text = text.replace("`", "\u02cb")  # a modifier grave accent: looks alike, closes nothing
    return "`" + "".join(_MARKUP.get(char, char) for char in text) + "`"


# With the full-width stops that end Chinese and Japanese sentences.
_SENTENCE_ENDS = (".", "!", "?", "…", "\u3002", "\uff01", "\uff1f")


def as_sentence(text: str) -> str:
    """`text` ended as a sentence: a full stop added unless it already ends in one, or in
    `!`, `?`, `…` or a full-width stop (words quoted at a line's end, like a name "Jr." or a
    provider's message)."""
    return text if text.endswith(_SENTENCE_ENDS) else f"{text}."
