"""Retries: only before the first token, only for retryable errors, at the pace asked for. The
bot's own OpenAI provider (Anthropic's where OpenAI's would hide the case), with its settings,
registry and HTTP client, against the fake model servers, whose model meets each attempt with
the next of a test's scripts."""

from __future__ import annotations

import asyncio
import json
import math
import socket

import pytest

from bot.chat.context import ContextRound, ContextWindow, build_round_context
from bot.chat.messages import ModelRequest
from bot.providers.base import (
    AuthenticationFailed,
    BadRequest,
    ConnectionFailed,
    ContextTooLong,
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
    TextDelta,
    Usage,
)
from bot.providers.errors import reason_for_log
from bot.providers.gemini import GeminiProvider
from bot.providers.openai_compatible import OpenAICompatibleProvider
from bot.providers.registry import Providers
from bot.providers.retry import MAX_SHORTENINGS, RetryPolicy, stream_with_retries
from tests.doubles.model_servers import FakeModelServer, ModelFault, ModelScript
from tests.doubles.model_servers.scripts import CHARS_PER_TOKEN
from tests.doubles.waiting import wait_until
from tests.providers.replay import (
    ANSWER_PATIENCE_SECONDS,
    JSON,
    Answer,
    ReplayServer,
    bot_settings,
    collect,
    conversation,
)

NO_JITTER = RetryPolicy(jitter=0)
MODEL = "gpt-5.1"
ANSWERS = ModelScript(reply="4 and 6.", usage=(10, 3))
SERVER_ERROR = ModelFault(status=500)
OVERLOADED = ModelFault(status=503)


def fails(fault: ModelFault, reply: str = "4 and 6.", chunk_chars: int = 12) -> ModelScript:
    return ModelScript(reply=reply, chunk_chars=chunk_chars, error=fault)


def rate_limited(retry_after: int | None = None) -> ModelScript:
    return fails(ModelFault(status=429, retry_after=retry_after))


class Attempts:
    """The model meets each attempt with the next script (the last one stays). As the retry's
    `sleep` it records each delay instead of waiting, then scripts the next attempt."""

    def __init__(self, models: FakeModelServer, *scripts: ModelScript) -> None:
        self._models = models
        self._scripts = list(scripts)
        self.delays: list[float] = []
        self._script_next()

    def _script_next(self) -> None:
        if self._scripts:
            self._models.script(MODEL, self._scripts.pop(0))

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self._script_next()


async def retrying(
    models: FakeModelServer,
    *scripts: ModelScript,
    policy: RetryPolicy = NO_JITTER,
    tuning: dict[str, float] | None = None,
    provider: str = "openai",
    **options,
) -> tuple[Answer, list[float]]:
    """The answer of the bot's provider (OpenAI's unless named) with retries, and the waits
    between attempts."""
    attempts = Attempts(models, *scripts)
    async with Providers(bot_settings(models, **(tuning or {}))) as providers:
        events = stream_with_retries(
            providers.by_name[provider], MODEL, conversation(), policy, sleep=attempts, **options
        )
        answer = await asyncio.wait_for(collect(events), ANSWER_PATIENCE_SECONDS)
    return answer, attempts.delays


def calls(models: FakeModelServer) -> int:
    return len(models.requests_for(MODEL))


def long_chat(rounds: int) -> ModelRequest:
    """A new message after `rounds` earlier rounds of about 200 tokens each."""
    history = [
        ContextRound(i, f"Ann: q{i} " + "x" * 400, f"a{i} " + "y" * 400) for i in range(rounds)
    ]
    return build_round_context("Be brief.", history, "Ann: and now?", ContextWindow())


