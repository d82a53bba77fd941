"""OpenAI Chat Completions streaming, also spoken by OpenRouter, Ollama, LM Studio and vLLM."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from bot.chat.messages import ModelRequest
from bot.providers.base import (
    BadRequest,
    Refused,
    StreamEvent,
    alternating_turns,
    system_in_first_turn,
)
from bot.providers.errors import SYSTEM_ROLE_REFUSED, error_in_stream, refusal
from bot.providers.http import SseEndpoint, StreamState
from bot.providers.json_fields import (
    UnexpectedShape,
    field,
    objects,
    parse_json_object,
    token_count,
)
from bot.providers.think_block import without_leading_think

_OPENAI_HOST = "api.openai.com"
_NAMES_BY_HOST = {_OPENAI_HOST: "OpenAI", "openrouter.ai": "OpenRouter"}
_OLLAMA_PORT = 11434
# Finish reasons of an answer that ended as it should (`length` at the output limit), also
# as some hosts word them (Together's `eos`; Hugging Face TGI's `eos_token`, `stop_sequence`);
# any other cut it short: DeepSeek's `insufficient_system_resource`, vLLM's `abort`.
NATURAL_ENDS = frozenset(
    {"stop", "length", "tool_calls", "function_call", "eos", "eos_token", "stop_sequence"}
)

log = logging.getLogger(__name__)


class OpenAICompatibleProvider:
    """Streams from `{base_url}/chat/completions`. The key is optional: local servers have none."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        *,
        extra_headers: Mapping[str, str] | None = None,
        name: str | None = None,
        first_token_timeout: float | None = None,
        alternate_turns: bool = False,
        max_thought_chars: int | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        headers = {**(extra_headers or {}), **bearer(api_key)}
        self.name = name or server_name(base_url)
        # llama.cpp's server may write an error mid-stream outside SSE framing (`error: {...}`).
        self._endpoint = SseEndpoint(
            client,
            self.name,
            headers,
            read_event,
            first_token_timeout,
            max_thought_chars,
            bare_json_events=True,
        )
        self._alternate_turns = alternate_turns
        # Open models (local servers, OpenRouter's routes, other hosts) may think aloud in the
        # answer text; OpenAI's own never do, so one that starts so was asked to.
        self._leaves_out_think_block = httpx.URL(base_url).host != _OPENAI_HOST
        self._max_thought_chars = max_thought_chars
        self._without_system_role: set[str] = set()

    def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        # The chat templates of many open models (Gemma, Mistral), served by local servers
        # or OpenRouter's providers, refuse turns that do not alternate.
        if self._alternate_turns:
            request = ModelRequest(request.system, tuple(alternating_turns(request.messages)))
        events = self._asked_as_it_takes(model_id, request)
        if self._leaves_out_think_block:
            return without_leading_think(events, self.name, self._max_thought_chars)
        return events

    async def _asked_as_it_takes(
        self, model_id: str, request: ModelRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """The model's stream. One whose server refuses a system message (its chat template
        has no system role) is sent the system prompt in its first user turn instead, from
        then on."""
        if request.system and model_id not in self._without_system_role:
            started = False
            try:
                async with aclosing(self._stream(model_id, request)) as events:
                    async for event in events:
                        started = True
                        yield event
                return
            except BadRequest as refused:
                if started or not SYSTEM_ROLE_REFUSED.search(str(refused)):
                    raise
            self._without_system_role.add(model_id)
            log.info("%s has no system role: its system prompt opens its first turn", model_id)
        async with aclosing(self._stream(model_id, system_in_first_turn(request))) as events:
            async for event in events:
                yield event

    def _stream(self, model_id: str, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        return self._endpoint.stream(self._url, request_body(model_id, request))


def bearer(api_key: str | None) -> dict[str, str]:
    """The `Authorization` header OpenAI and compatible servers take (none without a key)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def server_name(base_url: str) -> str:
    """The name errors give the server: the provider for known hosts, else host and port."""
    url = httpx.URL(base_url)
    if url.host in _NAMES_BY_HOST:
        return _NAMES_BY_HOST[url.host]
    if url.port == _OLLAMA_PORT:
        return "Ollama"
    return url.netloc.decode("ascii")


def request_body(model_id: str, request: ModelRequest) -> dict[str, Any]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": turn.role, "content": turn.content} for turn in request.messages]
    return {
        "model": model_id,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def read_event(event: ServerSentEvent, state: StreamState) -> str:
    """One `chat.completion.chunk`: text in `choices[0].delta`, usage in the last chunk."""
    if event.data == "[DONE]":
        if state.refusal:
            state.refused = refusal(state.provider, state.refusal)
        state.complete = state.ended = True
        return ""
    chunk = parse_json_object(event.data)
    if event.event == "error":  # llama.cpp's `error:` line: the error object itself
        raise error_in_stream(state.provider, chunk)
    if chunk.get("error") is not None:
        raise error_in_stream(state.provider, chunk["error"])
    if chunk.get("object") == "error":  # vLLM sends its error response itself in the stream
        raise error_in_stream(state.provider, chunk)
    usage = field(chunk, "usage", dict)
    if usage is not None:
        state.count_tokens(
            token_count(usage, "prompt_tokens"), token_count(usage, "completion_tokens")
        )
    choices = field(chunk, "choices", list)
    if choices is None and usage is None:
        raise UnexpectedShape("a chunk without choices")
    if not choices:
        return ""
    choice = objects(choices, "a choice")[0]
    finish_reason = field(choice, "finish_reason", str)
    if finish_reason == "content_filter":
        state.refused = Refused(
            f"{state.provider} refused to answer (finish reason content_filter)."
        )
    if finish_reason == "error":
        raise error_in_stream(state.provider, None)
    delta = field(choice, "delta", dict) or {}
    state.refusal += field(delta, "refusal", str) or ""
    if finish_reason and state.refusal:
        state.refused = refusal(state.provider, state.refusal)
    if finish_reason:
        state.complete = True
        state.output_limit_reached = finish_reason == "length"
        if finish_reason not in NATURAL_ENDS:
            state.stopped_early = f"finish reason {finish_reason}"
    # Reasoning apart from the answer: `reasoning_content` (DeepSeek, vLLM, llama.cpp) or
    # `reasoning` (OpenRouter, Ollama). Only a sign of life, so a shape of some other server's
    # is passed over rather than failing the answer.
    thought = delta.get("reasoning_content") or delta.get("reasoning")
    if isinstance(thought, str):
        state.count_thought(thought)
    return field(delta, "content", str) or ""
