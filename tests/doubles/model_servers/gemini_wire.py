"""Gemini streamGenerateContent?alt=sse: `data:` chunks separated by CRLF CRLF; an error that
aborts the stream is written into the body as pretty-printed JSON, outside that framing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles.model_servers.wire import (
    Finish,
    StreamContext,
    Turn,
    WireError,
    sse,
    text_of_parts,
)

STREAM_ACTION = "streamGenerateContent"
SEPARATOR = "\r\n\r\n"
FINISH_REASONS: dict[Finish, str] = {
    "stop": "STOP",
    "refusal": "SAFETY",
    "output_limit": "MAX_TOKENS",
}
STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
BLOCKED_RATING = {
    "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
    "probability": "HIGH",
    "blocked": True,
}


@dataclass(frozen=True)
class GeminiWire:
    api_key: str
    provider: str = "google"
    content_type: str = "text/event-stream"

    def refuse(self, request: web.Request, body: dict[str, Any]) -> WireError | None:
        if "key" in request.query:
            return WireError(400, "API keys in the URL are refused here: send x-goog-api-key")
        api_key = request.headers.get("x-goog-api-key")
        if api_key is None:
            return WireError(403, "Method doesn't allow unregistered callers. Please use API Key.")
        if api_key != self.api_key:
            message = "API key not valid. Please pass a valid API key."
            return WireError(400, message, code="API_KEY_INVALID")
        action = request.match_info["target"].rpartition(":")[2]
        if action != STREAM_ACTION or request.query.get("alt") != "sse":
            return WireError(404, f"this fake server only serves {STREAM_ACTION}?alt=sse")
        if not isinstance(body.get("contents"), list) or not body["contents"]:
            return WireError(400, "* GenerateContentRequest.contents: contents is not specified")
        return None

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        model, _, _ = request.match_info["target"].rpartition(":")
        return model.removeprefix("models/")

    def context_too_long(self, limit: int, sent: int) -> WireError:
        return WireError(
            400,
            f"The input token count ({sent}) exceeds the maximum number of tokens allowed "
            f"({limit}).",
        )

    def error_body(self, error: WireError) -> dict[str, Any]:
        status = error.error_type or STATUSES.get(error.status, "INTERNAL")
        detail: dict[str, Any] = {"code": error.status, "message": error.message, "status": status}
        if error.code:
            detail["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": error.code,
                    "domain": "googleapis.com",
                }
            ]
        return {"error": detail}

    def opening(self, context: StreamContext) -> list[bytes]:
        return []

    def reasoning(self, context: StreamContext, thought: str) -> bytes | None:
        if not _includes_thoughts(context.body):
            return None
        part = {"text": thought, "thought": True}
        candidate = {"content": {"parts": [part], "role": "model"}, "index": 0}
        return self._chunk(context, candidate, final=False)

    def text(self, context: StreamContext, text: str) -> bytes:
        candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        return self._chunk(context, candidate, final=False)

    def closing(self, context: StreamContext, finish: Finish) -> list[bytes]:
        candidate: dict[str, Any] = {"finishReason": FINISH_REASONS[finish], "index": 0}
        if finish == "refusal":
            candidate["safetyRatings"] = [BLOCKED_RATING]
        else:
            candidate["content"] = {"parts": [{"text": ""}], "role": "model"}
        return [self._chunk(context, candidate, final=True)]

    def stream_error(self, context: StreamContext, error: WireError) -> bytes:
        # No `data:` line: the error body itself, as an HTTP error would carry it.
        return (json.dumps(self.error_body(error), indent=2) + "\n").encode()

    def malformed(self) -> bytes:
        return sse("{not json", separator=SEPARATOR)

    def keep_alive(self) -> bytes | None:
        return None

    def _chunk(self, context: StreamContext, candidate: dict[str, Any], *, final: bool) -> bytes:
        usage = {"promptTokenCount": context.input_tokens, "totalTokenCount": context.input_tokens}
        if final:
            usage["candidatesTokenCount"] = context.output_tokens
            usage["totalTokenCount"] += context.output_tokens
        chunk = {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": context.model,
            "responseId": context.response_id,
        }
        return sse(chunk, separator=SEPARATOR)

    def system_prompt(self, body: dict[str, Any]) -> str | None:
        instruction = body.get("systemInstruction", body.get("system_instruction"))
        if not isinstance(instruction, dict):
            return None
        return text_of_parts(instruction.get("parts"))

    def turns(self, body: dict[str, Any]) -> list[Turn]:
        contents = body.get("contents")
        if not isinstance(contents, list):
            return []
        return [
            ("assistant" if c.get("role") == "model" else "user", text_of_parts(c.get("parts")))
            for c in contents
            if isinstance(c, dict)
        ]


def _includes_thoughts(body: dict[str, Any]) -> bool:
    """Whether thought summaries are asked for (`thinkingConfig.includeThoughts`, or the same in
    snake_case, which the API takes too); without, a model thinks in silence."""
    config = _either(body, "generationConfig", "generation_config")
    thinking = _either(config, "thinkingConfig", "thinking_config")
    return _either(thinking, "includeThoughts", "include_thoughts") is True


def _either(fields: object, camel: str, snake: str) -> Any:
    if not isinstance(fields, dict):
        return None
    return fields.get(camel, fields.get(snake))
