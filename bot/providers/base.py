"""The one protocol every provider wire format implements, and the errors they raise."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.chat.messages import ChatMessage, ModelRequest


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of answer text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class TextRetracted:
    """The text streamed so far was no answer but the model's thinking, found out only when
    it ended: it is dropped, and the answer's text follows."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as the provider reports it (either may be unknown)."""

    input_tokens: int | None = None
    output_tokens: int | None = None


StreamEvent = TextDelta | TextRetracted | Usage


class ModelProvider(Protocol):
    """Streams one model's answer. Raises a `ProviderError` subclass on any failure."""

    def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]: ...


class ProviderError(Exception):
    """A model call failed. `str(error)` is one short line fit to show people in Slack."""

    retryable: bool = False
    request_id: str | None = None
    """The provider's id for the request that failed, when its answer gave one: for the log,
    as the provider's support asks for it."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds to wait before trying again, when it said


class RateLimited(ProviderError):
    """HTTP 429: the provider asks us to slow down."""

    retryable = True

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after)


class QuotaExhausted(ProviderError):
    """HTTP 429 (or 402) that waiting will not fix: the account's quota, credits or spend
    limit is used up."""


class Overloaded(ProviderError):
    """The provider is temporarily overloaded (Anthropic 529, Gemini 503 UNAVAILABLE)."""

    retryable = True


class ServerError(ProviderError):
    """A 5xx answer from the provider."""

    retryable = True


class ProviderTimeout(ProviderError):
    """Connecting, or waiting for the next bytes of the stream, took too long."""

    retryable = True


class ConnectionFailed(ProviderError):
    """The provider could not be reached."""

    retryable = True


class AuthenticationFailed(ProviderError):
    """The API key was refused (401/403)."""


class BadRequest(ProviderError):
    """The provider rejected the request (unknown model, context too long, 400/404)."""


class ContextTooLong(BadRequest):
    """The request is longer than the model's context: `limit` tokens, where `sent` were
    sent, when the provider said."""

    def __init__(
        self, message: str, *, status: int | None, limit: int | None, sent: int | None
    ) -> None:
        super().__init__(message, status=status)
        self.limit = limit
        self.sent = sent


class NotSetUp(ProviderError):
    """The model's provider has no API key here (any more): nothing was sent to it."""


class Refused(ProviderError):
    """The model declined to answer or its answer was blocked by a safety filter."""


class MalformedStream(ProviderError):
    """The stream carried data we could not understand."""

    retryable = True


class OutputLimitReached(ProviderError):
    """The model stopped at the output-token limit; asking again would stop there again."""


class ThoughtTooLong(ProviderError):
    """The model thought aloud past the longest answer shown without answering: caught in a
    loop, most likely, so asking again would go round again."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The model's thinking passed {limit:,} characters, "
            "the most Chorus waits for an answer."
        )


class StoppedEarly(ProviderError):
    """The provider ended the answer, whole as far as the stream goes, for a reason other than
    a natural stop or the output limit (Gemini's finish reason OTHER)."""

    retryable = True


class StreamCut(ProviderError):
    """The stream ended before the provider said the answer was complete."""

    retryable = True


def merge_consecutive_roles(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Join adjacent turns of the same role, for APIs that require strict alternation."""
    merged: list[ChatMessage] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            merged[-1] = ChatMessage(message.role, f"{merged[-1].content}\n\n{message.content}")
        else:
            merged.append(message)
    return merged


# Some APIs refuse a conversation that opens with the model speaking; this stands in for the
# user turn that was dropped from the context (e.g. deleted) so the rest can still be sent.
CONTINUED_CONVERSATION = "(earlier messages omitted)"


def system_in_first_turn(request: ModelRequest) -> ModelRequest:
    """The request with its system prompt opening its first user turn, for a model whose chat
    template has no system role."""
    if not request.system:
        return request
    first, *rest = request.messages
    if first.role == "user":
        opened = ChatMessage("user", f"{request.system}\n\n{first.content}")
        return ModelRequest("", (opened, *rest))
    return ModelRequest("", (ChatMessage("user", request.system), first, *rest))


def alternating_turns(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Turns that alternate strictly and open with a user turn (Anthropic, Gemini)."""
    turns = merge_consecutive_roles(messages)
    if turns and turns[0].role == "assistant":
        turns.insert(0, ChatMessage("user", CONTINUED_CONVERSATION))
    return turns
