"""Gemini API streaming: `streamGenerateContent?alt=sse`, one `GenerateContentResponse` a chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from bot.chat.messages import ChatMessage, ModelRequest
from bot.providers.base import Refused, StreamEvent, alternating_turns
from bot.providers.errors import error_in_stream, one_line
from bot.providers.http import SseEndpoint, StreamState
from bot.providers.json_fields import (
    UnexpectedShape,
    field,
    objects,
    parse_json_object,
    token_count,
)

NAME = "Gemini"
REFUSAL_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
# Finish reasons of an answer that ended as it should; any other (OTHER, MALFORMED_…) cut it.
NATURAL_ENDS = frozenset({"STOP", "MAX_TOKENS"})
_ROLES = {"user": "user", "assistant": "model"}


class GeminiProvider:
    """Streams from `{base_url}/v1beta/models/{model}:streamGenerateContent`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        *,
        first_token_timeout: float | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        # The key goes in a header, never in the URL: URLs end up in logs and error messages.
        headers = {"x-goog-api-key": api_key} if api_key else {}
        # Gemini may abort a running stream by writing its error into the body unframed.
        self._endpoint = SseEndpoint(
            client, NAME, headers, read_event, first_token_timeout, bare_json_events=True
        )

    def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        model = model_id.removeprefix("models/")
        url = f"{self._base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        return self._endpoint.stream(url, request_body(model, request))


def request_body(model: str, request: ModelRequest) -> dict[str, Any]:
    messages = list(request.messages)
    body: dict[str, Any] = {}
    if request.system and model.startswith("gemma-"):
        # Gemma models answer 400 "Developer instruction is not enabled" to a system
        # instruction; their own chat template puts it atop the first user turn instead.
        messages.insert(0, ChatMessage("user", request.system))
    elif request.system:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    body["contents"] = [
        {"role": _ROLES[turn.role], "parts": [{"text": turn.content}]}
        for turn in alternating_turns(messages)
    ]
    return body


def read_event(event: ServerSentEvent, state: StreamState) -> str:
    """One chunk: text in `candidates[0].content.parts`, cumulative `usageMetadata`."""
    chunk = parse_json_object(event.data)
    if chunk.get("error") is not None:
        raise error_in_stream(state.provider, chunk["error"])
    usage = field(chunk, "usageMetadata", dict)
    if usage is not None:
        state.count_tokens(token_count(usage, "promptTokenCount"), _output_tokens(usage))
    block_reason = field(field(chunk, "promptFeedback", dict) or {}, "blockReason", str)
    if block_reason:
        state.refused = Refused(
            f"{state.provider} refused to answer (prompt blocked: {one_line(block_reason)})."
        )
        state.complete = True
        return ""
    candidates = field(chunk, "candidates", list)
    if candidates is None and usage is None:
        raise UnexpectedShape("a chunk without candidates")
    if not candidates:
        return ""
    candidate = objects(candidates, "a candidate")[0]
    finish_reason = field(candidate, "finishReason", str)
    if finish_reason in REFUSAL_REASONS:
        state.refused = Refused(
            f"{state.provider} refused to answer (finish reason {finish_reason})."
        )
    if finish_reason:
        state.complete = True
        state.output_limit_reached = finish_reason == "MAX_TOKENS"
        if finish_reason not in NATURAL_ENDS:
            state.stopped_early = f"finish reason {finish_reason}"
    parts = objects(field(field(candidate, "content", dict) or {}, "parts", list) or [], "a part")
    # Thought summaries (`"thought": true`) are the model's reasoning, not its answer.
    for part in parts:
        if part.get("thought"):
            state.count_thought(field(part, "text", str))
    return "".join(field(part, "text", str) or "" for part in parts if not part.get("thought"))


def _output_tokens(usage: dict[str, Any]) -> int | None:
    """Answer tokens including thinking, as billed and as OpenAI counts them."""
    candidates = token_count(usage, "candidatesTokenCount")
    thoughts = token_count(usage, "thoughtsTokenCount")
    if candidates is None and thoughts is None:
        return None
    return (candidates or 0) + (thoughts or 0)
