"""What the wire formats share: one streamed POST read as server-sent events, and every way it
can fail turned into a `ProviderError` whose message is one line fit for Slack."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse

from bot.providers.base import (
    AuthenticationFailed,
    BadRequest,
    ConnectionFailed,
    MalformedStream,
    OutputLimitReached,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
    StreamCut,
    StreamEvent,
    TextDelta,
    Usage,
)

T = TypeVar("T")

MAX_DETAIL_CHARS = 200
END_OF_STREAM_WAIT_SECONDS = 0.25

# Errors that arrive inside a stream carry no HTTP status, only the API's name for the error;
# these are the statuses the same errors are sent with outside a stream.
_STATUS_FOR_ERROR_TYPE: dict[str, int] = {
    # Anthropic error types
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
    # OpenAI error types and codes
    "context_length_exceeded": 400,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    # Gemini (google.rpc) statuses
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

_URL_QUERY = re.compile(r"(https?://[^\s?#]+)[?#]\S*")


class UnexpectedShape(Exception):
    """Raised by an event reader for data it cannot read; reported as `MalformedStream`."""


@dataclass(slots=True)
class StreamState:
    """What an event reader has learnt so far about the answer being streamed."""

    provider: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    complete: bool = False
    """The provider said the answer is whole (a finish reason, `[DONE]`, `message_stop`)."""
    ended: bool = False
    """Nothing more will come that matters; stop reading."""
    output_limit_reached: bool = False
    """The provider ended the answer because it reached the output-token limit."""

    def count_tokens(self, input_tokens: int | None, output_tokens: int | None) -> None:
        """Keep the latest reported counts; a count a chunk leaves out keeps its last value."""
        if input_tokens is not None:
            self.input_tokens = input_tokens
        if output_tokens is not None:
            self.output_tokens = output_tokens


EventReader = Callable[[ServerSentEvent, StreamState], str]
"""Reads one event into the state and returns the answer text it carries ("" for none)."""


@dataclass(frozen=True, slots=True)
class SseEndpoint:
    """How one provider is asked: its name in errors, the headers every request carries (the
    key among them), how its events are read, and how long its first text may take."""

    client: httpx.AsyncClient
    provider: str
    headers: Mapping[str, str]
    read_event: EventReader
    first_token_timeout: float | None = None

    def stream(self, url: str, body: Mapping[str, Any]) -> AsyncIterator[StreamEvent]:
        return stream_answer(
            self.client,
            self.provider,
            url,
            headers=self.headers,
            body=body,
            read_event=self.read_event,
            first_token_timeout=self.first_token_timeout,
        )


async def stream_answer(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    read_event: EventReader,
    first_token_timeout: float | None = None,
) -> AsyncIterator[StreamEvent]:
    """POST `body` and stream the answer: text as it comes, then usage once the answer is whole;
    an answer ended by the output-token limit then raises `OutputLimitReached`. No text within
    `first_token_timeout` seconds, or none for the client's read timeout once text has come,
    raises `ProviderTimeout`."""
    state = StreamState(provider)
    # Keep-alives (Anthropic pings, OpenRouter comments) reset httpx's read timeout, so a model
    # that sends nothing else needs deadlines of its own.
    loop = asyncio.get_running_loop()
    deadline = None if first_token_timeout is None else loop.time() + first_token_timeout
    text_silence = client.timeout.read
    seen_text = False
    async with aclosing(_post_for_events(client, provider, url, headers, body)) as events:
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    event = await anext(events, None)
            except TimeoutError:
                if seen_text:
                    raise ProviderTimeout(
                        f"{provider} stopped sending text (none for {text_silence:g} s)."
                    ) from None
                raise ProviderTimeout(
                    f"{provider} took too long to start answering "
                    f"(no text within {first_token_timeout:g} s)."
                ) from None
            if event is None:
                break
            try:
                text = read_event(event, state)
            except UnexpectedShape as error:
                raise MalformedStream(
                    f"{provider} sent a stream we could not read ({error})."
                ) from error
            if text:
                seen_text = True
                deadline = None if text_silence is None else loop.time() + text_silence
                yield TextDelta(text)
            if state.ended:
                await _read_to_end(events)
                break
    if not state.complete:
        raise StreamCut(stream_cut_message(provider))
    if state.input_tokens is not None or state.output_tokens is not None:
        yield Usage(state.input_tokens, state.output_tokens)
    if state.output_limit_reached:
        raise OutputLimitReached(f"{provider} stopped at the output-token limit.")


async def _read_to_end(events: AsyncIterator[ServerSentEvent]) -> None:
    """Read what follows the provider's last event (normally just the end of the body), so
    the connection goes back to the pool: one closed early is dropped, and the next request
    to that provider pays for a new connection (a TLS handshake, one or more round trips).
    A server that keeps the stream open is not waited for long, and nothing it sends counts."""
    with suppress(TimeoutError, ProviderError):
        async with asyncio.timeout(END_OF_STREAM_WAIT_SECONDS):
            async for _ in events:
                pass


def stream_cut_message(provider: str) -> str:
    return f"The stream from {provider} stopped before the answer was complete."


async def _post_for_events(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
) -> AsyncGenerator[ServerSentEvent, None]:
    try:
        async with aconnect_sse(client, "POST", url, headers=dict(headers), json=body) as source:
            response = source.response
            if not response.is_success:
                await response.aread()
                raise error_for_response(provider, response)
            async for event in source.aiter_sse():
                yield event
    # httpx-sse's SSEError is a TransportError, so it must be caught before those.
    except SSEError as error:
        raise MalformedStream(f"{provider} did not answer with an event stream.") from error
    except httpx.ConnectTimeout as error:
        raise ProviderTimeout(f"Timed out connecting to {provider}.") from error
    except httpx.ConnectError as error:
        raise ConnectionFailed(f"Could not connect to {provider}.") from error
    except httpx.TimeoutException as error:
        raise ProviderTimeout(f"{provider} took too long to send the answer.") from error
    except (httpx.RemoteProtocolError, httpx.ReadError) as error:
        raise StreamCut(stream_cut_message(provider)) from error
    except httpx.DecodingError as error:
        raise MalformedStream(f"{provider} sent a stream we could not decode.") from error
    except httpx.RequestError as error:
        raise ConnectionFailed(f"Could not reach {provider}.") from error


def error_for_response(provider: str, response: httpx.Response) -> ProviderError:
    """The error for a non-2xx answer, read from the provider's JSON error body if it sent one."""
    error = _error_object(response.content)
    status = response.status_code
    # Gemini answers a bad API key with 400 INVALID_ARGUMENT; it is still an authentication error.
    if _has_detail(error, "reason", "API_KEY_INVALID"):
        status = 401
    if status == 429 and "insufficient_quota" in (error.get("code"), error.get("type")):
        return QuotaExhausted(
            f"{provider} quota is used up (HTTP 429 insufficient_quota); check the account's "
            "plan and billing.",
            status=status,
        )
    retry_after = retry_after_seconds(response.headers)
    if retry_after is None:
        retry_after = _retry_delay_in_details(error)
    # Only the provider's own error message is quoted: any other body (a proxy's HTML page,
    # a local server's traceback) is not written for people to read.
    message = error.get("message")
    detail = one_line(message) if isinstance(message, str) else ""
    return error_for_status(provider, status, detail, retry_after=retry_after)


