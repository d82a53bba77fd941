"""Files people attach to a message for the bot: which are shown to the models (text, within
size limits) and how they are written into the message the models read."""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.chat.quoting import quoted

# One file at most ~25k tokens, all of a message's files ~50k: room is left for the chat.
MAX_FILE_BYTES = 100_000
MAX_MESSAGE_FILE_BYTES = 200_000

_TEXT_MIMETYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-javascript",
        "application/x-yaml",
        "application/yaml",
        "application/toml",
        "application/sql",
        "application/x-sh",
        "application/x-httpd-php",
        "application/x-python-code",
        "application/graphql",
        "application/ld+json",
    }
)
# Slack's `filetype` of code and text files (a snippet is always one of these).
_TEXT_FILETYPES = frozenset(
    [
        "text",
        "markdown",
        "csv",
        "tsv",
        "json",
        "yaml",
        "xml",
        "html",
        "css",
        "javascript",
        "typescript",
        "jsx",
        "tsx",
        "python",
        "ruby",
        "php",
        "perl",
        "go",
        "rust",
        "java",
        "kotlin",
        "scala",
        "swift",
        "c",
        "cpp",
        "csharp",
        "objc",
        "shell",
        "powershell",
        "sql",
        "diff",
        "dockerfile",
        "toml",
        "ini",
        "properties",
        "lua",
        "r",
        "matlab",
        "haskell",
        "clojure",
        "elixir",
        "erlang",
        "dart",
        "groovy",
        "vb",
        "vbscript",
        "fsharp",
        "ocaml",
        "latex",
        "verilog",
        "vhdl",
        "yml",
        "log",
    ]
)
_BACKTICK_RUN = re.compile(r"`{3,}")
UNREADABLE = "could not be read"
NOT_UTF8 = "not UTF-8 text"


@dataclass(frozen=True, slots=True)
class AttachedFile:
    """A file shared with a message, as Slack describes it."""

    name: str
    mimetype: str = ""
    filetype: str = ""
    size: int = 0
    url: str | None = None  # where the bot can download it (Slack's private URL)
    file_id: str | None = None
    # False for a file shared from another organisation: Slack sends only its id, and what
    # the file is must be looked up before it can be read.
    described: bool = True

    @property
    def is_text(self) -> bool:
        return (
            self.mimetype.startswith("text/")
            or self.mimetype in _TEXT_MIMETYPES
            or self.filetype in _TEXT_FILETYPES
        )


@dataclass(frozen=True, slots=True)
class FileShown:
    """A file whose text the models are sent."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class FileNotShown:
    """A file the models are only told about, and why (None: it is not text)."""

    name: str
    why: str | None = None


FileOutcome = FileShown | FileNotShown


def files_to_read(files: Sequence[AttachedFile]) -> list[AttachedFile | FileNotShown]:
    """Each file, in order: to be read, or not shown and why (not text, too large, no URL).
    Files are read while the message's budget lasts; one over it is left out whole."""
    budget = MAX_MESSAGE_FILE_BYTES
    planned: list[AttachedFile | FileNotShown] = []
    for file in files:
        if not file.described:  # files.info could not say what it is (no files:read scope?)
            planned.append(FileNotShown(file.name, UNREADABLE))
        elif not file.is_text:
            planned.append(FileNotShown(file.name))
        elif file.url is None:
            planned.append(FileNotShown(file.name, UNREADABLE))
        elif file.size > min(MAX_FILE_BYTES, budget):
            planned.append(FileNotShown(file.name, f"too large to show, {_size(file.size)}"))
        else:
            budget -= file.size
            planned.append(file)
    return planned


def file_text(data: bytes | None) -> str | None:
    """The text of a downloaded file, or None when it is not UTF-8 text (or UTF-16 with its
    byte order mark, as Windows saves "Unicode text"), or was not got."""
    if data is None:
        return None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def with_files(text: str, outcomes: Sequence[FileOutcome]) -> str:
    """The message's text followed by the files' text, each in a fenced block under its
    name, and a note naming the files the models are not shown, so they do not answer as
    if they had seen them."""
    parts = [text] if text else []
    for outcome in outcomes:
        if isinstance(outcome, FileShown):
            fence = _fence_for(outcome.text)
            name = _on_one_line(outcome.name)
            parts.append(f"[attached file: {name}]\n{fence}\n{outcome.text.rstrip()}\n{fence}")
    not_shown = [
        _on_one_line(outcome.name) + ("" if outcome.why is None else f" ({outcome.why})")
        for outcome in outcomes
        if isinstance(outcome, FileNotShown)
    ]
    if not_shown:
        parts.append(f"[attached, not shown to you: {', '.join(not_shown)}]")
    return "\n".join(parts)


def files_notice(outcomes: Sequence[FileOutcome]) -> str | None:
    """What the person is told of the text files they attached that the models were not
    shown: those that could not be downloaded, and those that are not UTF-8 text (None when
    there are none)."""
    unread = [o.name for o in outcomes if isinstance(o, FileNotShown) and o.why == UNREADABLE]
    not_utf8 = [o.name for o in outcomes if isinstance(o, FileNotShown) and o.why == NOT_UTF8]
    notices = [unread_files_notice(unread), _not_utf8_notice(not_utf8)]
    return " ".join(notice for notice in notices if notice) or None


def unread_files_notice(names: Sequence[str]) -> str | None:
    """What the person is told when files they attached could not be downloaded (None when
    every file was)."""
    if not names:
        return None
    return (
        f"I couldn't download {_listed(names)} from Slack, so the models were told of "
        f"{_it_or_them(names)} but not shown the text. If this keeps happening, a Slack admin "
        "may need to give the app the `files:read` scope (reinstall it from its manifest)."
    )


def _not_utf8_notice(names: Sequence[str]) -> str | None:
    if not names:
        return None
    it = _it_or_them(names)
    return (
        f"The models were told of {_listed(names)} but not shown the text, which is not "
        f"UTF-8: save {it} as UTF-8 to share {it}."
    )


def _listed(names: Sequence[str]) -> str:
    return ", ".join(quoted(name) for name in names)


def _it_or_them(names: Sequence[str]) -> str:
    return "it" if len(names) == 1 else "them"


def _on_one_line(name: str) -> str:
    """A file's name as the line it heads: a line break in it would end the header early."""
    return " ".join(name.split())


def _fence_for(text: str) -> str:
    """A code fence longer than any backtick run in `text`, so the text cannot close it."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=2)
    return "`" * (longest + 1)


def _size(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(size // 1000, 1)} KB"
