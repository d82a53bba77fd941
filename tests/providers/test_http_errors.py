"""HTTP failures of all three providers, each answering in its own real error body shape."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bot.providers.anthropic import AnthropicProvider
from bot.providers.base import (
    AuthenticationFailed,
    BadRequest,
    ConnectionFailed,
    ContextTooLong,
    MalformedStream,
    ModelProvider,
    Overloaded,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    Refused,
    ServerError,
    StreamCut,
)
from bot.providers.errors import (
    _until_midnight_pacific,
    error_for_status,
    one_line,
    reason_for_log,
    refusal,
    request_id,
    retry_after_seconds,
)
from bot.providers.gemini import GeminiProvider
from bot.providers.json_fields import UnexpectedShape, field
from bot.providers.openai_compatible import OpenAICompatibleProvider
from tests.providers.replay import JSON, SSE, Answer, ReplayServer, run

KEY = "secret-key-abc123"

Factory = Callable[[httpx.AsyncClient], ModelProvider]
PROVIDERS: dict[str, Factory] = {
    "OpenAI": lambda client: OpenAICompatibleProvider(client, "https://api.openai.com/v1", KEY),
    "OpenRouter": lambda client: OpenAICompatibleProvider(
        client, "https://openrouter.ai/api/v1", KEY
    ),
    "Anthropic": lambda client: AnthropicProvider(client, "https://api.anthropic.com", KEY),
    "Gemini": lambda client: GeminiProvider(
        client, "https://generativelanguage.googleapis.com", KEY
    ),
}


def openai_error(message: str, kind: str, code: str | None = None) -> bytes:
    error = {"message": message, "type": kind, "param": None, "code": code}
    return json.dumps({"error": error}, indent=4).encode()


def anthropic_error(kind: str, message: str) -> bytes:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_01"}
    return json.dumps(body).encode()


def gemini_error(code: int, message: str, status: str, details: list | None = None) -> bytes:
    error = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}, indent=2).encode()


async def ask(provider: str, server: ReplayServer) -> Answer:
    async with server.client() as client:
        return await run(PROVIDERS[provider](client), "some-model")


@pytest.mark.parametrize(
    ("message", "wait"),
    [
        (
            "Rate limit reached for gpt-4o in organization org-abc on requests per day (RPD): "
            "Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit "
            "https://platform.openai.com/account/rate-limits to learn more.",
            432,
        ),
        (
            "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): "
            "Limit 30000, Used 29800, Requested 900. Please try again in 1.4s.",
            1.4,
        ),
        ("Rate limit reached on tokens per min (TPM). Please try again in 20ms.", 0.02),
        ("Rate limit reached on tokens per day (TPD). Please try again in 1h2m3s.", 3723),
        (
            "Requests to the ChatCompletions_Create Operation have exceeded token rate limit of "
            "your current OpenAI S0 pricing tier. Please retry after 33 seconds.",
            33,
        ),
    ],
    ids=["minutes", "fraction", "milliseconds", "hours", "azure"],
)
async def test_a_rate_limit_without_retry_after_waits_as_long_as_its_message_says(message, wait):
    """OpenAI sends no Retry-After with its rate limits: only its message says how long."""
    body = openai_error(message, "requests", "rate_limit_exceeded")
    answer = await ask("OpenAI", ReplayServer(body, status=429, headers=JSON))

    assert isinstance(answer.error, RateLimited)
    assert answer.error.retry_after == pytest.approx(wait)


async def test_a_retry_after_header_wins_over_the_wait_a_message_says():
    body = openai_error("Please try again in 7m12s.", "requests", "rate_limit_exceeded")
    server = ReplayServer(body, status=429, headers={**JSON, "retry-after": "3"})
    answer = await ask("OpenAI", server)

    assert answer.error is not None and answer.error.retry_after == 3


async def test_rate_limit_carries_retry_after_seconds():
    server = ReplayServer(
        anthropic_error("rate_limit_error", "Number of request tokens has exceeded your limit"),
        status=429,
        headers={**JSON, "retry-after": "17"},
    )
    answer = await ask("Anthropic", server)

    assert isinstance(answer.error, RateLimited)
    assert answer.error.retry_after == 17
    assert answer.error.status == 429
    assert str(answer.error) == "Anthropic rate limit reached (HTTP 429)."


async def test_rate_limit_prefers_retry_after_ms():
    server = ReplayServer(
        openai_error("Rate limit reached for gpt-4o", "tokens", "rate_limit_exceeded"),
        status=429,
        headers={**JSON, "retry-after": "2", "retry-after-ms": "1500"},
    )
    answer = await ask("OpenAI", server)

    assert isinstance(answer.error, RateLimited)
    assert answer.error.retry_after == 1.5
    assert str(answer.error) == "OpenAI rate limit reached (HTTP 429)."


async def test_an_exhausted_quota_is_not_retried_like_a_rate_limit():
    server = ReplayServer(
        openai_error(
            "You exceeded your current quota.", "insufficient_quota", "insufficient_quota"
        ),
        status=429,
        headers=JSON,
    )
    answer = await ask("OpenAI", server)

    assert isinstance(answer.error, QuotaExhausted)
    assert not answer.error.retryable
    assert "billing" in str(answer.error)


async def test_credits_used_up_are_not_retried():
    body = json.dumps({"error": {"code": 402, "message": "Insufficient credits."}}).encode()
    answer = await ask("OpenRouter", ReplayServer(body, status=402, headers=JSON))

    assert isinstance(answer.error, QuotaExhausted)
    assert not answer.error.retryable
    assert str(answer.error) == (
        "OpenRouter quota is used up (HTTP 402); check the account's plan and billing."
    )


async def test_a_message_flagged_by_openrouter_moderation_is_a_refusal_not_a_bad_key():
    flagged = 'openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "violence".'
    metadata = {"reasons": ["violence"], "flagged_input": "how do I…", "provider_name": "OpenAI"}
    body = json.dumps({"error": {"code": 403, "message": flagged, "metadata": metadata}})
    answer = await ask("OpenRouter", ReplayServer(body.encode(), status=403, headers=JSON))

    assert isinstance(answer.error, Refused)
    assert str(answer.error) == f"OpenRouter refused to answer: {flagged}"


def provider_returned_error(status: int, raw: object) -> bytes:
    """OpenRouter's answer for a failure of the provider it routed to: a stock message, the
    provider's own answer (its error body, or plain text) in `metadata.raw`."""
    metadata = {"raw": raw, "provider_name": "Google AI Studio"}
    error = {"message": "Provider returned error", "code": status, "metadata": metadata}
    return json.dumps({"error": error, "user_id": "user_2abc"}).encode()


