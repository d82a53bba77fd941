"""Retries: only before the first token, only for retryable errors, at the pace asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from bot.chat.messages import ModelRequest
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
    Refused,
    ServerError,
    StreamCut,
    StreamEvent,
    TextDelta,
    Usage,
)
from bot.providers.retry import RetryPolicy, stream_with_retries
from tests.providers.replay import collect, conversation

NO_JITTER = RetryPolicy(jitter=0)


class ScriptedProvider:
    """Each call plays the next script: its events, then its error if it has one."""

    def __init__(self, *scripts: tuple[Sequence[StreamEvent], ProviderError | None]) -> None:
        self._scripts = list(scripts)
        self.calls = 0
        self.closed = 0

    async def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        events, error = self._scripts[self.calls]
        self.calls += 1
        try:
            for event in events:
                yield event
            if error is not None:
                raise error
        finally:
            self.closed += 1


def fails(error: ProviderError) -> tuple[Sequence[StreamEvent], ProviderError]:
    return (), error


ANSWERS = ([TextDelta("4 and "), TextDelta("6."), Usage(10, 3)], None)


class Sleeps:
    """A `sleep` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def retrying(provider: ScriptedProvider, policy: RetryPolicy = NO_JITTER, **options):
    sleeps = Sleeps()
    answer = await collect(
        stream_with_retries(provider, "m", conversation(), policy, sleep=sleeps, **options)
    )
    return answer, sleeps.delays


async def test_failures_before_text_are_retried_with_exponential_backoff():
    provider = ScriptedProvider(fails(ServerError("5xx")), fails(Overloaded("busy")), ANSWERS)
    retries: list[tuple[str, int, float]] = []

    answer, delays = await retrying(
        provider,
        RetryPolicy(max_attempts=3, base_delay=0.5, jitter=0),
        on_retry=lambda error, attempt, delay: retries.append((str(error), attempt, delay)),
    )

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(10, 3)]
    assert delays == [0.5, 1.0]
    assert retries == [("5xx", 1, 0.5), ("busy", 2, 1.0)]
    assert provider.calls == 3


async def test_backoff_is_capped_by_max_delay():
    policy = RetryPolicy(max_attempts=5, base_delay=3, max_delay=8, jitter=0)
    provider = ScriptedProvider(*[fails(ServerError("5xx"))] * 4, ANSWERS)

    _, delays = await retrying(provider, policy)

    assert delays == [3, 6, 8, 8]


async def test_jitter_only_ever_adds_a_little():
    policy = RetryPolicy(max_attempts=2, base_delay=1, jitter=0.1)
    for _ in range(20):
        _, delays = await retrying(ScriptedProvider(fails(ServerError("5xx")), ANSWERS), policy)
        assert 1 <= delays[0] <= 1.1


async def test_rate_limit_retry_after_is_honoured():
    provider = ScriptedProvider(fails(RateLimited("429", retry_after=12.5)), ANSWERS)

    answer, delays = await retrying(provider)

    assert answer.text == "4 and 6."
    assert delays == [12.5]


async def test_a_rate_limit_without_retry_after_backs_off_like_any_failure():
    provider = ScriptedProvider(fails(RateLimited("429")), ANSWERS)

    answer, delays = await retrying(provider, RetryPolicy(base_delay=0.5, jitter=0))

    assert answer.error is None
    assert delays == [0.5]


async def test_a_rate_limit_asking_for_exactly_the_longest_wait_is_waited_out():
    provider = ScriptedProvider(fails(RateLimited("429", retry_after=30)), ANSWERS)

    answer, delays = await retrying(provider, RetryPolicy(max_retry_after=30, jitter=0))

    assert answer.error is None
    assert delays == [30]


@pytest.mark.parametrize(("retry_after", "when"), [(600, "10 min"), (45, "45 s")])
async def test_a_rate_limit_longer_than_the_bot_waits_ends_at_once_saying_when(
    retry_after: float, when: str
):
    limited = RateLimited("OpenAI rate limit reached (HTTP 429).", retry_after=retry_after)
    provider = ScriptedProvider(fails(limited), ANSWERS)

    answer, delays = await retrying(provider, RetryPolicy(max_retry_after=30, jitter=0))

    assert delays == []
    assert provider.calls == 1
    assert isinstance(answer.error, RateLimited)
    assert str(answer.error) == f"OpenAI rate limit reached (HTTP 429). Try again in {when}."


async def test_any_failure_asking_for_a_wait_gets_that_wait():
    provider = ScriptedProvider(fails(Overloaded("503", retry_after=20)), ANSWERS)

    answer, delays = await retrying(provider)

    assert answer.error is None
    assert delays == [20]


