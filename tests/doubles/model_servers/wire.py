"""What every provider wire format provides to the fake model server."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiohttp import web

Finish = Literal["stop", "refusal", "output_limit"]
Turn = tuple[str, str]  # (role "user" | "assistant", text)


@dataclass(frozen=True)
class WireError:
    """A refusal in provider-neutral terms; each wire renders it in its provider's shape."""

    status: int
    message: str
    error_type: str | None = None  # the provider's own type; None = its usual one for `status`
    code: str | None = None  # a finer code: OpenAI `code`, Gemini ErrorInfo reason


STREAMING_ONLY = WireError(400, "this fake server only answers streaming requests (stream: true)")


def model_in_body(request: web.Request, body: dict[str, Any]) -> str:
    """The model named by the body's `model` field (all but Gemini, which names it in the path)."""
    return str(body.get("model", ""))


@dataclass(frozen=True)
class StreamContext:
    """One scripted answer being sent: ids, model and the token counts to report."""

    model: str
    response_id: str
    created: int
    input_tokens: int
    output_tokens: int
    body: dict[str, Any] = field(default_factory=dict)
    thinks: bool = False
    """Whether reasoning comes before the text, for wires that open a block for it."""
    sent: list[str] = field(default_factory=list)
    """The text sent so far, for wires whose closing events repeat the whole answer."""
    sequence: Iterator[int] = field(default_factory=itertools.count)
    """Numbers for wires that number their events."""


class ConversationReader(Protocol):
    """Reads the conversation out of a request body of one wire format."""

    def system_prompt(self, body: dict[str, Any]) -> str | None: ...

    def turns(self, body: dict[str, Any]) -> list[Turn]: ...


class WireFormat(ConversationReader, Protocol):
    """A provider's HTTP contract: what it refuses, how it names errors, how it streams."""

    @property
    def provider(self) -> str:
        """The provider name, as in model names: openai, openrouter, ollama, anthropic, google."""
        ...

    @property
    def content_type(self) -> str: ...

    def refuse(self, request: web.Request, body: dict[str, Any]) -> WireError | None:
        """Why the provider would refuse this request (auth, version, shape), if it would."""
        ...

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str: ...

    def error_body(self, error: WireError) -> dict[str, Any]: ...

    def context_too_long(self, limit: int, sent: int) -> WireError:
        """The provider's refusal of a request of `sent` tokens to a model of `limit`."""
        ...

    def opening(self, context: StreamContext) -> list[bytes]: ...

    def reasoning(self, context: StreamContext, thought: str) -> bytes | None:
        """A piece of reasoning apart from the answer, if the provider streams it at all."""
        ...

    def text(self, context: StreamContext, text: str) -> bytes: ...

    def closing(self, context: StreamContext, finish: Finish) -> list[bytes]: ...

    def stream_error(self, context: StreamContext, error: WireError) -> bytes: ...

    def malformed(self) -> bytes: ...

    def keep_alive(self) -> bytes | None:
        """What the provider sends to keep a quiet stream open, if it sends anything."""
        ...


def sse(data: object, *, event: str | None = None, separator: str = "\n\n") -> bytes:
    """One server-sent event: optional `event:` line, a `data:` line of JSON (or raw text)."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}{separator}".encode()


def text_of_parts(content: object) -> str:
    """Text of a message content given as a string or as a list of parts with a `text`."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [part for part in content if isinstance(part, dict)]
    return "\n".join(part["text"] for part in parts if isinstance(part.get("text"), str))