@pytest.mark.parametrize(
    "raw",
    [
        gemini_error(400, "* contents: contents is not specified\n", "INVALID_ARGUMENT").decode(),
        {"error": {"message": "* contents: contents is not specified", "code": 400}},
        "* contents: contents is not specified",
    ],
    ids=["error body", "error object", "plain text"],
)
async def test_openrouter_says_why_the_provider_it_routed_to_failed(raw: object):
    body = provider_returned_error(400, raw)
    answer = await ask("OpenRouter", ReplayServer(body, status=400, headers=JSON))

    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == (
        "OpenRouter rejected the request (HTTP 400): Google AI Studio: "
        "* contents: contents is not specified."
    )


async def test_openrouter_keeps_its_own_words_when_the_provider_gave_none_fit_to_show():
    body = provider_returned_error(502, "<html><body>Bad gateway</body></html>")
    answer = await ask("OpenRouter", ReplayServer(body, status=502, headers=JSON))

    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == "OpenRouter had a server error (HTTP 502): Provider returned error."


async def test_an_overloaded_provider_carries_retry_after():
    body = json.dumps({"error": {"code": 503, "message": "No available model provider"}})
    server = ReplayServer(body.encode(), status=503, headers={**JSON, "retry-after": "20"})
    answer = await ask("OpenRouter", server)

    assert isinstance(answer.error, Overloaded)
    assert answer.error.retry_after == 20
    # The wait is said when the answer ends with it (see test_retry), not "in a moment" too.
    assert str(answer.error) == "OpenRouter is overloaded (HTTP 503)."


async def test_gemini_rate_limit_reads_retry_delay_from_the_body():
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": "generate_content_free_tier_requests"}],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
    ]
    body = gemini_error(429, "You exceeded your current quota.", "RESOURCE_EXHAUSTED", details)
    answer = await ask("Gemini", ReplayServer(body, status=429, headers=JSON))

    assert isinstance(answer.error, RateLimited)
    assert answer.error.retry_after == 37


OVERFLOWS = {
    "OpenAI": openai_error(
        "This model's maximum context length is 128000 tokens. However, your messages resulted "
        "in 130456 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "context_length_exceeded",
    ),
    "OpenRouter": json.dumps(
        {
            "error": {
                "message": "This endpoint's maximum context length is 128000 tokens. However, "
                "you requested about 130456 tokens (130456 of text input). Please reduce the "
                'length of either one, or use the "middle-out" transform to compress your '
                "prompt automatically.",
                "code": 400,
            }
        }
    ).encode(),
    "Anthropic": anthropic_error(
        "invalid_request_error", "prompt is too long: 130456 tokens > 128000 maximum"
    ),
    "Gemini": gemini_error(
        400,
        "The input token count (130456) exceeds the maximum number of tokens allowed (128000).",
        "INVALID_ARGUMENT",
    ),
}


@pytest.mark.parametrize("provider", OVERFLOWS)
async def test_a_request_longer_than_the_models_context_is_told_apart_with_both_sizes(provider):
    answer = await ask(provider, ReplayServer(OVERFLOWS[provider], status=400, headers=JSON))

    assert isinstance(answer.error, ContextTooLong)
    assert (answer.error.limit, answer.error.sent) == (128_000, 130_456)
    assert str(answer.error).startswith(f"{provider} rejected the request (HTTP 400): ")


