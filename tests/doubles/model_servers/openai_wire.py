"""OpenAI Chat Completions, as OpenAI, OpenRouter and Ollama speak it: SSE chunks, then [DONE]."""

from __future__ import annotations

from dataclasses import dataclass, replace
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

SYSTEM_ROLES = ("system", "developer")
CONVERSATION_ROLES = ("user", "assistant")
FINISH_REASONS: dict[Finish, str] = {
    "stop": "stop",
    "refusal": "content_filter",
    "output_limit": "length",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "requests",
}
ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
# Open models whose chat templates refuse turns that do not alternate, as the servers running
# them answer (vLLM, LM Studio, llama.cpp behind `ollama:`; OpenRouter's providers).
STRICT_TEMPLATE_MODELS = ("gemma", "mistral")
STRICT_TEMPLATE_PROVIDERS = ("ollama", "openrouter")
# Where each server streams a reasoning model's thinking; OpenAI's own Chat Completions never do.
REASONING_FIELDS = {"openrouter": "reasoning", "ollama": "reasoning", "vllm": "reasoning_content"}
# Of those, the ones whose templates have no system role at all (vLLM's answer for Gemma 2).
SYSTEMLESS_TEMPLATE_MODELS = ("gemma2", "gemma-2")
SYSTEM_ROLE_NOT_SUPPORTED = WireError(
    400, "System role not supported", error_type="BadRequestError"
)
# llama.cpp serves a model by its file name and answers a chat template's refusal as its own
# failure.
LLAMA_CPP_MODEL_FILE = ".gguf"
LLAMA_CPP_TEMPLATE_ERROR = "server_error"
ROLES_MUST_ALTERNATE = WireError(
    400,
    "Conversation roles must alternate user/assistant/user/assistant/...",
    error_type="BadRequestError",
)


