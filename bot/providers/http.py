"""What the wire formats share: one streamed POST read as server-sent events, every way it can
fail (connecting, timing out, a cut or unreadable stream) turned into a `ProviderError`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse

from bot.providers.bare_json import events_and_bare_json
from bot.providers.base import (
    ConnectionFailed,
    MalformedStream,
    OutputLimitReached,
    ProviderError,
    ProviderTimeout,
    Refused,
    StoppedEarly,
    StreamCut,
    StreamEvent,
    TextDelta,
    ThoughtTooLong,
    Usage,
)
from bot.providers.errors import error_body, error_for_response, one_line, request_id
from bot.providers.event_stream import EventTooLarge, server_sent_events
from bot.providers.json_fields import UnexpectedShape
from bot.providers.text_mending import TextMender

END_OF_STREAM_WAIT_SECONDS = 0.25


@dataclass(slots=True)
class StreamState:
    """What an event reader has learnt so far about the answer being streamed."""

    provider: str
    request_id: str | None = None
    """The provider's id for the request, given to the error the answer fails with."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    complete: bool = False
    """The provider said the answer is whole (a finish reason, `[DONE]`, `message_stop`)."""
    ended: bool = False
    """Nothing more will come that matters; stop reading."""
    output_limit_reached: bool = False
    """The provider ended the answer because it reached the output-token limit."""
    context_window_filled: bool = False
    """The provider ended the answer because the chat and the answer so far filled the model's
    context window: a limit on the input as much as the output, so said apart."""
    stopped_early: str = ""
    """Why the provider ended the answer before it was whole, in its own words, if it did."""
    refusal: str = ""
    """What the model said declining to answer, so far (OpenAI's `delta.refusal`)."""
    refused: Refused | None = None
    """The model declined or its answer was blocked: raised once the usage reported after it
    (in the same event or a later one) is read, as the tokens were spent all the same."""
    thought_chars: int = 0
    """How much reasoning the model has streamed apart from its answer (never shown): while
    it grows the model is at work, however long its first text takes."""

    def count_thought(self, thought: str | None) -> None:
        """Note a piece of reasoning (or of its signature) the stream carried, if any."""
        self.thought_chars += len(thought or "")

    def count_tokens(self, input_tokens: int | None, output_tokens: int | None) -> None:
        """Keep the latest reported counts; a count a chunk leaves out, or one no count can
        be (below zero, past `MAX_TOKEN_COUNT`), keeps its last value."""
        if _possible(input_tokens):
            self.input_tokens = input_tokens
        if _possible(output_tokens):
            self.output_tokens = output_tokens


MAX_TOKEN_COUNT = 2**31 - 1
"""The most tokens a count is read as: far past any model's context window, and the most the
database's integer columns hold (a count past it, from a server's mistake, would fail the
saving of the answer it came with)."""


def _possible(count: int | None) -> bool:
    return count is not None and 0 <= count <= MAX_TOKEN_COUNT


EventReader = Callable[[ServerSentEvent, StreamState], str]
"""Reads one event into the state and returns the answer text it carries ("" for none);
reasoning it carries goes to `StreamState.count_thought`."""


@dataclass(frozen=True, slots=True)
class SseEndpoint:
    """How one provider is asked: its name in errors, the headers every request carries (the
    key among them), how its events are read, how long its first text may take, how much
    reasoning it may stream meanwhile, and whether JSON it writes outside SSE framing (Gemini's
    errors mid-stream, llama.cpp's `error:` lines) is read as an event too."""

    client: httpx.AsyncClient
    provider: str
    headers: Mapping[str, str]
    read_event: EventReader
    first_token_timeout: float | None = None
    max_thought_chars: int | None = None
    bare_json_events: bool = False

    def stream(self, url: str, body: Mapping[str, Any]) -> AsyncGenerator[StreamEvent, None]:
        return stream_answer(
            self.client,
            self.provider,
            url,
            headers=self.headers,
            body=body,
            read_event=self.read_event,
            first_token_timeout=self.first_token_timeout,
            max_thought_chars=self.max_thought_chars,
            bare_json_events=self.bare_json_events,
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
    max_thought_chars: int | None = None,
    bare_json_events: bool = False,
) -> AsyncGenerator[StreamEvent, None]:
    """POST `body` and stream the answer: text as it comes, then the usage reported (also
    when the answer then fails, or is cancelled as the bot stops reading it: the tokens were
    spent all the same); an answer ended by the output-token limit then raises
    `OutputLimitReached`. No text within `first_token_timeout` seconds (nor, while the model
    streams its reasoning, any reasoning for the client's read timeout), or none for the read
    timeout once text has come, raises `ProviderTimeout`. Reasoning past `max_thought_chars`
    raises `ThoughtTooLong`: a loop in the thoughts would otherwise hold the answer as long as
    the model keeps thinking. `bare_json_events` reads a JSON value written into the body
    without SSE framing as one event more."""
    state = StreamState(provider)
    mender = TextMender()
    deadline = _AnswerDeadline(provider, first_token_timeout, client.timeout.read)
    timeouts = _patient_until_first_token(client.timeout, first_token_timeout)
    posted = _post_for_events(client, state, url, headers, body, timeouts, bare_json_events)
    try:
        async with aclosing(posted) as events:
            while True:
                try:
                    async with asyncio.timeout_at(deadline.at):
                        event = await anext(events, None)
                except (TimeoutError, StreamCut, ProviderTimeout) as error:
                    if state.complete:
                        # The provider had said the answer is whole (Gemini sends no end
                        # marker after its finish reason): only the end of the body was lost.
                        break
                    if isinstance(error, TimeoutError):
                        raise deadline.missed() from None
                    raise
                if event is None:
                    break
                thought_chars = state.thought_chars
                text = mender.mend(_read(read_event, event, state))
                if text:
                    deadline.text_came()
                    yield TextDelta(text)
                elif state.thought_chars > thought_chars:
                    if max_thought_chars is not None and state.thought_chars > max_thought_chars:
                        raise ThoughtTooLong(max_thought_chars)
                    deadline.thought_came()
                if state.ended:
                    await _read_to_end(events)
                    break
        if rest := mender.rest():
            yield TextDelta(rest)
        if (failure := _failure_at_end(state)) is not None:
            raise failure
    except (ProviderError, asyncio.CancelledError) as error:
        if isinstance(error, ProviderError):
            error.request_id = state.request_id
        # The tokens were counted (Anthropic's input at `message_start`, Gemini's in every
        # chunk, a failed Responses response's own usage) whether or not the answer ends well.
        # Cancelled (the bot stopped reading: Stop, an answer too long), they are one last
        # event before the cancellation goes on: `BufferedStream`'s reader only queues it, for
        # `close` to hand back; yielding them with every chunk instead would cost every chunk.
        if usage := _usage_so_far(state):
            yield usage
        raise
    if usage := _usage_so_far(state):
        yield usage