@pytest.mark.parametrize(
    ("body", "sizes"),
    [
        (  # llama.cpp's server
            {
                "error": {
                    "code": 400,
                    "message": "the request exceeds the available context size, try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": 5210,
                    "n_ctx": 4096,
                }
            },
            (4096, 5210),
        ),
        (  # OpenAI's Responses API, which gives no sizes
            {
                "error": {
                    "message": "Your input exceeds the context window of this model. Please "
                    "adjust your input and try again.",
                    "type": "invalid_request_error",
                    "param": "input",
                    "code": "context_length_exceeded",
                }
            },
            (None, None),
        ),
    ],
    ids=["llama.cpp", "responses"],
)
async def test_a_context_overflow_without_the_usual_words_is_told_apart_too(body, sizes):
    server = ReplayServer(json.dumps(body).encode(), status=400, headers=JSON)
    answer = await ask("OpenAI", server)

    assert isinstance(answer.error, ContextTooLong)
    assert (answer.error.limit, answer.error.sent) == sizes


async def test_an_output_limit_too_high_is_no_context_overflow():
    body = anthropic_error(
        "invalid_request_error",
        "max_tokens: 200000 > 64000, which is the maximum allowed number of output tokens for "
        "claude-sonnet-4-5",
    )
    answer = await ask("Anthropic", ReplayServer(body, status=400, headers=JSON))

    assert isinstance(answer.error, BadRequest)
    assert not isinstance(answer.error, ContextTooLong)


def gemini_quota_error(
    *violations: dict, message: str = "You exceeded your current quota."
) -> bytes:
    """Gemini's 429 for a quota: the quotas hit, and a retry delay of seconds whichever they are."""
    details = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": list(violations)},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "22s"},
    ]
    return gemini_error(429, message, "RESOURCE_EXHAUSTED", details)


PER_MINUTE = {
    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
    "quotaValue": "10",
}
PER_DAY = {**PER_MINUTE, "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}


async def test_gemini_quota_per_minute_is_a_rate_limit_worth_waiting_for():
    body = gemini_quota_error(PER_MINUTE)
    answer = await ask("Gemini", ReplayServer(body, status=429, headers=JSON))

    assert isinstance(answer.error, RateLimited)
    assert answer.error.retry_after == 22


async def test_gemini_daily_quota_is_used_up_until_midnight_pacific_not_rate_limited():
    """A retry 22 s later (the delay Gemini names) would fail the same way: it is said at once."""
    body = gemini_quota_error(PER_MINUTE, PER_DAY)
    answer = await ask("Gemini", ReplayServer(body, status=429, headers=JSON))

    assert isinstance(answer.error, QuotaExhausted)
    assert not answer.error.retryable
    assert re.fullmatch(
        r"Gemini daily quota is used up \(HTTP 429, GenerateRequestsPerDayPerProjectPerModel-"
        r"FreeTier\); it resets at midnight Pacific time \(in \d+ (h|min|s)\), or check the "
        r"account's plan and billing\.",
        str(answer.error),
    )


@pytest.mark.parametrize(
    ("now", "hours"),
    [
        (datetime(2026, 12, 7, 20, 0, tzinfo=UTC), 12),  # 12:00 PST
        (datetime(2026, 7, 1, 20, 0, tzinfo=UTC), 11),  # 13:00 PDT
        (datetime(2026, 3, 8, 8, 0, tzinfo=UTC), 23),  # 00:00 PST; 2 a.m. skips to 3 a.m.
        (datetime(2026, 11, 1, 7, 0, tzinfo=UTC), 25),  # 00:00 PDT; 2 a.m. is lived twice
    ],
    ids=["winter", "summer", "spring forward", "fall back"],
)
def test_a_daily_quota_resets_at_the_next_midnight_pacific_across_dst_changes(
    now: datetime, hours: int
):
    assert _until_midnight_pacific(now) == hours * 3600


async def test_gemini_daily_quota_named_by_its_metric_alone_is_used_up_too():
    metric = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model_per_day"
    }
    answer = await ask("Gemini", ReplayServer(gemini_quota_error(metric), status=429, headers=JSON))

    assert isinstance(answer.error, QuotaExhausted)
    assert str(answer.error).startswith("Gemini daily quota is used up (HTTP 429);")


@pytest.mark.parametrize(
    "body",
    [
        gemini_quota_error({**PER_MINUTE, "quotaValue": "0"}),
        gemini_quota_error(
            message="You exceeded your current quota. * Quota exceeded for metric: "
            "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, "
            "model: gemini-2.5-pro Please retry in 20.04466179s."
        ),
    ],
    ids=["quota value", "message"],
)
async def test_gemini_model_outside_the_projects_plan_has_no_quota_to_wait_for(body: bytes):
    answer = await ask("Gemini", ReplayServer(body, status=429, headers=JSON))

    assert isinstance(answer.error, QuotaExhausted)
    assert str(answer.error) == (
        "Gemini gives this project no quota for this model (HTTP 429); its plan does not "
        "include it: check the account's plan and billing."
    )


