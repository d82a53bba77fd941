"""Model output to Slack messages: neutralised pings, Slack's size limits, the blocks we post.

The one place that turns Markdown into what Slack shows. Answers go into `markdown` blocks
(Slack renders standard Markdown there), the status line into a `context` block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.chat.in_chat import AnswerStatus

MARKDOWN_BLOCK_LIMIT = 12_000  # Slack: all markdown blocks of one message together
FALLBACK_TEXT_LIMIT = 300  # the notification / screen-reader text beside the blocks
STOP_ACTION = "stop_answer"  # the Stop button on a streaming answer
REGENERATE_ACTION = "regenerate_answer"  # the Regenerate button on a settled answer
_ZWSP = "\u200b"

# `<!here>`, `<!channel>`, `<!subteam^S1>`, `<@U1>`, `<#C1>`: Slack's special tokens.
_SPECIAL_TOKEN = re.compile(r"<(?=[!@#])")
_BROADCAST_WORD = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")

PROVIDER_ICONS = {
    "anthropic": ":large_orange_circle:",
    "openai": ":white_circle:",
    "google": ":large_blue_circle:",
    "openrouter": ":large_purple_circle:",
    "ollama": ":llama:",
}

Blocks = list[dict[str, Any]]


def neutralise_pings(text: str) -> str:
    """Make untrusted text unable to notify anyone: no @channel/@here/@everyone, no user,
    group or channel tokens. A zero-width space keeps the text readable but inert."""
    text = _SPECIAL_TOKEN.sub("<" + _ZWSP, text)
    return _BROADCAST_WORD.sub("@" + _ZWSP, text)


def split_markdown(text: str, limit: int = MARKDOWN_BLOCK_LIMIT) -> list[str]:
    """Split Markdown into parts of at most `limit` characters, at paragraph, line or word
    boundaries, closing a code fence at the end of a part and reopening it in the next."""
    parts: list[str] = []
    rest = text
    reopen = ""
    while rest:
        rest = reopen + rest
        if len(rest) <= limit:
            parts.append(rest)
            break
        budget = limit - 4  # room to close an open fence: "\n```"
        cut = _cut_point(rest, budget)
        part, rest = rest[:cut].rstrip("\n"), rest[cut:].lstrip("\n")
        fence = _open_fence(part)
        if fence is not None:
            part += "\n" + fence[0]
            reopen = fence[0] + fence[1] + "\n"
        else:
            reopen = ""
        parts.append(part)
    return parts or [""]


def _cut_point(text: str, budget: int) -> int:
    window = text[:budget]
    for separator in ("\n\n", "\n", " "):
        index = window.rfind(separator)
        if index > budget // 2:
            return index + len(separator)
    return budget


def _open_fence(text: str) -> tuple[str, str] | None:
    """The fence (marker, info string) left open at the end of `text`, if any."""
    open_fence: tuple[str, str] | None = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not match:
            continue
        if open_fence is None:
            open_fence = (match.group(1), match.group(2).strip())
        elif match.group(1).startswith(open_fence[0]) and not match.group(2).strip():
            open_fence = None
    return open_fence


def close_open_fence(text: str) -> str:
    """While an answer streams, close a code fence the model has opened but not yet closed."""
    fence = _open_fence(text)
    return f"{text}\n{fence[0]}" if fence else text


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """The `text` and `blocks` of one chat.postMessage / chat.update."""

    text: str
    blocks: Blocks


def _context(line: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}


def _fallback(name: str, body: str) -> str:
    body = " ".join(body.split())
    if len(body) > FALLBACK_TEXT_LIMIT:
        body = body[: FALLBACK_TEXT_LIMIT - 1] + "…"
    return f"{name}: {body}" if body else name


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
    """The answer so far; what does not fit yet is shown when the answer is complete."""
    body = neutralise_pings(text)
    shown = split_markdown(body)[0]
    more = len(shown) < len(body)
    status = f"*{display_name}* · _writing…{' (continues)' if more else ''}_"
    return SlackMessage(
        _fallback(display_name, shown),
        [{"type": "markdown", "text": close_open_fence(shown)}, _context(status), _stop_button()],
    )


def final_messages(display_name: str, text: str, footer: str) -> list[SlackMessage]:
    """The finished answer: the first part in the answer's own message, the rest as
    continuation messages (posted in the answer's thread), each marked as such."""
    parts = split_markdown(neutralise_pings(text))
    total = len(parts)
    messages = []
    for number, part in enumerate(parts, start=1):
        line = footer if number == 1 else f"*{display_name}* · continued"
        if total > 1:
            line += f" · part {number} of {total}"
        blocks: Blocks = [{"type": "markdown", "text": part}] if part.strip() else []
        messages.append(SlackMessage(_fallback(display_name, part), [*blocks, _context(line)]))
    return messages


def error_message(display_name: str, error_line: str) -> SlackMessage:
    """A model failed before writing anything: one clear line in its message."""
    line = neutralise_pings(error_line)
    return SlackMessage(
        f"{display_name}: {line}", [_context(f"*{display_name}* · :warning: {line}")]
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
) -> list[SlackMessage]:
    """How a settled answer is shown: its text with a status line (noting a cut-off or an
    interruption), or, without text, one clear error line; with a Regenerate button."""
    if not text.strip() or status is AnswerStatus.FAILED:
        messages = [error_message(display_name, error or "The model returned an empty answer.")]
    else:
        note = None
        if status is AnswerStatus.CUT_OFF:
            note = f"cut off: {error}"
        elif status is not AnswerStatus.DONE:
            note = error
        footer = footer_line(display_name, seconds, input_tokens, output_tokens, note=note)
        messages = final_messages(display_name, text, footer)
    first, *rest = messages
    return [_with_regenerate_button(first), *rest]


def footer_line(
    display_name: str,
    seconds: float,
    input_tokens: int | None,
    output_tokens: int | None,
    note: str | None = None,
) -> str:
    """`*Claude Sonnet 4.5* · 3.2 s · 1,204 → 312 tokens` (and a warning note, if any)."""
    pieces = [f"*{display_name}*", f"{seconds:.1f} s"]
    if input_tokens is not None or output_tokens is not None:
        pieces.append(f"{_count(input_tokens)} → {_count(output_tokens)} tokens")
    if note:
        pieces.append(f":warning: {neutralise_pings(note)}")
    return " · ".join(pieces)


def _count(tokens: int | None) -> str:
    return "?" if tokens is None else f"{tokens:,}"


def as_plain_text(message: SlackMessage) -> SlackMessage:
    """The same message without blocks: its Markdown and status line as the message text."""
    parts = []
    for block in message.blocks:
        if block["type"] in ("markdown", "section"):
            text = block["text"]
            parts.append(text if isinstance(text, str) else text["text"])
        elif block["type"] == "context":
            parts.extend(element["text"] for element in block["elements"])
    return SlackMessage("\n\n".join(parts) or message.text, [])