def _read(read_event: EventReader, event: ServerSentEvent, state: StreamState) -> str:
    try:
        return read_event(event, state)
    except UnexpectedShape as error:
        raise MalformedStream(
            f"{state.provider} sent a stream that could not be read ({error})."
        ) from error


def _failure_at_end(state: StreamState) -> ProviderError | None:
    """The error the answer ended with, if any."""
    if not state.complete:
        return StreamCut(stream_cut_message(state.provider))
    if state.refused is not None:
        return state.refused
    if state.output_limit_reached:
        return OutputLimitReached(f"{state.provider} stopped at the output-token limit.")
    if state.context_window_filled:
        return OutputLimitReached(
            f"{state.provider} stopped when the chat filled the model's context window."
        )
    if state.stopped_early:
        # Its reason is the provider's own word, whatever a server sent: one line, bounded.
        why = one_line(state.stopped_early)
        return StoppedEarly(f"{state.provider} stopped the answer early ({why}).")
    return None


def _usage_so_far(state: StreamState) -> Usage | None:
    if state.input_tokens is None and state.output_tokens is None:
        return None
    return Usage(state.input_tokens, state.output_tokens)


class _AnswerDeadline:
    """When to stop waiting for the next event, and why. Keep-alives (Anthropic pings,
    OpenRouter comments) reset httpx's read timeout, so a model that sends nothing else needs
    deadlines of its own: the first-token deadline, then the read timeout after each text.
    Streamed reasoning shows the model at work, so it may put the deadline off, never closer."""

    def __init__(self, provider: str, first_token_timeout: float | None, silence: float | None):
        self._provider = provider
        self._first_token_timeout = first_token_timeout
        self._silence = silence
        self._loop = asyncio.get_running_loop()
        self.at = None if first_token_timeout is None else self._loop.time() + first_token_timeout
        self._waiting_for = "first text"

    def text_came(self) -> None:
        self.at = self._silence_from_now()
        self._waiting_for = "text"

    def thought_came(self) -> None:
        later = self._silence_from_now()
        if self.at is not None and (later is None or later > self.at):
            self.at = later
            self._waiting_for = "thought"  # also after some text: the model thinks again

    def missed(self) -> ProviderTimeout:
        if self._waiting_for == "text":
            return ProviderTimeout(
                f"{self._provider} stopped sending text (none for {self._silence:g} s)."
            )
        if self._waiting_for == "thought":
            return ProviderTimeout(
                f"{self._provider} stopped sending anything while thinking "
                f"(none for {self._silence:g} s)."
            )
        return ProviderTimeout(
            f"{self._provider} took too long to start answering "
            f"(no text within {self._first_token_timeout:g} s)."
        )

    def _silence_from_now(self) -> float | None:
        return None if self._silence is None else self._loop.time() + self._silence


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


def _patient_until_first_token(
    timeout: httpx.Timeout, first_token_timeout: float | None
) -> httpx.Timeout:
    """The client's timeouts, but reads that wait as long as the first-token deadline: a model
    thinking before its first token may send nothing at all meanwhile (the deadline, and then
    the wait for each next text, are kept by `stream_answer` itself)."""
    if first_token_timeout is None or timeout.read is None:
        return timeout
    read = max(timeout.read, first_token_timeout)
    return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)


async def _post_for_events(
    client: httpx.AsyncClient,
    state: StreamState,
    url: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeouts: httpx.Timeout,
    bare_json_events: bool,
) -> AsyncGenerator[ServerSentEvent, None]:
    provider = state.provider
    try:
        async with aconnect_sse(
            client, "POST", url, headers=dict(headers), json=body, timeout=timeouts
        ) as source:
            response = source.response
            state.request_id = request_id(response.headers)
            if not response.is_success:
                raise error_for_response(provider, response, await error_body(response))
            read = (
                events_and_bare_json(response) if bare_json_events else server_sent_events(response)
            )
            async with aclosing(read) as events:
                async for event in events:
                    yield event
    except EventTooLarge as error:
        raise MalformedStream(
            f"{provider} sent a stream that could not be read ({error})."
        ) from error
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
        raise MalformedStream(f"{provider} sent a stream that could not be decoded.") from error
    except httpx.RequestError as error:
        raise ConnectionFailed(f"Could not reach {provider}.") from error
