"""How a fake model behaves: what it answers, how fast, and how it fails."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tests.doubles.model_servers.recording import RecordedRequest

CHARS_PER_TOKEN = 4
STREAM_FAULTS = (
    "hang_before_first_token",
    "cut_after_chunks",
    "malformed_after_chunks",
    "stream_error_after_chunks",
    "refusal",
    "output_limit_after_chunks",
    "keep_alive_only",
    "keep_alive_after_chunks",
)


@dataclass(frozen=True)
class ModelFault:
    """A failure: an HTTP error (status, provider error type, message, Retry-After) by default,
    or one stream fault when one of the stream fields is set."""

    status: int = 500
    error_type: str | None = None  # the provider's own type; None = its usual one for `status`
    message: str = "The fake model server was told to fail."
    retry_after: int | None = None
    plain_body: str | None = None  # sent as text/plain instead of the provider's JSON error body
    hang_before_first_token: bool = False  # headers, then silence until the client gives up
    cut_after_chunks: int | None = None  # connection closed after N text chunks, no terminal event
    malformed_after_chunks: int | None = None  # a `data: {not json` line after N text chunks
    stream_error_after_chunks: int | None = None  # the provider's in-stream error event
    refusal: bool = False  # the provider's refusal finish (content_filter, refusal, SAFETY)
    output_limit_after_chunks: int | None = None  # N text chunks, then the max-tokens finish
    keep_alive_only: bool = False  # the opening, then keep-alives only until the client gives up
    keep_alive_after_chunks: int | None = None  # N text chunks, then keep-alives only

    def __post_init__(self) -> None:
        if len(self._stream_faults()) > 1:
            raise ValueError(f"a ModelFault has one stream fault at most: {self._stream_faults()}")

    def _stream_faults(self) -> list[str]:
        # Not `in (None, False)`: 0 == False, and "after 0 chunks" is a fault like any other.
        return [
            name
            for name in STREAM_FAULTS
            if getattr(self, name) is not None and getattr(self, name) is not False
        ]

    @property
    def stream_fault(self) -> str | None:
        """The name of the stream fault, or None for an HTTP error."""
        chosen = self._stream_faults()
        return chosen[0] if chosen else None

    @property
    def chunks_before_fault(self) -> int:
        """How many text chunks are sent before a stream fault strikes."""
        value = getattr(self, self.stream_fault or "refusal")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0


Reply = str | Callable[[RecordedRequest], str] | None


@dataclass(frozen=True)
class ModelScript:
    """A fake model's behaviour. The default reply is "{model} answers: {last user text}"."""

    reply: Reply = None
    # Thought before the reply, in the provider's reasoning field if it has one (Anthropic's and
    # Gemini's only when the request asks for thinking); thought in silence otherwise.
    reasoning: str = ""
    chunk_chars: int = 12
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    usage: tuple[int, int] | None = None  # (input, output) tokens; None = from text lengths
    error: ModelFault | None = None
    fail_times: int | None = None  # None = every request fails; N = the first N requests fail
    # The model's context in tokens (of the prompt's characters, as `token_usage` counts them):
    # a longer request is refused as its provider refuses one.
    context_tokens: int | None = None

    def prompt_tokens(self, request: RecordedRequest) -> int:
        return _tokens(request.prompt_chars())

    def fault_for(self, request_number: int) -> ModelFault | None:
        """The fault the model's `request_number`-th request (from 0) gets, if any."""
        if self.error is None:
            return None
        if self.fail_times is not None and request_number >= self.fail_times:
            return None
        return self.error

    def reply_text(self, request: RecordedRequest) -> str:
        if self.reply is None:
            return f"{request.model} answers: {request.last_user_text()}"
        if isinstance(self.reply, str):
            return self.reply
        return self.reply(request)

    def chunks(self, text: str) -> list[str]:
        step = max(1, self.chunk_chars)
        return [text[start : start + step] for start in range(0, len(text), step)]

    def token_usage(self, request: RecordedRequest, text: str) -> tuple[int, int]:
        if self.usage is not None:
            return self.usage
        return self.prompt_tokens(request), _tokens(len(text))


def _tokens(chars: int) -> int:
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))


DEFAULT_SCRIPT = ModelScript()
