"""The rich_text block Slack's clients attach to every message a person types."""

from __future__ import annotations

import re
import secrets
from typing import Any

# <@U123>, <#C123|general>, <!here>, <https://example.com|label>
SPECIAL_TOKEN = re.compile(r"<([@#!]?)([^>|]+)(?:\|([^>]*))?>")


def _element(sigil: str, target: str, label: str | None) -> dict[str, Any]:
    if sigil == "@":
        return {"type": "user", "user_id": target}
    if sigil == "#":
        return {"type": "channel", "channel_id": target}
    if sigil == "!":
        return {"type": "broadcast", "range": target}
    link: dict[str, Any] = {"type": "link", "url": target}
    if label:
        link["text"] = label
    return link


def rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """One rich_text block with a section of text, user, channel, broadcast and link elements."""
    elements: list[dict[str, Any]] = []
    position = 0
    for match in SPECIAL_TOKEN.finditer(text):
        if match.start() > position:
            elements.append({"type": "text", "text": text[position : match.start()]})
        elements.append(_element(*match.groups()))
        position = match.end()
    if position < len(text):
        elements.append({"type": "text", "text": text[position:]})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": secrets.token_hex(3), "elements": [section]}]
