"""Anthropic Messages streaming: `event:` + `data:` pairs from message_start to message_stop."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles.model_servers.wire import (
    STREAMING_ONLY,
    Finish,
    StreamContext,
    Turn,
    WireError,
    model_in_body,
    sse,
    text_of_parts,
)

STOP_REASONS: dict[Finish, str] = {
    "stop": "end_turn",
    "refusal": "refusal",
    "output_limit": "max_tokens",
}
# Anthropic's encrypted check of a thinking block, sent as its last delta.
FAKE_SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class AnthropicMessagesWire:
    api_key: str
    provider: str = "anthropic"
    content_type: str = "text/event-stream; charset=utf-8"

    def refuse(self, request: web.Request, body: dict[str, Any]) -> WireError | None:
        api_key = request.headers.get("x-api-key")
        if api_key is None:
            return WireError(401, "x-api-key header is required")
        if api_key != self.api_key:
            return WireError(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return WireError(400, "anthropic-version: header is required")
        for required in ("model", "max_tokens", "messages"):
            if not body.get(required):
                return WireError(400, f"{required}: Field required")
        if body.get("stream") is not True:
            return STREAMING_ONLY
        return None

    model_of = staticmethod(model_in_body)

    def error_body(self, error: WireError) -> dict[str, Any]:
        error_type = error.error_type or ERROR_TYPES.get(error.status, "api_error")
        return {
            "type": "error",
            "error": {"type": error_type, "message": error.message},
            "request_id": f"req_{secrets.token_hex(12)}",
        }

    def context_too_long(self, limit: int, sent: int) -> WireError:
        return WireError(400, f"prompt is too long: {sent} tokens > {limit} maximum")

    def opening(self, context: StreamContext) -> list[bytes]:
        message: dict[str, Any] = {
            "id": f"msg_{context.response_id}",
            "type": "message",
            "role": "assistant",
            "model": context.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": context.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        }
        # Extended thinking comes in a block of its own, before the text block.
        first_block = _thinking_block() if _shows_thinking(context) else _text_block("")
        return [
            sse({"type": "message_start", "message": message}, event="message_start"),
            _block_start(0, first_block),
            sse({"type": "ping"}, event="ping"),
        ]

    def reasoning(self, context: StreamContext, thought: str) -> bytes | None:
        if not _shows_thinking(context):
            return None
        return _block_delta(0, {"type": "thinking_delta", "thinking": thought})

    def text(self, context: StreamContext, text: str) -> bytes:
        thinking_ends = b""
        if _shows_thinking(context) and not context.sent:
            signature = {"type": "signature_delta", "signature": FAKE_SIGNATURE}
            thinking_ends = b"".join(
                [_block_delta(0, signature), _block_stop(0), _block_start(1, _text_block(""))]
            )
        context.sent.append(text)
        return thinking_ends + _block_delta(_text_index(context), _text_delta(text))

    def closing(self, context: StreamContext, finish: Finish) -> list[bytes]:
        message_delta = {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS[finish], "stop_sequence": None},
            "usage": {"output_tokens": context.output_tokens},
        }
        return [
            _block_stop(_text_index(context)),
            sse(message_delta, event="message_delta"),
            sse({"type": "message_stop"}, event="message_stop"),
        ]

    def stream_error(self, context: StreamContext, error: WireError) -> bytes:
        body = self.error_body(error)
        return sse({"type": "error", "error": body["error"]}, event="error")

    def malformed(self) -> bytes:
        return sse("{not json", event="content_block_delta")

    def keep_alive(self) -> bytes | None:
        return sse({"type": "ping"}, event="ping")

    def system_prompt(self, body: dict[str, Any]) -> str | None:
        system = body.get("system")
        return None if system is None else text_of_parts(system)

    def turns(self, body: dict[str, Any]) -> list[Turn]:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return []
        return [
            (m["role"], text_of_parts(m.get("content")))
            for m in messages
            if isinstance(m, dict) and m.get("role") in ("user", "assistant")
        ]


def _shows_thinking(context: StreamContext) -> bool:
    """Whether the model's thinking is streamed: only with extended thinking asked for (the
    `thinking` parameter); otherwise a model that thinks sends nothing meanwhile."""
    thinking = context.body.get("thinking")
    asked = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    return context.thinks and asked


def _text_index(context: StreamContext) -> int:
    """The index of the open block: the text block, or the thinking block before any text."""
    return 1 if _shows_thinking(context) and context.sent else 0


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    start = {"type": "content_block_start", "index": index, "content_block": block}
    return sse(start, event="content_block_start")


def _block_delta(index: int, delta: dict[str, Any]) -> bytes:
    event = {"type": "content_block_delta", "index": index, "delta": delta}
    return sse(event, event="content_block_delta")


def _block_stop(index: int) -> bytes:
    return sse({"type": "content_block_stop", "index": index}, event="content_block_stop")


def _thinking_block() -> dict[str, Any]:
    return {"type": "thinking", "thinking": "", "signature": ""}


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _text_delta(text: str) -> dict[str, Any]:
    return {"type": "text_delta", "text": text}
