"""Retrying a model call that failed before its first token."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from bot.chat.context import shortened
from bot.chat.messages import ModelRequest
from bot.chat.quoting import as_sentence
from bot.providers.base import (
    ContextTooLong,
    ModelProvider,
    ProviderError,
    StreamEvent,
    TextDelta,
    TextRetracted,
)
from bot.providers.errors import wait_as_read

Sleep = Callable[[float], Awaitable[object]]
OnRetry = Callable[[ProviderError, int, float], None]
OnShortened = Callable[[ContextTooLong, int], None]  # the error, how many messages left out

# How many times a request the model found longer than its context is sent again, shorter.
MAX_SHORTENINGS = 3


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry. `jitter` is the largest extra wait, as a fraction
    of the wait, that keeps many answers hit by the same outage from retrying in lockstep."""

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    jitter: float = 0.1

    def delay_after(self, error: ProviderError, attempt: int) -> float:
        """Seconds to wait after attempt number `attempt` (from 1) failed with `error`."""
        if error.retry_after is not None:
            delay = min(error.retry_after, self.max_retry_after)
        else:
            delay = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        return delay * (1 + random.uniform(0, self.jitter))

    def too_long_to_wait(self, error: ProviderError) -> bool:
        """Whether `error` asks for a longer wait than this policy allows."""
        return error.retry_after is not None and error.retry_after > self.max_retry_after


def _saying_when(error: ProviderError) -> ProviderError:
    """`error` as the error an answer ends with: when it asked for a wait, its line says when
    to try again, as no retry of the bot's will."""
    if error.retry_after is None or error.retry_after <= 0:
        return error
    final = type(error)(
        f"{as_sentence(str(error))} Try again in {wait_as_read(error.retry_after)}.",
        status=error.status,
        retry_after=error.retry_after,
    )
    final.request_id = error.request_id
    return final


def _too_long_alone(error: ContextTooLong) -> ContextTooLong:
    """`error` for a request with no earlier turn left to leave out, saying so."""
    alone = ContextTooLong(
        f"{as_sentence(str(error))} The message is too long for this model even with the "
        "earlier conversation left out.",
        status=error.status,
        limit=error.limit,
        sent=error.sent,
    )
    alone.request_id = error.request_id
    return alone


async def stream_with_retries(
    provider: ModelProvider,
    model_id: str,
    request: ModelRequest,
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    on_retry: OnRetry | None = None,
    on_shortened: OnShortened | None = None,
) -> AsyncIterator[StreamEvent]:
    """`provider.stream`, started again after a retryable error as long as no text has been
    yielded (or all of it retracted); once text has streamed, an error propagates so the
    caller keeps the partial text. The usage a failed attempt reported passes on all the same;
    each count a later attempt reports replaces its own. A request the model finds longer than
    its context is sent again at once with its oldest history left out, as the context window
    would leave it out (`shortened`), up to MAX_SHORTENINGS times."""
    attempt = shortenings = 1
    while True:
        text_yielded = False
        events = provider.stream(model_id, request)
        try:
            async for event in events:
                # A line break alone is not yet an answer worth keeping over a retry.
                if isinstance(event, TextDelta) and event.text.strip():
                    text_yielded = True
                elif isinstance(event, TextRetracted):
                    text_yielded = False  # it was thought, not answer: nothing to keep
                yield event
            return
        except ContextTooLong as error:
            too_many = text_yielded or shortenings > MAX_SHORTENINGS
            shorter = None if too_many else shortened(request, error.limit, error.sent)
            if shorter is None and not too_many and request.within is not None:
                raise _too_long_alone(error) from error
            if shorter is None:
                raise
            if on_shortened is not None:
                on_shortened(error, len(request.messages) - len(shorter.messages))
            request, shortenings = shorter, shortenings + 1
            continue
        except ProviderError as error:
            if text_yielded or not error.retryable:
                raise
            if attempt >= policy.max_attempts or policy.too_long_to_wait(error):
                if (final := _saying_when(error)) is error:
                    raise
                raise final from error
            delay = policy.delay_after(error, attempt)
            if on_retry is not None:
                on_retry(error, attempt, delay)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        await sleep(delay)
        attempt += 1
