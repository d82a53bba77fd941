"""Model output to Slack messages: neutralised pings, honest links, Slack's size limits, the
blocks we post.

The one place that turns Markdown into what Slack shows. Answers go into `markdown` blocks
(Slack renders standard Markdown there, but for tables and math: see `bot.slack.markdown` and
`bot.slack.latex_math`), the status line into a `context` block.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.chat.in_chat import AnswerStatus
from bot.slack.latex_math import math_as_code
from bot.slack.links import unspoofed_links
from bot.slack.markdown import (
    CHARACTER_REFERENCE,
    HTML_LINE_BREAK,
    MARKDOWN_BLOCK_LIMIT,
    bold_markers,
    character_read,
    code_regions,
    markdown_forms,
    split_markdown,
    tables_as_code,
)

MESSAGE_TEXT_LIMIT = 40_000  # Slack: a message's `text`
FALLBACK_TEXT_LIMIT = 300  # the notification / screen-reader text beside the blocks
SECTION_TEXT_LIMIT = 3_000  # Slack: a section block's text
STOP_ACTION = "stop_answer"  # the Stop button on a streaming answer
REGENERATE_ACTION = "regenerate_answer"  # the Regenerate button on a settled answer
IN_CHAT_MARK = ":pushpin: In Chat"  # on the answer later rounds see (the pushpin picks one)
_ZWSP = "\u200b"
# A part starts with at most one ping its cut made (`@here`) and ends with at most one.
_PINGS_A_CUT_CAN_MAKE = 2
# Hangul fillers: letters that show as blank space, so they bound a word as a space does.
_BLANK_LETTERS = "\u115f\u1160\u3164\uffa0"


def _markdown_words(*words: str) -> str:
    """A pattern for any of `words`, whole, each letter in any of its `markdown_forms` or
    full-width: `@&#104;ere` shows as `@here`, and its full-width letters read as `@here` to
    whatever reads text normalised (NFKC)."""
    spelt = (
        "".join(f"(?:{markdown_forms(letter)}|{_full_width(letter)})" for letter in word)
        for word in words
    )
    return rf"(?:{'|'.join(spelt)})(?![^\W_{_BLANK_LETTERS}])"


def _full_width(character: str) -> str:
    return chr(ord(character) + 0xFEE0)


_AT = f"(?:{markdown_forms('@', 'commat')}|[\uff20\ufe6b])"  # and its full-width and small forms
_OPENING = markdown_forms("<", "lt")
_HASH = markdown_forms("#", "num")
_BANG = markdown_forms("!", "excl")
# Slack's tokens that notify or name: `<!here>`, `<!channel>`, `<!subteam^S1>`, `<@U1>`,
# `<#C1>`. Other `<!` text (`<!DOCTYPE html>`, `<!-- -->` in code) is left as written.
_NOTIFYING_TOKEN = _markdown_words("here", "channel", "everyone", "group", "subteam", "usergroup")
_SPECIAL_TOKEN = re.compile(
    rf"{_OPENING}(?={_AT}|{_HASH}|{_BANG}{_NOTIFYING_TOKEN})", re.IGNORECASE
)
# A broadcast word, not part of an address (`ops@here.com`); `_` is emphasis here, not a letter,
# and nor are the Hangul fillers (`\u3164@here` reads `@here`, as does `@here\u3164`).
_BROADCAST_WORD = re.compile(
    rf"(?<![^\W_{_BLANK_LETTERS}]){_AT}"
    rf"(?={_markdown_words('channel', 'here', 'everyone')})",
    re.IGNORECASE,
)
_MRKDWN_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MRKDWN_SPECIAL = re.compile("[&<>]")
_PARTIAL_ENTITY_AT_END = re.compile("&[a-z]*$")
_LINE_BREAK = re.compile("\r\n?")  # Windows' (and old Macs') line breaks, as Markdown's
# What the notification text leaves out: fence lines, headings' hashes (outside code), the
# markers of bold spans (see `_read_plainly`)…
_FENCE_LINE = re.compile(r"^[ \t]*(?:`{3,}|~{3,})\S*[ \t]*$", re.M)
_HEADING_HASHES = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.M)
# … rules: a thematic break (`---`, `***`), a heading's underline (`===`), an aligned table's
# rule under its header (`-----  ----`), in code too (the table is a code block)…
_RULE_LINE = re.compile(r"^[ \t]*([-=*_])(?:[ \t]*\1)+[ \t]*$", re.M)
_CODE_CHARACTER = re.compile("[^\n]")
# A paragraph: a bold span may run across its lines, never past a blank one.
_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?![ \t]*(?:\n|$))[^\n]*)*")
# … and link targets (`[label](url)` reads as its label, as does an image, `![alt](url)`:
# Slack shows it as a link). As in Markdown, the innermost brackets make the label:
# `[a [b](url)` reads `[a b`.
_LINK_LABEL = re.compile(r"!?\[([^\[\]\n]+)\]\(")
_LINK_TARGET_END = re.compile(r"[)\s]")
# A character reference reads as its character, but for one of these: read before the links,
# it would make one (`&#91;a](url)` is text in Markdown, no link).
_LINK_SYNTAX = "[]()!"

PROVIDER_ICONS = {
    "anthropic": ":large_orange_circle:",
    "openai": ":white_circle:",
    "google": ":large_blue_circle:",
    "openrouter": ":large_purple_circle:",
    "ollama": ":llama:",
}

Blocks = list[dict[str, Any]]

log = logging.getLogger(__name__)

# An answer shown plainly (`plain_final_messages`) in sections of this many characters before
# escaping: escaped (`&` as `&amp;`) and pings neutralised, each stays within SECTION_TEXT_LIMIT.
_PLAIN_SECTION_CHARS = 500
_PLAIN_SECTIONS_A_MESSAGE = 12


def neutralise_pings(text: str) -> str:
    """Make untrusted text unable to notify anyone: no @channel/@here/@everyone, no user,
    group or channel tokens. A zero-width space keeps the text readable but inert."""
    text = _SPECIAL_TOKEN.sub(lambda opening: opening[0] + _ZWSP, text)
    return _BROADCAST_WORD.sub(lambda at: at[0] + _ZWSP, text)


def escape_mrkdwn(text: str) -> str:
    """Untrusted text as Slack mrkdwn (message `text`, context blocks): `&`, `<`, `>` escaped
    as Slack requires, so they show literally and cannot form links or mentions."""
    return neutralise_pings(_MRKDWN_SPECIAL.sub(lambda match: _MRKDWN_ESCAPES[match[0]], text))


def block_quote(text: str) -> str:
    """A person's text as a Slack block quote, shown as written."""
    return "\n".join(f">{escape_mrkdwn(line) or ' '}" for line in text.strip().splitlines())


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """The `text` and `blocks` of one chat.postMessage / chat.update."""

    text: str
    blocks: Blocks