async def shortening(
    models: FakeModelServer, request: ModelRequest, context_tokens: int
) -> tuple[Answer, list[tuple[type[ProviderError], int]]]:
    """The answer of a model of `context_tokens` to `request`, and each shortening of it."""
    models.script(MODEL, ModelScript(reply="Sure.", context_tokens=context_tokens))
    shortenings: list[tuple[type[ProviderError], int]] = []
    async with Providers(bot_settings(models)) as providers:
        events = stream_with_retries(
            providers.by_name["openai"],
            MODEL,
            request,
            NO_JITTER,
            on_shortened=lambda error, left_out: shortenings.append((type(error), left_out)),
        )
        answer = await asyncio.wait_for(collect(events), ANSWER_PATIENCE_SECONDS)
    return answer, shortenings


async def test_a_request_longer_than_the_models_context_is_sent_again_without_its_oldest_rounds(
    models,
):
    answer, shortenings = await shortening(models, long_chat(rounds=5), context_tokens=500)

    assert answer.error is None
    assert answer.text == "Sure."
    first, second = models.requests_for(MODEL)
    assert len(first.turns()) == 11
    assert [text[:3] for _, text in second.turns()] == ["Ann", "a3 ", "Ann", "a4 ", "Ann"]
    assert second.turns()[-1] == ("user", "Ann: and now?")
    assert second.system_prompt() == "Be brief."
    assert shortenings == [(ContextTooLong, 6)]


async def test_a_new_message_longer_than_the_models_context_ends_the_answer_saying_so(models):
    answer, shortenings = await shortening(models, long_chat(rounds=3), context_tokens=5)

    assert isinstance(answer.error, ContextTooLong)
    assert str(answer.error).startswith(
        "OpenAI rejected the request (HTTP 400): This model's maximum context length is 5 tokens."
    )
    assert str(answer.error).endswith(
        " The message is too long for this model even with the earlier conversation left out."
    )
    assert [len(request.turns()) for request in models.requests_for(MODEL)] == [7, 1]
    assert shortenings == [(ContextTooLong, 6)]


@pytest.mark.parametrize(
    ("provider", "tuning", "sizes_said"),
    [
        ("openai", {}, True),
        ("openai", {"openai_api": "responses"}, False),
        ("openrouter", {}, True),
        ("ollama", {}, True),
        ("anthropic", {}, True),
        ("google", {}, True),
    ],
    ids=["openai", "openai-responses", "openrouter", "vllm", "anthropic", "gemini"],
)
async def test_every_provider_refusing_a_request_longer_than_the_context_is_understood(
    models, provider, tuning, sizes_said
):
    models.script(MODEL, ModelScript(context_tokens=5))
    async with Providers(bot_settings(models, **tuning)) as providers:
        answer = await collect(providers.by_name[provider].stream(MODEL, conversation()))

    assert isinstance(answer.error, ContextTooLong)
    (request,) = models.requests_for(MODEL)
    sent = math.ceil(request.prompt_chars() / CHARS_PER_TOKEN)
    expected = (5, sent) if sizes_said else (None, None)
    assert (answer.error.limit, answer.error.sent) == expected


async def test_a_request_is_shortened_a_bounded_number_of_times():
    """A model that says each time that it holds a little less than it was sent."""
    error = {
        "message": "This model's maximum context length is 1000 tokens. However, your messages "
        "resulted in 1010 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }
    server = ReplayServer(json.dumps({"error": error}).encode(), status=400, headers=JSON)
    async with server.client() as client:
        provider = OpenAICompatibleProvider(client, "https://api.openai.com/v1", "sk-test")
        events = stream_with_retries(provider, MODEL, long_chat(rounds=40), NO_JITTER)
        answer = await collect(events)

    assert isinstance(answer.error, ContextTooLong)
    assert len(server.requests) == 1 + MAX_SHORTENINGS
    sizes = [len(json.loads(request.content)["messages"]) for request in server.requests]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)