async def test_openrouter_rate_limit_reads_when_it_resets_from_the_body():
    """OpenRouter's daily cap on free models says when it lifts only in the body."""
    resets = datetime.now(UTC) + timedelta(hours=5)
    limit_headers = {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(resets.timestamp() * 1000)),
    }
    error = {
        "message": "Rate limit exceeded: free-models-per-day. "
        "Add 10 credits to unlock 1000 free model requests per day",
        "code": 429,
        "metadata": {"headers": limit_headers, "provider_name": None},
    }
    body = json.dumps({"error": error, "user_id": "user_2abc"}).encode()
    answer = await ask("OpenRouter", ReplayServer(body, status=429, headers=JSON))

    assert isinstance(answer.error, RateLimited)
    assert answer.error.retry_after == pytest.approx(5 * 3600, abs=5)


@pytest.mark.parametrize(
    ("provider", "status", "body", "expected", "line"),
    [
        (
            "Anthropic",
            529,
            anthropic_error("overloaded_error", "Overloaded"),
            Overloaded,
            "Anthropic is overloaded (HTTP 529); try again in a moment.",
        ),
        (
            "Gemini",
            503,
            gemini_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"),
            Overloaded,
            "Gemini is overloaded (HTTP 503); try again in a moment.",
        ),
        (
            "OpenAI",
            500,
            openai_error("The server had an error while processing your request.", "server_error"),
            ServerError,
            "OpenAI had a server error (HTTP 500).",
        ),
        (
            "Anthropic",
            500,
            anthropic_error("api_error", "Internal server error"),
            ServerError,
            "Anthropic had a server error (HTTP 500).",
        ),
        (
            "Gemini",
            500,
            gemini_error(500, "An internal error has occurred.", "INTERNAL"),
            ServerError,
            "Gemini had a server error (HTTP 500).",
        ),
        (
            "OpenAI",
            401,
            openai_error(
                f"Incorrect API key provided: {KEY[:3]}***{KEY[-4:]}.",
                "invalid_request_error",
                "invalid_api_key",
            ),
            AuthenticationFailed,
            "OpenAI did not accept the API key (HTTP 401); check the key and its access.",
        ),
        (
            "Anthropic",
            403,
            anthropic_error("permission_error", "Your API key does not have permission"),
            AuthenticationFailed,
            "Anthropic did not accept the API key (HTTP 403); check the key and its access.",
        ),
        (
            "OpenAI",
            404,
            openai_error(
                "The model `gpt-9` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            ),
            BadRequest,
            "OpenAI rejected the request (HTTP 404): "
            "The model `gpt-9` does not exist or you do not have access to it.",
        ),
        (
            "OpenAI",
            403,
            openai_error(
                "Country, region, or territory not supported",
                "request_forbidden",
                "unsupported_country_region_territory",
            ),
            BadRequest,
            "OpenAI does not serve the country or region this bot runs in "
            "(HTTP 403 unsupported_country_region_territory).",
        ),
        (
            "Anthropic",
            400,
            anthropic_error("invalid_request_error", "max_tokens: Field required"),
            BadRequest,
            "Anthropic rejected the request (HTTP 400): max_tokens: Field required.",
        ),
        (
            "Gemini",
            400,
            gemini_error(
                400,
                "* GenerateContentRequest.contents: contents is not specified\n",
                "INVALID_ARGUMENT",
            ),
            BadRequest,
            "Gemini rejected the request (HTTP 400): "
            "* GenerateContentRequest.contents: contents is not specified.",
        ),
    ],
)
async def test_http_error_status_and_body_become_one_line(provider, status, body, expected, line):
    answer = await ask(provider, ReplayServer(body, status=status, headers=JSON))

    assert type(answer.error) is expected
    assert answer.error.status == status
    assert str(answer.error) == line


async def test_a_bare_404_page_points_at_the_base_url():
    answer = await ask("OpenAI", ReplayServer(b"404 page not found", status=404))

    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == (
        "OpenAI rejected the request (HTTP 404): no API answers at that address; "
        "check the provider's *_BASE_URL setting."
    )


async def test_a_redirect_points_at_the_base_url_and_is_not_followed():
    server = ReplayServer(b"", status=301, headers={"location": "https://api.openai.com/v1/x"})
    answer = await ask("OpenAI", server)

    assert isinstance(answer.error, BadRequest) and not answer.error.retryable
    assert str(answer.error) == (
        "OpenAI answered with a redirect (HTTP 301); check the provider's *_BASE_URL setting "
        "(https, not http?)."
    )


async def test_gemini_invalid_key_is_an_authentication_error_not_a_bad_request():
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ]
    body = gemini_error(
        400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", details
    )
    answer = await ask("Gemini", ReplayServer(body, status=400, headers=JSON))

    assert isinstance(answer.error, AuthenticationFailed)