def _context(line: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}


def _fallback(name: str, body: str) -> str:
    """The notification text (and what screen readers say first): the answer's start, read
    plainly: no bold markers, headings' hashes, fence lines or link targets, and outside code
    `&lt;` as `<`."""
    return _notification(name, _link_labels(_read_plainly(body)))


def _notification(name: str, body: str) -> str:
    """`name: body`, the body on one line and cut to the notification's length, escaped."""
    body = " ".join(body.split())
    if len(body) > FALLBACK_TEXT_LIMIT:
        body = body[: FALLBACK_TEXT_LIMIT - 1] + "…"
    return f"{name}: {escape_mrkdwn(body)}" if body else name


def _read_plainly(text: str) -> str:
    """`text` without its fence lines and rules, and outside code without headings' hashes
    and the markers of bold spans, and with its character references as the characters they
    stand for (`&lt;` as `<`, as Markdown shows them) and its `<br>`s as spaces: the code's
    own text (`__init__.py`, `**kwargs`, `# a comment`, `&amp;`, `<br>`) and a lone `**` in
    prose (`2**10`) are kept as written."""
    markers = ("**", "__", "#", "``", "~~", "&", "<")
    if not any(marker in text for marker in markers) and not _RULE_LINE.search(text):
        return text
    masked = list(text)  # the code's characters as a letter: no marker is found inside code
    for start, end in code_regions(text):
        masked[start:end] = _CODE_CHARACTER.sub("x", text[start:end])
    prose = "".join(masked)
    spans = [match.span() for match in _FENCE_LINE.finditer(text)]
    spans += [match.span() for match in _RULE_LINE.finditer(text)]
    spans += [match.span() for match in _HEADING_HASHES.finditer(prose)]
    for paragraph in _PARAGRAPH.finditer(prose):
        start = paragraph.start()
        spans += [(start + at, start + at + 2) for at in bold_markers(paragraph[0])]
    edits = [(start, end, "") for start, end in spans]  # each cut, then each reference read
    # Code reads as three `x`s or more here, which no reference holds: none runs into code.
    edits += [
        (start, end, character_read(text[start:end], kept=_LINK_SYNTAX))
        for start, end in (reference.span() for reference in CHARACTER_REFERENCE.finditer(prose))
    ]
    edits += [(*line_break.span(), " ") for line_break in HTML_LINE_BREAK.finditer(prose)]
    pieces, position = [], 0
    for start, end, shown in sorted(edits):
        if start >= position:
            pieces += [text[position:start], shown]
        position = max(position, end)
    return "".join([*pieces, text[position:]])