@dataclass(frozen=True)
class OpenAIChatWire:
    """One OpenAI-compatible provider; `api_key` None means no key is required (Ollama)."""

    provider: str
    api_key: str | None
    content_type: str = "text/event-stream; charset=utf-8"

    def refuse(self, request: web.Request, body: dict[str, Any]) -> WireError | None:
        key_refused = check_bearer_key(request, self.api_key)
        if key_refused is not None:
            return key_refused
        if not isinstance(body.get("model"), str) or not body["model"]:
            return WireError(400, "you must provide a model parameter", code="missing_model")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return WireError(400, "'messages' must be a non-empty array", code="invalid_messages")
        if body.get("stream") is not True:
            return STREAMING_ONLY
        if self._template_refuses(body, SYSTEMLESS_TEMPLATE_MODELS) and any(
            message.get("role") in SYSTEM_ROLES for message in body["messages"]
        ):
            return self._as_served(body, SYSTEM_ROLE_NOT_SUPPORTED)
        if self._template_refuses(body, STRICT_TEMPLATE_MODELS) and not self._alternates(body):
            return self._as_served(body, ROLES_MUST_ALTERNATE)
        return None

    @staticmethod
    def _as_served(body: dict[str, Any], refusal: WireError) -> WireError:
        """A chat template's refusal as the server running the model answers it."""
        if body["model"].lower().endswith(LLAMA_CPP_MODEL_FILE):
            return replace(refusal, status=500, error_type=LLAMA_CPP_TEMPLATE_ERROR)
        return refusal

    model_of = staticmethod(model_in_body)

    def error_body(self, error: WireError) -> dict[str, Any]:
        if self.provider == "openrouter":
            # OpenRouter's own shape: the HTTP status as a numeric `code`, and no `type`.
            return {"error": {"message": error.message, "code": error.status}}
        return {"error": error_object(error)}

    def context_too_long(self, limit: int, sent: int) -> WireError:
        if self.provider == "openrouter":
            return WireError(
                400,
                f"This endpoint's maximum context length is {limit} tokens. However, you "
                f"requested about {sent} tokens ({sent} of text input). Please reduce the length "
                'of either one, or use the "middle-out" transform to compress your prompt '
                "automatically.",
            )
        if self.provider == "ollama":  # as vLLM answers
            return WireError(
                400,
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{sent} tokens ({sent} in the messages, 0 in the completion). Please reduce the "
                "length of the messages or completion.",
                error_type="BadRequestError",
            )
        return WireError(
            400,
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {sent} tokens. Please reduce the length of the messages.",
            error_type="invalid_request_error",
            code="context_length_exceeded",
        )

    def opening(self, context: StreamContext) -> list[bytes]:
        return [self._chunk(context, {"role": "assistant", "content": "", "refusal": None})]

    def _template_refuses(self, body: dict[str, Any], models: tuple[str, ...]) -> bool:
        """Whether the model is one of `models` behind a server applying its template strictly."""
        model = body["model"].lower()
        return self.provider in STRICT_TEMPLATE_PROVIDERS and any(name in model for name in models)

    def _alternates(self, body: dict[str, Any]) -> bool:
        roles = [role for role, _ in self.turns(body)]
        return roles == [("user", "assistant")[index % 2] for index in range(len(roles))]

    def reasoning(self, context: StreamContext, thought: str) -> bytes | None:
        reasoning_field = REASONING_FIELDS.get(self.provider)
        if reasoning_field is None:
            return None
        return self._chunk(context, {"content": None, reasoning_field: thought})

    def text(self, context: StreamContext, text: str) -> bytes:
        return self._chunk(context, {"content": text})

    def closing(self, context: StreamContext, finish: Finish) -> list[bytes]:
        events = [self._chunk(context, {}, FINISH_REASONS[finish])]
        if _includes_usage(context):
            usage = {
                "prompt_tokens": context.input_tokens,
                "completion_tokens": context.output_tokens,
                "total_tokens": context.input_tokens + context.output_tokens,
            }
            events.append(sse({**self._envelope(context), "choices": [], "usage": usage}))
        events.append(sse("[DONE]"))
        return events

    def stream_error(self, context: StreamContext, error: WireError) -> bytes:
        if self.provider == "openrouter":
            # OpenRouter's error mid-stream: a chunk carrying it, which ends the answer.
            choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
            return sse({**self._envelope(context), **self.error_body(error), "choices": [choice]})
        if self.provider == "ollama":
            # Ollama's OpenAI endpoint reads the `{"error": ...}` it writes mid-answer as one
            # more answer chunk, which has no field for it: an empty chunk of no model goes
            # out, and the body ends there, without a finish reason or `[DONE]`.
            return self._chunk(replace(context, model=""), {"role": "assistant", "content": ""})
        return sse(self.error_body(error))

    def malformed(self) -> bytes:
        return sse("{not json")

    def keep_alive(self) -> bytes | None:
        # OpenRouter's SSE comment while a model is slow to start; OpenAI and Ollama send none.
        return b": OPENROUTER PROCESSING\n\n" if self.provider == "openrouter" else None

    def _envelope(self, context: StreamContext) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{context.response_id}",
            "object": "chat.completion.chunk",
            "created": context.created,
            "model": context.model,
            "system_fingerprint": "fp_fake",
        }

    def _chunk(
        self, context: StreamContext, delta: dict[str, Any], finish_reason: str | None = None
    ) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk = {**self._envelope(context), "choices": [choice]}
        if _includes_usage(context):
            chunk["usage"] = None
        return sse(chunk)

    def system_prompt(self, body: dict[str, Any]) -> str | None:
        texts = [text_of_parts(m.get("content")) for m in _messages(body, SYSTEM_ROLES)]
        return "\n\n".join(texts) if texts else None

    def turns(self, body: dict[str, Any]) -> list[Turn]:
        messages = _messages(body, CONVERSATION_ROLES)
        return [(m["role"], text_of_parts(m.get("content"))) for m in messages]


def error_object(error: WireError) -> dict[str, Any]:
    """An OpenAI error object, as sent in error bodies of both OpenAI APIs."""
    return {
        "message": error.message,
        "type": error.error_type or ERROR_TYPES.get(error.status, "server_error"),
        "param": None,
        "code": error.code or ERROR_CODES.get(error.status),
    }


def check_bearer_key(request: web.Request, api_key: str | None) -> WireError | None:
    """OpenAI's refusal of a missing or wrong `Authorization: Bearer` key."""
    authorization = request.headers.get("Authorization")
    if api_key is not None and authorization is None:
        return WireError(401, "You didn't provide an API key. Use Authorization: Bearer <key>.")
    if api_key is not None and authorization != f"Bearer {api_key}":
        return WireError(401, "Incorrect API key provided.", code="invalid_api_key")
    return None


def _messages(body: dict[str, Any], roles: tuple[str, ...]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict) and m.get("role") in roles]


def _includes_usage(context: StreamContext) -> bool:
    options = context.body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True