async def test_failures_before_text_are_retried_with_exponential_backoff(models):
    retries: list[tuple[type[ProviderError], int, float]] = []

    answer, delays = await retrying(
        models,
        fails(SERVER_ERROR),
        fails(OVERLOADED),
        ANSWERS,
        policy=RetryPolicy(max_attempts=3, base_delay=0.5, jitter=0),
        on_retry=lambda error, attempt, delay: retries.append((type(error), attempt, delay)),
    )

    assert answer.error is None
    assert answer.text == "4 and 6."
    assert answer.usage == [Usage(10, 3)]
    assert delays == [0.5, 1.0]
    assert retries == [(ServerError, 1, 0.5), (Overloaded, 2, 1.0)]
    assert calls(models) == 3


async def test_backoff_is_capped_by_max_delay(models):
    policy = RetryPolicy(max_attempts=5, base_delay=3, max_delay=8, jitter=0)

    _, delays = await retrying(models, *[fails(SERVER_ERROR)] * 4, ANSWERS, policy=policy)

    assert delays == [3, 6, 8, 8]


async def test_jitter_only_ever_adds_a_little(models):
    policy = RetryPolicy(max_attempts=2, base_delay=1, jitter=0.1)
    for _ in range(20):
        _, delays = await retrying(models, fails(SERVER_ERROR), ANSWERS, policy=policy)
        assert 1 <= delays[0] <= 1.1


async def test_rate_limit_retry_after_is_honoured(models):
    answer, delays = await retrying(models, rate_limited(retry_after=12), ANSWERS)

    assert answer.text == "4 and 6."
    assert delays == [12]


async def test_a_rate_limit_without_retry_after_backs_off_like_any_failure(models):
    answer, delays = await retrying(
        models, rate_limited(), ANSWERS, policy=RetryPolicy(base_delay=0.5, jitter=0)
    )

    assert answer.error is None
    assert delays == [0.5]


async def test_a_rate_limit_asking_for_exactly_the_longest_wait_is_waited_out(models):
    answer, delays = await retrying(
        models,
        rate_limited(retry_after=30),
        ANSWERS,
        policy=RetryPolicy(max_retry_after=30, jitter=0),
    )

    assert answer.error is None
    assert delays == [30]


@pytest.mark.parametrize(
    ("retry_after", "when"), [(600, "10 min"), (45, "45 s"), (7200, "120 min"), (27_000, "8 h")]
)
async def test_a_rate_limit_longer_than_the_bot_waits_ends_at_once_saying_when(
    models, retry_after: int, when: str
):
    answer, delays = await retrying(
        models,
        rate_limited(retry_after=retry_after),
        ANSWERS,
        policy=RetryPolicy(max_retry_after=30, jitter=0),
    )

    assert delays == []
    assert calls(models) == 1
    assert isinstance(answer.error, RateLimited)
    assert str(answer.error) == f"OpenAI rate limit reached (HTTP 429). Try again in {when}."


async def test_any_failure_asking_for_a_wait_gets_that_wait(models):
    answer, delays = await retrying(models, fails(ModelFault(status=503, retry_after=20)), ANSWERS)

    assert answer.error is None
    assert delays == [20]


async def test_any_failure_asking_for_too_long_a_wait_ends_at_once_saying_when(models):
    busy = fails(ModelFault(status=503, retry_after=90))

    answer, delays = await retrying(
        models, busy, ANSWERS, policy=RetryPolicy(max_retry_after=30, jitter=0)
    )

    assert delays == []
    assert isinstance(answer.error, Overloaded)
    assert str(answer.error) == "OpenAI is overloaded (HTTP 503). Try again in 90 s."


async def test_gives_up_after_max_attempts_with_the_last_error(models):
    answer, delays = await retrying(
        models,
        fails(SERVER_ERROR),
        fails(OVERLOADED),
        fails(ModelFault(cut_after_chunks=0)),
        policy=RetryPolicy(max_attempts=3, jitter=0),
    )

    assert isinstance(answer.error, StreamCut)
    assert calls(models) == 3
    assert len(delays) == 2


async def test_no_retry_after_first_token(models):
    cut = fails(ModelFault(cut_after_chunks=1), chunk_chars=6)

    answer, delays = await retrying(models, cut, ANSWERS)

    assert answer.text == "4 and "
    assert isinstance(answer.error, StreamCut)
    assert calls(models) == 1
    assert delays == []


