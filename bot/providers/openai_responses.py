"""OpenAI Responses API streaming: `response.created` … `response.output_text.delta` …
`response.completed` (or `.incomplete` / `.failed`); no `[DONE]`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from bot.chat.messages import ModelRequest
from bot.providers.base import Refused, StreamEvent
from bot.providers.errors import error_in_stream, refusal
from bot.providers.http import SseEndpoint, StreamState
from bot.providers.json_fields import field, parse_json_object, required, token_count
from bot.providers.openai_compatible import bearer

NAME = "OpenAI"


class OpenAIResponsesProvider:
    """Streams from `{base_url}/responses`, sending the whole context each time and asking
    OpenAI not to store the response (`store: false`): the bot keeps the chat itself."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        *,
        first_token_timeout: float | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/responses"
        self._endpoint = SseEndpoint(client, NAME, bearer(api_key), read_event, first_token_timeout)

    def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        return self._endpoint.stream(self._url, request_body(model_id, request))


def request_body(model_id: str, request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model_id}
    if request.system:
        body["instructions"] = request.system
    body["input"] = [
        {"type": "message", "role": turn.role, "content": turn.content} for turn in request.messages
    ]
    body["stream"] = True
    body["store"] = False
    return body


def read_event(event: ServerSentEvent, state: StreamState) -> str:
    """One typed event; the many this bot has no use for (annotations, item bookkeeping) are
    skipped, as new event types may appear at any time."""
    data = parse_json_object(event.data)
    kind = field(data, "type", str) or event.event
    if kind == "response.output_text.delta":
        return required(data, "delta", str)
    if kind == "response.reasoning_summary_text.delta":
        state.count_thought(field(data, "delta", str))
    if kind == "error":
        raise error_in_stream(state.provider, data)
    if kind == "response.refusal.done":
        # The refusal is the whole answer; the usage follows in the final response.
        state.refused = refusal(state.provider, field(data, "refusal", str) or "")
        state.complete = True
    if kind in ("response.completed", "response.incomplete", "response.failed"):
        _read_final_response(required(data, "response", dict), state)
    return ""


def _read_final_response(response: dict[str, Any], state: StreamState) -> None:
    """The last event's response: usage, and why it ended if it did not complete."""
    usage = field(response, "usage", dict) or {}
    state.count_tokens(token_count(usage, "input_tokens"), token_count(usage, "output_tokens"))
    status = field(response, "status", str)
    if status == "failed":
        raise error_in_stream(state.provider, response.get("error"))
    reason = field(field(response, "incomplete_details", dict) or {}, "reason", str)
    if reason == "content_filter":
        state.refused = Refused(f"{state.provider} refused to answer (incomplete: content_filter).")
    state.complete = state.ended = True
    state.output_limit_reached = status == "incomplete" and reason == "max_output_tokens"
    if status == "incomplete" and reason not in ("max_output_tokens", "content_filter"):
        # A reason of a newer API (`max_messages`, …) or none: the answer is still not whole.
        state.stopped_early = f"incomplete: {reason}" if reason else "incomplete"
