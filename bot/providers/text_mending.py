"""Answer text from a provider's JSON strings, made fit to store and show: JSON may carry
UTF-16 surrogates (`"\\ud83d"`) and NULs that neither SQLite, PostgreSQL nor Slack take."""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_HIGH_SURROGATES = ("\ud800", "\udbff")


class TextMender:
    """Mends a stream's text pieces in order: a surrogate pair split across two pieces is
    joined into its character, a lone surrogate becomes U+FFFD, NULs are dropped."""

    def __init__(self) -> None:
        self._held = ""  # a high surrogate whose other half may open the next piece

    def mend(self, piece: str) -> str:
        text, self._held = self._held + piece, ""
        low, high = _HIGH_SURROGATES
        if text and low <= text[-1] <= high:
            text, self._held = text[:-1], text[-1]
        return mended(text)

    def rest(self) -> str:
        """What is still held once the stream has ended."""
        held, self._held = self._held, ""
        return mended(held)


def mended(text: str) -> str:
    """`text` with its surrogate pairs joined, lone surrogates as U+FFFD and no NULs."""
    text = text.replace("\x00", "")
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