async def test_a_line_break_before_a_failure_does_not_stop_a_retry(models):
    # Anthropic's provider passes a leading line break on at once; OpenAI's holds it back (a
    # <think> tag may follow), so through it the retry would never see one.
    cut = fails(ModelFault(cut_after_chunks=1), reply="\n\n4 and 6.", chunk_chars=2)

    answer, _ = await retrying(models, cut, ANSWERS, provider="anthropic")

    assert answer.error is None
    assert answer.text.strip() == "4 and 6."
    assert calls(models) == 2


# Gemini's words, framed as it sends them: a finish that is not a natural end, with no text
# (the answer's usage, then StoppedEarly), then a whole answer.
GEMINI_STOPPED_EARLY = (
    b'data: {"candidates":[{"finishReason":"OTHER","index":0}],'
    b'"usageMetadata":{"promptTokenCount":12,"totalTokenCount":12}}\r\n\r\n'
)
GEMINI_ANSWER = (
    b'data: {"candidates":[{"content":{"parts":[{"text":"4 and 6."}],"role":"model"},'
    b'"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":12,'
    b'"candidatesTokenCount":5,"totalTokenCount":17}}\r\n\r\n'
)


async def test_usage_before_text_does_not_stop_a_retry():
    # Only Gemini's provider yields usage before any text, when the answer ends early with
    # none; the fake model servers send no such finish, so its wire bytes are replayed.
    server = ReplayServer(GEMINI_STOPPED_EARLY)

    async def answer_next_time(delay: float) -> None:
        server.body = GEMINI_ANSWER

    async with server.client() as client:
        gemini = GeminiProvider(client, "https://generativelanguage.googleapis.com/", "key")
        events = stream_with_retries(
            gemini, "gemini-2.5-flash", conversation(), NO_JITTER, sleep=answer_next_time
        )
        answer = await asyncio.wait_for(collect(events), ANSWER_PATIENCE_SECONDS)

    assert answer.error is None
    assert answer.usage[0] == Usage(12, None), "the first attempt's usage came before any text"
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (ModelFault(cut_after_chunks=0), StreamCut),
        (ModelFault(malformed_after_chunks=0), MalformedStream),
        (ModelFault(hang_before_first_token=True), ProviderTimeout),
    ],
)
async def test_transient_transport_failures_are_retried(
    models, fault: ModelFault, error: type[ProviderError]
):
    retried: list[ProviderError] = []

    answer, _ = await retrying(
        models,
        fails(fault),
        ANSWERS,
        tuning={"chorus_provider_first_token_timeout": 0.5},
        on_retry=lambda failure, attempt, delay: retried.append(failure),
    )

    assert answer.error is None
    assert [type(failure) for failure in retried] == [error]
    assert calls(models) == 2


async def test_a_provider_that_cannot_be_reached_yet_is_retried(models):
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
    later = FakeModelServer(port=port)  # listening only from the first retry's wait on
    retried: list[ProviderError] = []

    async def start_listening(delay: float) -> None:
        later.start()

    settings = bot_settings(models, openai_base_url=f"http://127.0.0.1:{port}/openai/v1")
    try:
        async with Providers(settings) as providers:
            events = stream_with_retries(
                providers.by_name["openai"],
                MODEL,
                conversation(),
                NO_JITTER,
                sleep=start_listening,
                on_retry=lambda failure, attempt, delay: retried.append(failure),
            )
            answer = await asyncio.wait_for(collect(events), ANSWER_PATIENCE_SECONDS)
    finally:
        later.stop()

    assert [type(failure) for failure in retried] == [ConnectionFailed]
    assert answer.error is None
    assert calls(later) == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (ModelFault(status=401), AuthenticationFailed),
        (ModelFault(status=400), BadRequest),
        (ModelFault(refusal=True), Refused),
        (ModelFault(status=429, error_type="insufficient_quota"), QuotaExhausted),
        (ModelFault(output_limit_after_chunks=0), OutputLimitReached),
        (ModelFault(status=302), BadRequest),  # a redirect: check the base URL
    ],
)
async def test_non_retryable_errors_propagate_at_once(
    models, fault: ModelFault, error: type[ProviderError]
):
    answer, delays = await retrying(models, fails(fault), ANSWERS)

    assert type(answer.error) is error
    assert calls(models) == 1
    assert delays == []


