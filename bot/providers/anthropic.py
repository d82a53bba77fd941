"""Anthropic Messages API streaming: `message_start` … `content_block_delta` … `message_stop`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from bot.chat.messages import ModelRequest
from bot.providers.base import Refused, StreamEvent, alternating_turns
from bot.providers.errors import error_in_stream, refusal
from bot.providers.http import SseEndpoint, StreamState
from bot.providers.json_fields import field, parse_json_object, required, token_count

NAME = "Anthropic"
API_VERSION = "2023-06-01"


class AnthropicProvider:
    """Streams from `{base_url}/v1/messages`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        *,
        max_tokens: int = 4096,
        first_token_timeout: float | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/messages"
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        self._endpoint = SseEndpoint(client, NAME, headers, read_event, first_token_timeout)
        self._max_tokens = max_tokens

    def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        return self._endpoint.stream(self._url, request_body(model_id, request, self._max_tokens))


def request_body(model_id: str, request: ModelRequest, max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model_id, "max_tokens": max_tokens}
    if request.system:
        body["system"] = request.system
    body["messages"] = [
        {"role": turn.role, "content": turn.content} for turn in alternating_turns(request.messages)
    ]
    body["stream"] = True
    return body


def read_event(event: ServerSentEvent, state: StreamState) -> str:
    """One named event; unknown events are skipped, as Anthropic asks clients to do."""
    if event.event == "ping":
        return ""
    data = parse_json_object(event.data)
    kind = event.event if event.event != "message" else field(data, "type", str)
    if kind == "error":
        raise error_in_stream(state.provider, data.get("error"))
    if kind == "message_start":
        usage = field(required(data, "message", dict), "usage", dict) or {}
        # Its `output_tokens` is no count yet (1, before any text): `message_delta` says it,
        # and a stream cut before then leaves it unknown rather than wrong.
        state.count_tokens(_input_tokens(usage), None)
    elif kind == "content_block_delta":
        delta = required(data, "delta", dict)
        # Thinking, signature and tool-input deltas are not part of the answer text; thinking
        # and its signature show the model at work.
        delta_type = field(delta, "type", str)
        if delta_type == "text_delta":
            return required(delta, "text", str)
        if delta_type == "thinking_delta":
            state.count_thought(field(delta, "thinking", str))
        elif delta_type == "signature_delta":
            state.count_thought(field(delta, "signature", str))
    elif kind == "message_delta":
        delta = field(data, "delta", dict) or {}
        stop_reason = field(delta, "stop_reason", str)
        if stop_reason == "refusal":
            # Its explanation is written for people; null when its category has none.
            explanation = field(field(delta, "stop_details", dict) or {}, "explanation", str)
            state.refused = (
                refusal(state.provider, explanation)
                if explanation
                else Refused(f"{state.provider} refused to answer (stop reason refusal).")
            )
        state.output_limit_reached = stop_reason == "max_tokens"
        state.context_window_filled = stop_reason == "model_context_window_exceeded"
        # The answer is whole once its stop reason came: a stream cut before `message_stop`
        # lost nothing of it (as after OpenAI's finish reason).
        state.complete = state.complete or stop_reason is not None
        usage = field(data, "usage", dict) or {}
        state.count_tokens(_input_tokens(usage), token_count(usage, "output_tokens"))
    elif kind == "message_stop":
        state.complete = state.ended = True
    return ""


def _input_tokens(usage: dict[str, Any]) -> int | None:
    """All prompt tokens, cached or not: Anthropic counts cache reads and writes apart."""
    counts = [
        token_count(usage, key)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    known = [count for count in counts if count is not None]
    return sum(known) if known else None