def _link_labels(text: str) -> str:
    """Each `[label](url)` as its label. A target that runs into a space or the end unclosed
    is not scanned again for each link that starts inside it: `[a](x[a](x…` stays linear."""
    pieces, position, unclosed_until = [], 0, 0
    for label in _LINK_LABEL.finditer(text):
        if label.start() < position or label.end() <= unclosed_until:
            continue
        stop = _LINK_TARGET_END.search(text, label.end())
        end = stop.start() if stop else len(text)
        if not text.startswith(")", end):
            unclosed_until = end
        elif end > label.end():
            pieces += [text[position : label.start()], label[1]]
            position = end + 1
    return "".join([*pieces, text[position:]])


def _button(action_id: str, label: str) -> dict[str, Any]:
    """The answer's one control: Stop while it streams, Regenerate once it has settled."""
    button = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": action_id,
    }
    return {"type": "actions", "block_id": "answer_controls", "elements": [button]}


def _stop_button() -> dict[str, Any]:
    return _button(STOP_ACTION, "Stop")


def _with_regenerate_button(message: SlackMessage) -> SlackMessage:
    return SlackMessage(message.text, [*message.blocks, _button(REGENERATE_ACTION, "Regenerate")])


def placeholder_message(display_name: str) -> SlackMessage:
    return SlackMessage(
        f"{display_name} is thinking…",
        [_context(f"*{display_name}* · _thinking…_"), _stop_button()],
    )


def streaming_message(display_name: str, text: str) -> SlackMessage:
    """The answer so far; what does not fit yet is shown when the answer is complete. Only the
    text that can show is rendered: a long answer costs each streaming edit no more."""
    head = text[: 2 * MARKDOWN_BLOCK_LIMIT]
    shown, *rest = _slack_markdown_parts(head)
    continues = bool(rest) or len(text) > len(head)
    status = f"*{display_name}* · _writing…{' (continues)' if continues else ''}_"
    return SlackMessage(
        _fallback(display_name, shown), [*_markdown(shown), _context(status), _stop_button()]
    )


def _as_slack_markdown(text: str) -> str:
    """Model output as the `markdown` block shows it: math and tables as code, links that
    name another host shown with their real target, pings neutralised."""
    math_shown = math_as_code(_LINE_BREAK.sub("\n", text))
    return neutralise_pings(unspoofed_links(tables_as_code(math_shown)))


def _slack_markdown_parts(text: str) -> list[str]:
    """`_as_slack_markdown(text)` in parts that each fit a message. A cut inside a line makes
    its own trouble, so each part is checked again on its own: a ping out of inert text
    (`x|@here`, `@here|sy`), and disguised links out of a code span's text left outside code
    in both parts (text in one part was checked whole)."""
    split = split_markdown(_as_slack_markdown(text))
    if len(split) == 1:
        return split
    parts: list[str] = []
    for part in split:
        checked = neutralise_pings(unspoofed_links(part))
        if len(checked) <= MARKDOWN_BLOCK_LIMIT:
            parts.append(checked)
        else:  # cut again, with room for the pings that cut may make
            limit = MARKDOWN_BLOCK_LIMIT - _PINGS_A_CUT_CAN_MAKE
            parts += [neutralise_pings(piece) for piece in split_markdown(checked, limit)]
    return parts


