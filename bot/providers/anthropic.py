"""Anthropic Messages API streaming: `message_start` … `content_block_delta` … `message_stop`."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from bot.chat.messages import ModelRequest
from bot.providers.base import BadRequest, Refused, StreamEvent, alternating_turns
from bot.providers.errors import error_in_stream, refusal
from bot.providers.http import SseEndpoint, StreamState
from bot.providers.json_fields import field, parse_json_object, required, token_count

NAME = "Anthropic"
API_VERSION = "2023-06-01"
# Room for the thinking of models that think unasked (Claude Sonnet 5 and later, whose
# thinking counts against `max_tokens`) and a long answer after it, as Anthropic's own
# examples of thinking ask for.
DEFAULT_MAX_TOKENS = 16_000
# Anthropic's answer to a `max_tokens` past what the model writes: "max_tokens: 16000 > 8192,
# which is the maximum allowed number of output tokens for claude-3-5-haiku-20241022".
_MODELS_OWN_LIMIT = re.compile(r"max_tokens: \d+ > (\d{1,9}), which is the maximum allowed")

log = logging.getLogger(__name__)


class AnthropicProvider:
    """Streams from `{base_url}/v1/messages`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        first_token_timeout: float | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/messages"
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        self._endpoint = SseEndpoint(client, NAME, headers, read_event, first_token_timeout)
        self._max_tokens = max_tokens
        self._own_limit: dict[str, int] = {}  # of each model that writes fewer

    def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        return self._asked_within_its_limit(model_id, request)

    async def _asked_within_its_limit(
        self, model_id: str, request: ModelRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """The model's stream. A model that writes fewer tokens than `max_tokens` (an older
        one) is asked again for as many as it writes, and from then on."""
        max_tokens = self._own_limit.get(model_id, self._max_tokens)
        started = False
        try:
            async with aclosing(self._stream(model_id, request, max_tokens)) as events:
                async for event in events:
                    started = True
                    yield event
            return
        except BadRequest as refused:
            own_limit = None if started else _own_limit_in(str(refused))
            if own_limit is None or own_limit >= max_tokens:
                raise
        self._own_limit[model_id] = own_limit
        log.warning(
            "%s writes at most %d output tokens: it is asked for that many, not "
            "CHORUS_MAX_OUTPUT_TOKENS=%d",
            model_id,
            own_limit,
            self._max_tokens,
        )
        async with aclosing(self._stream(model_id, request, own_limit)) as events:
            async for event in events:
                yield event

    def _stream(
        self, model_id: str, request: ModelRequest, max_tokens: int
    ) -> AsyncGenerator[StreamEvent, None]:
        return self._endpoint.stream(self._url, request_body(model_id, request, max_tokens))


def _own_limit_in(refusal: str) -> int | None:
    """The most output tokens the model writes, as Anthropic's refusal of more names it."""
    said = _MODELS_OWN_LIMIT.search(refusal)
    return int(said[1]) if said and int(said[1]) > 0 else None


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