async def test_gemini_error_body_wrapped_in_a_list_is_still_read():
    body = b"[" + gemini_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT") + b"]"
    answer = await ask("Gemini", ReplayServer(body, status=400, headers=JSON))

    assert isinstance(answer.error, BadRequest)
    assert str(answer.error) == (
        "Gemini rejected the request (HTTP 400): Invalid JSON payload received."
    )


async def test_request_timeout_status_is_a_timeout_worth_retrying():
    answer = await ask("OpenAI", ReplayServer(b"", status=408, headers=JSON))

    assert isinstance(answer.error, ProviderTimeout)
    assert answer.error.retryable
    assert str(answer.error) == "OpenAI took too long to answer (HTTP 408)."


async def test_long_provider_message_is_shortened_to_one_line_without_url_queries():
    message = "Bad input\nsee https://example.com/docs?key=abc&x=1 " + "x" * 400
    body = openai_error(message, "invalid_request_error")
    answer = await ask("OpenAI", ReplayServer(body, status=422, headers=JSON))

    line = str(answer.error)
    assert isinstance(answer.error, BadRequest)
    assert "\n" not in line
    assert "key=abc" not in line
    assert "see https://example.com/docs x" in line
    assert len(line) < 260
    assert line.endswith("…")


async def test_html_error_page_from_a_proxy_is_not_quoted():
    body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    answer = await ask(
        "Anthropic", ReplayServer(body, status=502, headers={"content-type": "text/html"})
    )

    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == "Anthropic had a server error (HTTP 502)."


TRACEBACK = b"""Internal Server Error
Traceback (most recent call last):
  File "/srv/llm/server.py", line 88, in chat_completions
    raise ValueError(f"bad prompt for {API_KEY=}")
ValueError: bad prompt
"""


@pytest.mark.parametrize(
    ("status", "body", "line"),
    [
        (400, TRACEBACK, "127.0.0.1:8000 rejected the request (HTTP 400)."),
        (413, b"413 Request Entity Too Large\n", "127.0.0.1:8000 rejected the request (HTTP 413)."),
        (500, TRACEBACK, "127.0.0.1:8000 had a server error (HTTP 500)."),
    ],
)
async def test_an_error_body_that_is_not_the_providers_json_is_not_quoted(status, body, line):
    server = ReplayServer(body, status=status, headers={"content-type": "text/plain"})
    async with server.client() as client:
        answer = await run(OpenAICompatibleProvider(client, "http://127.0.0.1:8000/v1", None), "m")

    assert str(answer.error) == line


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (  # Ollama
            {"error": "model requires more system memory (16.0 GiB) than is available (7.6 GiB)"},
            "127.0.0.1:8000 had a server error (HTTP 500): "
            "model requires more system memory (16.0 GiB) than is available (7.6 GiB).",
        ),
        (  # vLLM before 0.10: the error's fields unwrapped
            {"object": "error", "message": "CUDA out of memory.", "type": "InternalServerError"},
            "127.0.0.1:8000 had a server error (HTTP 500): CUDA out of memory.",
        ),
        (  # a proxy passing on its upstream's page, or a crash, inside its JSON
            {"error": {"message": "<html><h1>502 Bad Gateway</h1></html>", "code": 500}},
            "127.0.0.1:8000 had a server error (HTTP 500).",
        ),
        (
            {"error": {"message": TRACEBACK.decode(), "code": 500}},
            "127.0.0.1:8000 had a server error (HTTP 500).",
        ),
    ],
    ids=["ollama", "vllm", "html", "traceback"],
)
async def test_a_servers_own_words_on_a_server_error_are_quoted_but_no_page_or_traceback(
    body, line
):
    server = ReplayServer(json.dumps(body).encode(), status=500, headers=JSON)
    async with server.client() as client:
        answer = await run(OpenAICompatibleProvider(client, "http://127.0.0.1:8000/v1", None), "m")

    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == line


# Keys as proxies and gateways quote them when they pass on a "bad key" answer as their own.
QUOTED_KEYS = [
    ("Received API Key = sk-...wxyz, Key Hash (Token) = 9f8e", "sk-...wxyz"),
    ("upstream 401: Incorrect API key provided: sk-proj-********abcd.", "********abcd"),
    ("upstream refused x-api-key sk-ant-api03-AbCdEf123456GhIjKl", "AbCdEf123456GhIjKl"),
    ("upstream refused AIzaSyA1234567890abcdefGHIJ", "AIzaSyA1234567890abcdefGHIJ"),
    ("sent Authorization: Bearer tok3n-of-a-gateway", "tok3n-of-a-gateway"),
    ("Invalid API key: c0ffee15dead, check it", "c0ffee15dead"),
]


@pytest.mark.parametrize(("status", "kind"), [(400, BadRequest), (502, ServerError)])
@pytest.mark.parametrize(("message", "key"), QUOTED_KEYS)
async def test_a_key_a_providers_words_quote_is_hidden(status, kind, message, key):
    body = openai_error(message, "proxy_error")
    server = ReplayServer(body, status=status, headers=JSON)
    async with server.client() as client:
        answer = await run(OpenAICompatibleProvider(client, "http://127.0.0.1:4000/v1", KEY), "m")

    assert isinstance(answer.error, kind)
    assert key not in str(answer.error)
    assert "(key hidden)" in str(answer.error)


