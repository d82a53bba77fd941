"""Messages people forward to the bot, or link to: Slack carries each beside the person's own
words (often none), and the models are sent it quoted under its author, so they answer about
what was shared rather than guess at it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SharedMessage:
    """A forwarded (or linked) message as Slack describes it (its text still in Slack markup)."""

    text: str
    author_id: str | None = None
    author_name: str | None = None  # what Slack names the author with, when it does
    link: str | None = None  # the message's permalink
    file_names: tuple[str, ...] = ()  # its files, which the models are not shown
    forwarded: bool = True  # False: a link to it that Slack showed in the message


@dataclass(frozen=True, slots=True)
class ReadableShare:
    """A forwarded message as the models read it: who wrote it, and its readable text."""

    author: str
    text: str
    link: str | None = None
    file_names: tuple[str, ...] = ()
    forwarded: bool = True


def with_shared_messages(text: str, shares: Sequence[ReadableShare]) -> str:
    """The person's words, then each message they forwarded (or linked to) quoted under its
    author (`[forwarded message from Bob (link)]` and `> ` lines), its files named as not
    shown."""
    parts = [text] if text else []
    for share in shares:
        author = _on_one_line(share.author)
        source = f"{author} ({share.link})" if share.link else author
        heading = f"[{'forwarded' if share.forwarded else 'linked'} message from {source}"
        if share.file_names:
            names = ", ".join(_on_one_line(name) for name in share.file_names)
            heading += f", with files not shown to you: {names}"
        lines = share.text.splitlines() if share.text else []
        parts.append("\n".join([heading + "]", *(f"> {line}".rstrip() for line in lines)]))
    return "\n".join(parts)


def _on_one_line(name: str) -> str:
    """A name as part of the heading line: a line break in it would let what follows pass for
    the person's own words, outside the quote."""
    return " ".join(name.split())