def _markdown(text: str) -> Blocks:
    """The `markdown` block for `text`; none for blank text (Slack shows nothing of it)."""
    return [{"type": "markdown", "text": text}] if text.strip() else []


def final_messages(display_name: str, text: str, footer: str) -> list[SlackMessage]:
    """The finished answer: the first part in the answer's own message, the rest as
    continuation messages (posted in the answer's thread), each marked as such."""
    parts = _slack_markdown_parts(text)
    total = len(parts)
    messages = []
    for number, part in enumerate(parts, start=1):
        line = footer if number == 1 else f"*{display_name}* · continued"
        if total > 1:
            line += f" · part {number} of {total}"
        messages.append(
            SlackMessage(_fallback(display_name, part), [*_markdown(part), _context(line)])
        )
    return messages


def plain_final_messages(display_name: str, text: str, footer: str) -> list[SlackMessage]:
    """The finished answer as `final_messages` lays it out, its text whole and in order but
    read as plain mrkdwn (escaped, pings neutralised): for an answer the Markdown renderer
    failed on, so none of the renderer's work is needed to show it."""
    pieces = [
        piece
        for piece in _plain_pieces(_LINE_BREAK.sub("\n", text), _PLAIN_SECTION_CHARS)
        if piece.strip()
    ]
    groups = [
        pieces[start : start + _PLAIN_SECTIONS_A_MESSAGE]
        for start in range(0, len(pieces), _PLAIN_SECTIONS_A_MESSAGE)
    ] or [[]]
    messages = []
    for number, group in enumerate(groups, start=1):
        line = footer if number == 1 else f"*{display_name}* · continued"
        if len(groups) > 1:
            line += f" · part {number} of {len(groups)}"
        sections = [
            {"type": "section", "text": {"type": "mrkdwn", "text": escape_mrkdwn(piece)}}
            for piece in group
        ]
        notification = _notification(display_name, "".join(group[:1]))
        messages.append(SlackMessage(notification, [*sections, _context(line)]))
    return messages