async def test_a_key_quoted_in_an_error_inside_the_stream_is_hidden():
    error = {"type": "error", "error": {"type": "api_error", "message": QUOTED_KEYS[0][0]}}
    data = f"event: error\ndata: {json.dumps(error)}\n\n".encode()
    answer = await ask("Anthropic", ReplayServer(data, headers=SSE))

    assert str(answer.error) == (
        "Anthropic had a server error (api_error): "
        "Received API Key = (key hidden), Key Hash (Token) = 9f8e."
    )


@pytest.mark.parametrize(
    "message",
    [
        "max_tokens: 4096 is more than this model allows",
        "the key: value pairs of `metadata` must be strings; the task-runner failed",
        "model gpt-4o-mini-2024-07-18 not found; a ** b is not valid syntax",
        "sk-learn is not a model",
    ],
)
async def test_words_that_only_look_a_little_like_keys_are_quoted_as_they_are(message):
    body = openai_error(message, "invalid_request_error")
    answer = await ask("OpenAI", ReplayServer(body, status=400, headers=JSON))

    assert str(answer.error) == f"OpenAI rejected the request (HTTP 400): {message}."


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, {"error": {"message": "slow down", "code": {"reason": "rpm"}}}, RateLimited),
        (500, {"error": {"message": "upstream failed", "type": ["upstream"]}}, ServerError),
        (200, {"error": {"message": "upstream failed", "code": ["upstream"]}}, ServerError),
    ],
)
async def test_an_error_named_by_something_other_than_text_is_still_a_provider_error(
    status, body, expected
):
    data = f"data: {json.dumps(body)}\n\n".encode()
    server = (
        ReplayServer(data, headers=SSE)
        if status == 200
        else ReplayServer(json.dumps(body).encode(), status=status, headers=JSON)
    )
    async with server.client() as client:
        answer = await run(OpenAICompatibleProvider(client, "http://127.0.0.1:8000/v1", None), "m")

    assert isinstance(answer.error, expected)


async def test_success_that_is_not_an_event_stream_is_malformed():
    answer = await ask("OpenAI", ReplayServer(b'{"choices": []}', headers=JSON))

    assert isinstance(answer.error, MalformedStream)
    assert str(answer.error) == "OpenAI did not answer with an event stream."


@pytest.mark.parametrize(
    ("failure", "expected", "line"),
    [
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            ConnectionFailed,
            "Could not connect to Gemini.",
        ),
        (httpx.ConnectTimeout("timed out"), ProviderTimeout, "Timed out connecting to Gemini."),
        (
            httpx.ReadTimeout("timed out"),
            ProviderTimeout,
            "Gemini took too long to send the answer.",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            StreamCut,
            "The stream from Gemini stopped before the answer was complete.",
        ),
    ],
)
async def test_transport_failures_are_named_without_url_or_key(failure, expected, line):
    answer = await ask("Gemini", ReplayServer(fail_before_response=failure))

    assert type(answer.error) is expected
    assert str(answer.error) == line


def refused_deep_down() -> httpx.ConnectError:
    """As httpx raises a refused connection: its own words are anyio's, the socket's below."""
    refused = ConnectionRefusedError(111, "Connect call failed ('10.0.0.5', 443)")
    gave_up = OSError("All connection attempts failed")
    gave_up.__cause__ = refused
    error = httpx.ConnectError("All connection attempts failed")
    error.__context__ = gave_up
    return error


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            " (ConnectError: [Errno 111] Connection refused)",
        ),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            " (ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed)",
        ),
        (
            httpx.ConnectError(f"cannot reach https://user:{KEY}@proxy.example/v1?key={KEY}"),
            " (ConnectError: cannot reach <URL>)",
        ),
        (httpx.ReadTimeout(""), " (ReadTimeout: no detail given)"),
        (
            refused_deep_down(),
            " (ConnectError: [Errno 111] Connect call failed ('10.0.0.5', 443))",
        ),
    ],
)
async def test_the_log_is_told_why_a_transport_failed_without_any_url(failure, reason):
    answer = await ask("Gemini", ReplayServer(fail_before_response=failure))

    assert answer.error is not None and reason_for_log(answer.error) == reason


def test_a_chain_of_causes_that_loops_back_still_gives_a_reason():
    refused = ConnectionRefusedError(111, "Connection refused")
    error = httpx.ConnectError("All connection attempts failed")
    error.__context__, refused.__cause__ = refused, error
    failed = ConnectionFailed("Could not connect to Gemini.")
    failed.__cause__ = error

    assert reason_for_log(failed) == " (ConnectError: [Errno 111] Connection refused)"


async def test_an_error_the_provider_answered_has_no_more_to_tell_the_log():
    answer = await ask("OpenAI", ReplayServer(b"", status=500))

    assert answer.error is not None and reason_for_log(answer.error) == ""