async def test_any_failure_asking_for_too_long_a_wait_ends_at_once_saying_when():
    busy = Overloaded("OpenRouter is overloaded (HTTP 503); try again later.", retry_after=90)
    provider = ScriptedProvider(fails(busy), ANSWERS)

    answer, delays = await retrying(provider, RetryPolicy(max_retry_after=30, jitter=0))

    assert delays == []
    assert isinstance(answer.error, Overloaded)
    assert str(answer.error) == f"{busy} Try again in 90 s."


async def test_gives_up_after_max_attempts_with_the_last_error():
    provider = ScriptedProvider(
        fails(ServerError("first")), fails(ServerError("second")), fails(StreamCut("third"))
    )

    answer, delays = await retrying(provider, RetryPolicy(max_attempts=3, jitter=0))

    assert isinstance(answer.error, StreamCut)
    assert str(answer.error) == "third"
    assert provider.calls == 3
    assert len(delays) == 2


async def test_no_retry_after_first_token():
    provider = ScriptedProvider(([TextDelta("4 and ")], StreamCut("cut")), ANSWERS)

    answer, delays = await retrying(provider)

    assert answer.text == "4 and "
    assert isinstance(answer.error, StreamCut)
    assert provider.calls == 1
    assert delays == []


async def test_a_line_break_before_a_failure_does_not_stop_a_retry():
    provider = ScriptedProvider(([TextDelta("\n\n")], StreamCut("cut")), ANSWERS)

    answer, _ = await retrying(provider)

    assert answer.error is None
    assert answer.text.strip() == "4 and 6."
    assert provider.calls == 2


async def test_usage_before_text_does_not_stop_a_retry():
    provider = ScriptedProvider(([Usage(10, None)], Overloaded("busy")), ANSWERS)

    answer, _ = await retrying(provider)

    assert answer.error is None
    assert provider.calls == 2


@pytest.mark.parametrize(
    "error",
    [
        StreamCut("cut"),
        MalformedStream("garbled"),
        ConnectionFailed("unreachable"),
        ProviderTimeout("slow"),
    ],
)
async def test_transient_transport_failures_are_retried(error: ProviderError):
    provider = ScriptedProvider(fails(error), ANSWERS)

    answer, _ = await retrying(provider)

    assert answer.error is None
    assert provider.calls == 2


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationFailed("bad key"),
        BadRequest("unknown model"),
        Refused("declined"),
        QuotaExhausted("no credit"),
        OutputLimitReached("limit"),
        ProviderError("odd"),
    ],
)
async def test_non_retryable_errors_propagate_at_once(error: ProviderError):
    provider = ScriptedProvider(fails(error), ANSWERS)

    answer, delays = await retrying(provider)

    assert answer.error is error
    assert provider.calls == 1
    assert delays == []


async def test_a_single_attempt_policy_never_retries():
    provider = ScriptedProvider(fails(ServerError("5xx")), ANSWERS)

    answer, _ = await retrying(provider, RetryPolicy(max_attempts=1))

    assert isinstance(answer.error, ServerError)
    assert provider.calls == 1


async def test_stopping_early_closes_the_provider_stream():
    provider = ScriptedProvider(ANSWERS)
    events = stream_with_retries(provider, "m", conversation(), NO_JITTER, sleep=Sleeps())

    first = await anext(events)
    await events.aclose()

    assert first == TextDelta("4 and ")
    assert provider.closed == 1


async def test_a_rate_limit_on_the_last_attempt_says_when_to_try_again():
    limited = RateLimited("OpenAI rate limit reached (HTTP 429).", retry_after=7)
    provider = ScriptedProvider(fails(limited), fails(limited))

    answer, delays = await retrying(provider, RetryPolicy(max_attempts=2, jitter=0))

    assert delays == [7]
    assert provider.calls == 2
    assert isinstance(answer.error, RateLimited)
    assert answer.error.retry_after == 7
    assert str(answer.error) == "OpenAI rate limit reached (HTTP 429). Try again in 7 s."


async def test_a_long_wait_asked_of_a_single_attempt_policy_still_says_when():
    limited = RateLimited("OpenAI rate limit reached (HTTP 429).", retry_after=600)
    provider = ScriptedProvider(fails(limited))

    answer, _ = await retrying(provider, RetryPolicy(max_attempts=1, jitter=0))

    assert str(answer.error) == "OpenAI rate limit reached (HTTP 429). Try again in 10 min."


async def test_a_last_failure_that_asked_for_no_wait_is_shown_as_it_came():
    provider = ScriptedProvider(fails(ServerError("5xx")), fails(ServerError("5xx again")))

    answer, _ = await retrying(provider, RetryPolicy(max_attempts=2, jitter=0))

    assert str(answer.error) == "5xx again"
