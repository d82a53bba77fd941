"""OpenAI Responses streaming: typed `event:` + `data:` pairs, numbered, from `response.created`
to `response.completed` (or `.incomplete` / `.failed`), with no `[DONE]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles.model_servers.openai_wire import check_bearer_key, error_object
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


@dataclass(frozen=True)
class OpenAIResponsesWire:
    api_key: str
    provider: str = "openai"
    content_type: str = "text/event-stream; charset=utf-8"

    def refuse(self, request: web.Request, body: dict[str, Any]) -> WireError | None:
        key_refused = check_bearer_key(request, self.api_key)
        if key_refused is not None:
            return key_refused
        if not isinstance(body.get("model"), str) or not body["model"]:
            return _missing("model")
        if "messages" in body:
            return WireError(400, "Unknown parameter: 'messages'.", code="unknown_parameter")
        if not isinstance(body.get("input"), (str, list)) or not body["input"]:
            return _missing("input")
        if body.get("stream") is not True:
            return STREAMING_ONLY
        return None

    model_of = staticmethod(model_in_body)

    def error_body(self, error: WireError) -> dict[str, Any]:
        return {"error": error_object(error)}

    def context_too_long(self, limit: int, sent: int) -> WireError:
        return WireError(
            400,
            "Your input exceeds the context window of this model. Please adjust your input and "
            "try again.",
            error_type="invalid_request_error",
            code="context_length_exceeded",
        )

    def opening(self, context: StreamContext) -> list[bytes]:
        item = {**self._message_item(context, "in_progress"), "content": []}
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            self._event(context, "response.created", response=self._response(context)),
            self._event(context, "response.in_progress", response=self._response(context)),
            self._event(context, "response.output_item.added", output_index=0, item=item),
            self._event(context, "response.content_part.added", **self._place(context), part=part),
        ]

    def reasoning(self, context: StreamContext, thought: str) -> bytes | None:
        return None  # summaries come only when asked for (`reasoning.summary`); Chorus does not

    def text(self, context: StreamContext, text: str) -> bytes:
        context.sent.append(text)
        return self._event(
            context, "response.output_text.delta", **self._place(context), delta=text, logprobs=[]
        )

    def closing(self, context: StreamContext, finish: Finish) -> list[bytes]:
        text = "".join(context.sent)
        if finish == "refusal":
            refusal = "I'm sorry, I can't help with that."
            part: dict[str, Any] = {"type": "refusal", "refusal": refusal}
            place = self._place(context)
            events = [
                self._event(context, "response.refusal.delta", **place, delta=refusal),
                self._event(context, "response.refusal.done", **place, refusal=refusal),
            ]
        else:
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            place = self._place(context)
            events = [
                self._event(context, "response.output_text.done", **place, text=text, logprobs=[])
            ]
        status = "incomplete" if finish == "output_limit" else "completed"
        item = {**self._message_item(context, status), "content": [part]}
        response = self._response(context, status, output=[item])
        if finish == "output_limit":
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        return [
            *events,
            self._event(context, "response.content_part.done", **self._place(context), part=part),
            self._event(context, "response.output_item.done", output_index=0, item=item),
            self._event(context, f"response.{status}", response=response),
        ]

    def stream_error(self, context: StreamContext, error: WireError) -> bytes:
        response = self._response(context, "failed")
        code = error_object(error)["code"] or "server_error"
        response["error"] = {"code": code, "message": error.message}
        return self._event(context, "response.failed", response=response)

    def malformed(self) -> bytes:
        return sse("{not json", event="response.output_text.delta")

    def keep_alive(self) -> bytes | None:
        return None

    def system_prompt(self, body: dict[str, Any]) -> str | None:
        texts = [text_of_parts(item.get("content")) for item in _items(body, SYSTEM_ROLES)]
        instructions = body.get("instructions")
        if isinstance(instructions, str):
            texts.insert(0, instructions)
        return "\n\n".join(texts) if texts else None

    def turns(self, body: dict[str, Any]) -> list[Turn]:
        if isinstance(body.get("input"), str):
            return [("user", body["input"])]
        items = _items(body, CONVERSATION_ROLES)
        return [(item["role"], text_of_parts(item.get("content"))) for item in items]

    def _event(self, context: StreamContext, kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(context.sequence), **fields}, event=kind)

    def _place(self, context: StreamContext) -> dict[str, Any]:
        return {"item_id": f"msg_{context.response_id}", "output_index": 0, "content_index": 0}

    def _message_item(self, context: StreamContext, status: str) -> dict[str, Any]:
        item_id = f"msg_{context.response_id}"
        return {"id": item_id, "type": "message", "status": status, "role": "assistant"}

    def _response(
        self,
        context: StreamContext,
        status: str = "in_progress",
        output: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        finished = status != "in_progress"
        usage = {
            "input_tokens": context.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": context.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": context.input_tokens + context.output_tokens,
        }
        return {
            "id": f"resp_{context.response_id}",
            "object": "response",
            "created_at": context.created,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": context.body.get("instructions"),
            "model": context.model,
            "output": output or [],
            "store": context.body.get("store", True),
            "usage": usage if finished else None,
        }


def _items(body: dict[str, Any], roles: tuple[str, ...]) -> list[dict[str, Any]]:
    items = body.get("input")
    if not isinstance(items, list):
        return []
    messages = [i for i in items if isinstance(i, dict) and i.get("type", "message") == "message"]
    return [message for message in messages if message.get("role") in roles]


def _missing(parameter: str) -> WireError:
    return WireError(
        400, f"Missing required parameter: '{parameter}'.", code="missing_required_parameter"
    )