ANTHROPIC_REQUEST_ID = "req_011CSHoEeqs5C35K2UUqR7Fy"
OPENAI_REQUEST_ID = "req_9b2f0f1e3c6d4a7e8f0a1b2c3d4e5f60"
ANTHROPIC_STARTED = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01","type":'
    b'"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,'
    b'"usage":{"input_tokens":12,"output_tokens":1}}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Hel"}}\n\n'
)


@pytest.mark.parametrize(
    ("provider", "server", "reason"),
    [
        (  # an HTTP error status
            "Anthropic",
            ReplayServer(
                anthropic_error("overloaded_error", "Overloaded"),
                status=529,
                headers={**JSON, "request-id": ANTHROPIC_REQUEST_ID},
            ),
            f" (request id {ANTHROPIC_REQUEST_ID})",
        ),
        (  # an error inside the stream
            "OpenAI",
            ReplayServer(
                b'data: {"error":{"message":"The server had an error while processing your '
                b'request.","type":"server_error","param":null,"code":null}}\n\n',
                headers={**SSE, "x-request-id": OPENAI_REQUEST_ID},
            ),
            f" (request id {OPENAI_REQUEST_ID})",
        ),
        (  # a stream that ends before the answer is whole
            "Anthropic",
            ReplayServer(ANTHROPIC_STARTED, headers={**SSE, "request-id": ANTHROPIC_REQUEST_ID}),
            f" (request id {ANTHROPIC_REQUEST_ID})",
        ),
        (  # a stream cut by the connection
            "Anthropic",
            ReplayServer(
                ANTHROPIC_STARTED,
                headers={**SSE, "request-id": ANTHROPIC_REQUEST_ID},
                fail_after_body=httpx.ReadError("Connection reset by peer"),
            ),
            f" (ReadError: Connection reset by peer; request id {ANTHROPIC_REQUEST_ID})",
        ),
    ],
)
async def test_the_log_is_given_the_providers_id_for_a_failed_request_people_are_not(
    provider, server, reason
):
    answer = await ask(provider, server)

    assert answer.error is not None and reason_for_log(answer.error) == reason
    assert "req_" not in str(answer.error)


@pytest.mark.parametrize(
    "value", ["see https://proxy.example/v1?key=abc", "two words", "x" * 129, ""]
)
def test_a_request_id_header_that_is_no_id_is_not_logged(value):
    assert request_id(httpx.Headers({"x-request-id": value})) is None


async def test_a_body_that_does_not_decode_is_malformed():
    server = ReplayServer(b"not gzip at all", headers={**SSE, "content-encoding": "gzip"})
    answer = await ask("OpenAI", server)

    assert isinstance(answer.error, MalformedStream)
    assert str(answer.error) == "OpenAI sent a stream that could not be decoded."


# Each provider's first text, after which its server goes on sending without end.
FIRST_TEXT = {
    "OpenAI": b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
    "Anthropic": (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    ),
    "Gemini": (
        b'data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}]}\r\n\r\n'
    ),
}
# What is sent after it: a line that never ends, or an event whose lines never do.
ENDLESS = {
    "one line": (b"data: ", b"x" * 65536),
    "one event": (b"", b"data: " + b"x" * 1018 + b"\n"),
}


@pytest.mark.parametrize("provider", ["OpenAI", "Anthropic", "Gemini"])
@pytest.mark.parametrize("endless", ENDLESS, ids=str)
async def test_an_event_that_never_ends_is_not_read_forever(provider, endless):
    opening, repeated = ENDLESS[endless]
    server = ReplayServer(FIRST_TEXT[provider] + opening, then_repeat=repeated)
    answer = await ask(provider, server)

    assert answer.text == "Hi"
    assert isinstance(answer.error, MalformedStream)
    assert str(answer.error) == (
        f"{provider} sent a stream that could not be read (an event over 8 MB long)."
    )
    assert server.endless_bytes_sent < 9 * 1024 * 1024, "the bot stopped reading it"


async def test_an_error_body_that_never_ends_is_not_read_forever():
    server = ReplayServer(b'{"error": "', status=500, headers=JSON, then_repeat=b"x" * 65536)
    answer = await ask("OpenAI", server)

    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == "OpenAI had a server error (HTTP 500)."
    assert server.endless_bytes_sent < 1024 * 1024, "the bot read the start of it, then let go"


async def test_read_timeout_mid_stream_keeps_the_text():
    body = 'data: {"candidates":[{"content":{"parts":[{"text":"4"}],"role":"model"}}]}\r\n\r\n'
    server = ReplayServer(body.encode(), fail_after_body=httpx.ReadTimeout("timed out"))
    answer = await ask("Gemini", server)

    assert answer.text == "4"
    assert isinstance(answer.error, ProviderTimeout)