def error_in_stream(provider: str, error: object) -> ProviderError:
    """The error for an error object sent inside the stream (`{"type", "message"}`, `{"code"}`)."""
    fields: Mapping[str, Any] = error if isinstance(error, dict) else {"message": error}
    code = fields.get("code")
    names = [fields.get(key) for key in ("type", "status", "code")]
    name = next((n for n in names if isinstance(n, str) and n in _STATUS_FOR_ERROR_TYPE), None)
    if name is not None:
        status, cause = _STATUS_FOR_ERROR_TYPE[name], name
    elif isinstance(code, int) and 400 <= code <= 599:
        status, cause = code, f"error {code}"
    else:
        status, cause = 500, "error in the stream"
    message = fields.get("message")
    detail = one_line(message) if isinstance(message, str) else ""
    return error_for_status(provider, status, detail, cause=cause)


def error_for_status(
    provider: str,
    status: int,
    detail: str = "",
    *,
    retry_after: float | None = None,
    cause: str | None = None,
) -> ProviderError:
    """The error for an HTTP status. `cause` names an in-stream error classified as `status`;
    the message then cites it instead of an HTTP status that was never sent."""
    cited = cause or f"HTTP {status}"
    http_status = None if cause else status
    if status == 429:
        return RateLimited(
            f"{provider} rate limit reached ({cited}).", status=http_status, retry_after=retry_after
        )
    if status in (503, 529):
        return Overloaded(
            f"{provider} is overloaded ({cited}); try again in a moment.", status=http_status
        )
    if 500 <= status <= 599:
        return ServerError(f"{provider} had a server error ({cited}).", status=http_status)
    if status == 408:
        return ProviderTimeout(f"{provider} took too long to answer ({cited}).", status=http_status)
    if status in (401, 403):
        # The provider's own message is left out: some quote part of the key.
        return AuthenticationFailed(
            f"{provider} did not accept the API key ({cited}); check the key and its access.",
            status=http_status,
        )
    if 400 <= status <= 499:
        ending = f": {detail}" if detail else "."
        return BadRequest(f"{provider} rejected the request ({cited}){ending}", status=http_status)
    return ProviderError(f"{provider} answered with unexpected {cited}.", status=http_status)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """The wait a response asks for: `retry-after-ms`, or `Retry-After` in seconds or as a date."""
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return max(milliseconds / 1000, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def one_line(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """`text` on one line of at most `limit` characters, URLs without their query strings."""
    line = _URL_QUERY.sub(r"\1", " ".join(text.split()))
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def parse_json_object(data: str) -> dict[str, Any]:
    """The JSON object in an event's `data:`."""
    try:
        value = json.loads(data)
    except ValueError:
        raise UnexpectedShape("data that is not JSON") from None
    if not isinstance(value, dict):
        raise UnexpectedShape("data that is not a JSON object")
    return value


def field(obj: Mapping[str, Any], key: str, kind: type[T]) -> T | None:
    """`obj[key]` if it is a `kind`, None if missing or null; `UnexpectedShape` otherwise."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UnexpectedShape(f"{key!r} is not {kind.__name__}")
    return value


def required(obj: Mapping[str, Any], key: str, kind: type[T]) -> T:
    """`obj[key]`, which must be a `kind`."""
    value = field(obj, key, kind)
    if value is None:
        raise UnexpectedShape(f"{key!r} is missing")
    return value


def objects(items: list[Any], what: str) -> list[dict[str, Any]]:
    """`items`, each of which must be a JSON object."""
    if not all(isinstance(item, dict) for item in items):
        raise UnexpectedShape(f"{what} that is not an object")
    return items


def _error_object(content: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(content)
    except ValueError:
        return {}
    # Gemini's streaming endpoint may wrap the error body in a list.
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return error
    # Ollama and some other OpenAI-compatible servers send {"error": "message"}.
    if isinstance(error, str):
        return {"message": error}
    return {}


def _details(error: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [detail for detail in details if isinstance(detail, dict)]


def _has_detail(error: Mapping[str, Any], key: str, value: str) -> bool:
    return any(detail.get(key) == value for detail in _details(error))


def _retry_delay_in_details(error: Mapping[str, Any]) -> float | None:
    """Gemini's `google.rpc.RetryInfo` detail: `{"retryDelay": "37s"}`."""
    for detail in _details(error):
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            return _number(delay[:-1])
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