def _plain_pieces(text: str, size: int) -> list[str]:
    """`text` in pieces of at most `size` characters, each cut after a line break or else a
    space in its second half when it has one."""
    pieces = []
    while len(text) > size:
        cut = text.rfind("\n", size // 2, size)
        if cut < 0:
            cut = text.rfind(" ", size // 2, size)
        end = cut + 1 if cut >= 0 else size
        pieces.append(text[:end])
        text = text[end:]
    return [*pieces, text]


def error_message(display_name: str, error_line: str, *, warning: bool = True) -> SlackMessage:
    """A model failed (or was stopped) before writing anything: one clear line in its message."""
    line = escape_mrkdwn(error_line)
    return SlackMessage(
        f"{display_name}: {line}",
        [_context(f"*{display_name}* · {':warning: ' * warning}{line}")],
    )


def outcome_messages(
    display_name: str,
    *,
    status: AnswerStatus,
    text: str,
    error: str | None,
    seconds: float,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    in_chat: bool = False,
) -> list[SlackMessage]:
    """How a settled answer is shown: its text with a status line (noting a cut-off or an
    interruption, and `IN_CHAT_MARK` on its round's In Chat answer), or, without text, one
    clear error line; with a Regenerate button."""
    stopped = status is AnswerStatus.STOPPED  # a person's choice, not a fault
    if not text.strip() or status is AnswerStatus.FAILED:
        line = error or "The model returned an empty answer."
        messages = [error_message(display_name, line, warning=not stopped)]
    else:
        note = None
        if status is AnswerStatus.CUT_OFF:
            note = f"Cut off: {_read_on(error or 'the answer ended early.')}"
        elif status is not AnswerStatus.DONE:
            note = error
        footer = footer_line(
            display_name,
            # An interrupted answer's time is how long the bot was down, not the model's.
            None if status is AnswerStatus.INTERRUPTED else seconds,
            input_tokens,
            output_tokens,
            note=note,
            warning=not stopped,
            in_chat=in_chat,
        )
        try:
            messages = final_messages(display_name, text, footer)
        except Exception:
            # A fault of the renderer's must not leave the answer unshown (and owed for good).
            log.exception("%s's answer could not be rendered: shown as plain text", display_name)
            messages = plain_final_messages(display_name, text, footer)
    first, *rest = messages
    return [_with_regenerate_button(first), *rest]


def _read_on(sentence: str) -> str:
    """A sentence read on after a colon: `The stream from …` as `the stream from …` (a
    provider's name, as in `Gemini sent …`, keeps its capital)."""
    if sentence.startswith(("The ", "A ", "An ")):
        return sentence[0].lower() + sentence[1:]
    return sentence


def footer_line(
    display_name: str,
    seconds: float | None,
    input_tokens: int | None,
    output_tokens: int | None,
    note: str | None = None,
    *,
    warning: bool = True,
    in_chat: bool = False,
) -> str:
    """`*Claude Sonnet 4.5* · 3.2 s · 1,204 tokens in, 312 out` (and a warning note, if any,
    then the In Chat mark); the time left out when `seconds` is None."""
    pieces = [f"*{display_name}*"] + ([] if seconds is None else [f"{seconds:.1f} s"])
    known = [(n, way) for n, way in ((input_tokens, "in"), (output_tokens, "out")) if n is not None]
    if known:  # as the Home tab counts them: `1,204 tokens in, 312 out`
        pieces.append(
            ", ".join(f"{n:,}{' tokens' * (i == 0)} {way}" for i, (n, way) in enumerate(known))
        )
    if note:
        pieces.append(f"{':warning: ' * warning}{escape_mrkdwn(note)}")
    if in_chat:
        pieces.append(IN_CHAT_MARK)
    return " · ".join(pieces)


def as_sections(message: SlackMessage) -> SlackMessage:
    """The same message with its Markdown as mrkdwn `section` blocks (read as `as_plain_text`
    reads it), its status line and buttons kept: for a Slack that refuses `markdown` blocks."""
    if not any(block["type"] == "markdown" for block in message.blocks):
        return message
    text, _ = _as_mrkdwn(message)
    # Slack parses some mentions in mrkdwn text it has not been told to take verbatim: a cut
    # inside a line makes its own pings (see `_slack_markdown_parts`), so each part is checked.
    sections = [
        {"type": "section", "text": {"type": "mrkdwn", "text": neutralise_pings(part)}}
        for part in split_markdown(text, SECTION_TEXT_LIMIT - _PINGS_A_CUT_CAN_MAKE)
        if part.strip()
    ]
    kept = [block for block in message.blocks if block["type"] != "markdown"]
    return SlackMessage(message.text, [*sections, *kept])


def as_plain_text(message: SlackMessage) -> SlackMessage:
    """The same message without blocks: its Markdown and status line as the message text."""
    text, status_lines = _as_mrkdwn(message)
    return SlackMessage("\n\n".join(filter(None, [text, *status_lines])) or message.text, [])


def _as_mrkdwn(message: SlackMessage) -> tuple[str, list[str]]:
    """A message's Markdown as mrkdwn text (its sections' text, already mrkdwn, after it), and
    its status lines (already mrkdwn); together within the length of a message's text."""
    markdown = [block["text"] for block in message.blocks if block["type"] == "markdown"]
    # A plainly shown answer's sections are consecutive pieces of its text: joined, a ping
    # may form across a cut.
    sections = neutralise_pings(
        "".join(block["text"]["text"] for block in message.blocks if block["type"] == "section")
    )
    status_lines = [
        element["text"]
        for block in message.blocks
        if block["type"] == "context"
        for element in block["elements"]
    ]
    room = MESSAGE_TEXT_LIMIT - sum(len(line) + 2 for line in status_lines)
    text = "\n\n".join(filter(None, [escape_mrkdwn("\n\n".join(markdown)), sections]))
    return _shorten_mrkdwn(text, room), status_lines


def _shorten_mrkdwn(text: str, limit: int) -> str:
    """Escaping can make a block's worth of Markdown longer than a message's text may be."""
    if len(text) <= limit:
        return text
    # A cut inside a word can end the text in a ping (`@here|sy`): room for its mark too.
    return neutralise_pings(_PARTIAL_ENTITY_AT_END.sub("", text[: limit - 2]) + "…")