def test_retry_after_accepts_seconds_milliseconds_and_http_dates():
    assert retry_after_seconds(httpx.Headers({"retry-after": "3"})) == 3
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert retry_after_seconds(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({"retry-after": "nan"})) is None
    assert retry_after_seconds(httpx.Headers({"retry-after": "-5"})) == 0
    assert retry_after_seconds(httpx.Headers({})) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after_seconds(httpx.Headers({"retry-after": later})) <= 30


def test_one_line_collapses_whitespace_and_shortens():
    assert one_line("  a\n\tb  ") == "a b"
    assert one_line("x" * 300, limit=10) == "xxxxxxxxx…"
    assert one_line("x" * 10, limit=10) == "x" * 10


@pytest.mark.parametrize(
    ("said", "ending"),
    [
        ("max_tokens: Field required", "max_tokens: Field required."),
        ("Please reduce the length.", "Please reduce the length."),
        ("Is the model loaded?", "Is the model loaded?"),
        ("Slow down!", "Slow down!"),
        ("the prompt was too lo…", "the prompt was too lo…"),  # shortened by `one_line`
        ("模型未加载。", "模型未加载。"),  # a full-width stop ends a sentence too
        ("モデルがありません\uff01", "モデルがありません\uff01"),
    ],
)
def test_a_providers_words_at_a_lines_end_end_it_with_one_full_stop(said, ending):
    assert str(error_for_status("OpenAI", 400, said)).endswith(f"(HTTP 400): {ending}")
    assert str(error_for_status("OpenAI", 500, said)).endswith(f"(HTTP 500): {ending}")
    assert str(refusal("OpenAI", said)) == f"OpenAI refused to answer: {ending}"


def test_fields_of_the_wrong_type_are_unexpected_shapes():
    assert field({"n": 3}, "n", int) == 3
    assert field({"n": None}, "n", int) is None
    with pytest.raises(UnexpectedShape, match="'n' is not int"):
        field({"n": True}, "n", int)


# JSON nested deeper than Python's parser goes (it raises RecursionError, no ValueError).
DEEP = "[" * 100_000


@pytest.mark.parametrize("provider", ["OpenAI", "Anthropic", "Gemini"])
async def test_an_event_nested_too_deep_to_parse_is_malformed_and_keeps_the_text(provider):
    server = ReplayServer(FIRST_TEXT[provider] + f"data: {DEEP}\n\n".encode())
    answer = await ask(provider, server)

    assert answer.text == "Hi"
    assert isinstance(answer.error, MalformedStream)
    assert str(answer.error) == (
        f"{provider} sent a stream that could not be read (data that is not JSON)."
    )


@pytest.mark.parametrize("provider", ["OpenAI", "Gemini"])
async def test_json_outside_sse_framing_nested_too_deep_to_parse_is_passed_over(provider):
    server = ReplayServer(FIRST_TEXT[provider] + ('{"error": ' + DEEP[:30_000] + "\n").encode())
    answer = await ask(provider, server)

    assert answer.text == "Hi"
    assert (
        str(answer.error) == f"The stream from {provider} stopped before the answer was complete."
    )


async def test_an_error_body_nested_too_deep_to_parse_is_not_quoted():
    server = ReplayServer(DEEP[:30_000].encode(), status=500, headers=JSON)
    answer = await ask("OpenAI", server)

    assert isinstance(answer.error, ServerError)
    assert str(answer.error) == "OpenAI had a server error (HTTP 500)."


async def test_openrouter_upstream_words_nested_too_deep_to_parse_are_read_as_plain_text():
    raw = json.dumps(DEEP[:30_000])
    body = f'{{"error":{{"code":502,"message":"Upstream failed","metadata":{{"raw":{raw}}}}}}}'
    answer = await ask("OpenRouter", ReplayServer(body.encode(), status=502, headers=JSON))

    assert isinstance(answer.error, ServerError)
    assert str(answer.error).startswith("OpenRouter had a server error (HTTP 502): [[[")
    assert len(str(answer.error)) < 260


# Words with no space in them for a whole error body: read whole, some of the patterns that
# shorten a line and hide keys took seconds (time growing with the square of the length);
# `python -m bench.untrusted_text` holds that time to its target.
WORDS_WITHOUT_END = {
    "one long word": "x" * 60_000,
    "an address many times over": "http://" * 9_000,
    "key after key": "key:" * 15_000,
}


@pytest.mark.parametrize("words", WORDS_WITHOUT_END, ids=str)
async def test_a_long_message_without_spaces_is_shortened(words):
    message = WORDS_WITHOUT_END[words]
    body = openai_error(message, "server_error")
    answer = await ask("OpenAI", ReplayServer(body, status=500, headers=JSON))

    assert isinstance(answer.error, ServerError)
    assert str(answer.error).startswith(f"OpenAI had a server error (HTTP 500): {message[:50]}")
    assert len(str(answer.error)) < 260


def test_a_long_refusal_without_spaces_is_shortened():
    line = str(refusal("OpenAI", WORDS_WITHOUT_END["an address many times over"]))

    assert line.startswith("OpenAI refused to answer: http://http://")
    assert len(line) < 260
