"""Slack's limits on message text and Block Kit blocks, checked as strictly as Slack does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tests.doubles.slack_emulator.errors import SlackError

MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
MAX_SECTION_TEXT_CHARS = 3_000
MAX_SECTION_FIELDS = 10
MAX_SECTION_FIELD_CHARS = 2_000
MAX_HEADER_TEXT_CHARS = 150
MAX_MARKDOWN_CHARS_PER_PAYLOAD = 12_000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID_CHARS = 255

Block = dict[str, Any]


def check_message_content(text: str | None, blocks: object) -> None:
    """Raise the error Slack gives a refused message: no_text, msg_too_long, invalid_blocks."""
    if not text and not blocks:
        raise SlackError("no_text")
    if text and len(text) > MAX_TEXT_CHARS:
        raise SlackError("msg_too_long")
    if blocks is not None:
        problems = list(block_problems(blocks))
        if problems:
            raise SlackError("invalid_blocks", problems)


def block_problems(blocks: object) -> Iterator[str]:
    """Every reason Slack would give for refusing `blocks`."""
    if not isinstance(blocks, list):
        yield "blocks must be a JSON array"
        return
    if len(blocks) > MAX_BLOCKS:
        yield f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    markdown_chars = 0
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{index}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            yield f"a block must be an object with a type {where}"
            continue
        check = BLOCK_CHECKS.get(block["type"])
        if check is None:
            yield f"unsupported type: {block['type']} {where}"
            continue
        yield from (f"{problem} {where}" for problem in check(block))
        yield from (f"{problem} {where}" for problem in _block_id_problems(block, block_ids))
        if block["type"] == "markdown":
            markdown_chars += len(str(block.get("text", "")))
    if markdown_chars > MAX_MARKDOWN_CHARS_PER_PAYLOAD:
        yield f"markdown blocks total more than {MAX_MARKDOWN_CHARS_PER_PAYLOAD} characters"


def _block_id_problems(block: Block, seen: set[str]) -> Iterator[str]:
    block_id = block.get("block_id")
    if block_id is None:
        return
    if len(str(block_id)) > MAX_BLOCK_ID_CHARS:
        yield f"block_id longer than {MAX_BLOCK_ID_CHARS} characters"
    if block_id in seen:
        yield f"duplicate block_id {block_id}"
    seen.add(str(block_id))


def _text_object_problems(value: object, limit: int, name: str) -> Iterator[str]:
    if not isinstance(value, dict) or value.get("type") not in ("plain_text", "mrkdwn"):
        yield f"{name} must be a text object of type plain_text or mrkdwn"
        return
    text = value.get("text")
    if not isinstance(text, str) or not text:
        yield f"{name} must have a non-empty text"
    elif len(text) > limit:
        yield f"{name} must be less than {limit + 1} characters"


def _section_problems(block: Block) -> Iterator[str]:
    fields = block.get("fields")
    if "text" not in block and not fields:
        yield "section must have a text or fields"
    if "text" in block:
        yield from _text_object_problems(block["text"], MAX_SECTION_TEXT_CHARS, "text")
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
            yield f"fields must be an array of at most {MAX_SECTION_FIELDS} items"
            return
        for field in fields:
            yield from _text_object_problems(field, MAX_SECTION_FIELD_CHARS, "field")


def _header_problems(block: Block) -> Iterator[str]:
    text = block.get("text")
    if not isinstance(text, dict) or text.get("type") != "plain_text":
        yield "header text must be a plain_text object"
        return
    yield from _text_object_problems(text, MAX_HEADER_TEXT_CHARS, "header text")


def _markdown_problems(block: Block) -> Iterator[str]:
    if not isinstance(block.get("text"), str) or not block["text"]:
        yield "markdown must have a non-empty text string"


def _elements_problems(limit: int) -> Callable[[Block], Iterator[str]]:
    def problems(block: Block) -> Iterator[str]:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            yield "elements must be a non-empty array"
        elif len(elements) > limit:
            yield f"no more than {limit} items allowed [json-pointer:/elements]"

    return problems


def _image_problems(block: Block) -> Iterator[str]:
    if not block.get("image_url") and not block.get("slack_file"):
        yield "image must have an image_url or a slack_file"
    if not block.get("alt_text"):
        yield "image must have an alt_text"


def _no_problems(block: Block) -> Iterator[str]:
    return iter(())


BLOCK_CHECKS: dict[str, Callable[[Block], Iterator[str]]] = {
    "section": _section_problems,
    "markdown": _markdown_problems,
    "header": _header_problems,
    "context": _elements_problems(MAX_CONTEXT_ELEMENTS),
    "actions": _elements_problems(MAX_ACTIONS_ELEMENTS),
    "rich_text": _elements_problems(1_000),
    "image": _image_problems,
    "divider": _no_problems,
    "file": _no_problems,
    "input": _no_problems,
    "video": _no_problems,
}