async def test_a_single_attempt_policy_never_retries(models):
    answer, _ = await retrying(
        models, fails(SERVER_ERROR), ANSWERS, policy=RetryPolicy(max_attempts=1)
    )

    assert isinstance(answer.error, ServerError)
    assert calls(models) == 1


async def test_stopping_early_closes_the_provider_stream(models):
    models.script(MODEL, ModelScript(reply="4 and 6. " * 100, chunk_chars=6, chunk_delay=0.05))
    async with Providers(bot_settings(models)) as providers:
        events = stream_with_retries(
            providers.by_name["openai"], MODEL, conversation(), NO_JITTER, sleep=Attempts(models)
        )

        first = await anext(events)
        await events.aclose()

        assert first == TextDelta("4 and ")
        # The wait blocks this event loop: only a connection closed by `aclose` itself, not
        # one left for the garbage collector to close later, ends the server's stream.
        wait_until(lambda: models.in_flight == 0, timeout=3, message="the stream was left open")


async def test_a_rate_limit_on_the_last_attempt_says_when_to_try_again(models):
    answer, delays = await retrying(
        models,
        rate_limited(retry_after=7),
        policy=RetryPolicy(max_attempts=2, jitter=0),
    )

    assert delays == [7]
    assert calls(models) == 2
    assert isinstance(answer.error, RateLimited)
    assert answer.error.retry_after == 7
    assert str(answer.error) == "OpenAI rate limit reached (HTTP 429). Try again in 7 s."


async def test_a_failure_told_when_to_try_again_keeps_the_providers_request_id_for_the_log():
    body = (
        b'{"error":{"message":"Rate limit reached for requests","type":"requests",'
        b'"param":null,"code":"rate_limit_exceeded"}}'
    )
    headers = {"content-type": "application/json", "retry-after": "600", "x-request-id": "req_7f"}
    server = ReplayServer(body, status=429, headers=headers)
    async with server.client() as client:
        openai = OpenAICompatibleProvider(client, "https://api.openai.com/v1", "key")
        policy = RetryPolicy(max_retry_after=30, jitter=0)
        answer = await collect(stream_with_retries(openai, MODEL, conversation(), policy))

    assert answer.error is not None
    assert str(answer.error) == "OpenAI rate limit reached (HTTP 429). Try again in 10 min."
    assert reason_for_log(answer.error) == " (request id req_7f)"


async def test_a_long_wait_asked_of_a_single_attempt_policy_still_says_when(models):
    answer, _ = await retrying(
        models, rate_limited(retry_after=600), policy=RetryPolicy(max_attempts=1, jitter=0)
    )

    assert str(answer.error) == "OpenAI rate limit reached (HTTP 429). Try again in 10 min."


async def test_a_last_failure_that_asked_for_no_wait_is_shown_as_it_came(models):
    answer, _ = await retrying(
        models, fails(SERVER_ERROR), policy=RetryPolicy(max_attempts=2, jitter=0)
    )

    assert str(answer.error) == (
        "OpenAI had a server error (HTTP 500): The fake model server was told to fail."
    )


async def test_when_to_try_again_follows_a_quoted_message_as_a_sentence_of_its_own(models):
    fault = ModelFault(status=500, message="the model failed to load", retry_after=3)
    answer, _ = await retrying(models, fails(fault), policy=RetryPolicy(max_attempts=1))

    assert str(answer.error) == (
        "OpenAI had a server error (HTTP 500): the model failed to load. Try again in 3 s."
    )
