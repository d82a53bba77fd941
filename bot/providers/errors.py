"""A provider's failure as a `ProviderError` whose message is one line fit for Slack: from an
HTTP status and the provider's error body, or from an error sent inside the stream."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bot.chat.quoting import as_sentence
from bot.providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContextTooLong,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    Refused,
    ServerError,
)

MAX_DETAIL_CHARS = 200
MAX_ERROR_BODY_BYTES = 64 * 1024
"""More than any provider's error body: what a server sends past it is not read."""
_UNSERVED_REGION = "unsupported_country_region_territory"
# A wait in an error's words: "try again in 7m12s" (Go's way of writing a duration, as
# OpenAI's messages do) or "retry after 33 seconds".
_WAIT_SAID = re.compile(
    r"(?:try again|retry) (?:in|after) (?:(?P<duration>(?:\d+(?:\.\d+)?(?:ms|h|m|s))+)\b"
    r"|(?P<seconds>\d+(?:\.\d+)?) seconds?\b)",
    re.IGNORECASE,
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS_IN = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# How each API says a request is longer than the model's context: OpenAI's and OpenRouter's
# `code`, llama.cpp's `type`, and the words of the others (Anthropic, Gemini, vLLM, LM Studio).
_CONTEXT_OVERFLOW_NAMES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_CONTEXT_OVERFLOW = re.compile(
    r"maximum context length|prompt is too long|input token count \(\d+\) exceeds"
    r"|exceeds? the (?:available )?context (?:size|window|length)",
    re.IGNORECASE,
)
# The context's size and the request's, as the same messages give them: (limit, sent).
_CONTEXT_SIZES = (
    # OpenAI, vLLM, OpenRouter
    re.compile(
        r"maximum context length is (?P<limit>\d+) tokens.{0,80}?"
        r"(?:resulted in|requested(?: about)?) (?P<sent>\d+) tokens",
        re.IGNORECASE,
    ),
    re.compile(r"prompt is too long: (?P<sent>\d+) tokens > (?P<limit>\d+) maximum"),  # Anthropic
    re.compile(  # Gemini
        r"input token count \((?P<sent>\d+)\) exceeds the maximum number of tokens allowed "
        r"\((?P<limit>\d+)\)"
    ),
)
# A URL in a transport error's text (it may carry a user and password, or a key).
_URL_IN_TEXT = re.compile(r"[A-Za-z][\w+.-]*://\S+")
# A request id as providers write them (`req_…`, a UUID): any other header value is not logged.
_REQUEST_ID = re.compile(r"[\w.:-]{1,128}")

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
    "invalid_prompt": 400,  # Responses: the prompt failed validation or a usage-policy check
    "rate_limit_exceeded": 429,
    "too_many_requests": 429,
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

# Error names (OpenAI's) saying the account's quota or credits are used up: waiting won't help.
_QUOTA_USED_UP = frozenset({"insufficient_quota", "credit_balance_exhausted"})
# Gemini's quotas per day reset at midnight Pacific time, yet its 429 for one names a retry
# delay of seconds all the same (as for a quota per minute): retried, it only fails again.
# A quota of 0 is a model the project's plan does not include (Pro on the free tier).
_PER_DAY_QUOTA = re.compile(r"PerDay|_per_day\b", re.IGNORECASE)
_NO_QUOTA_IN_MESSAGE = re.compile(r"\blimit: 0(?![\d.])")

_URL_QUERY = re.compile(r"(https?://[^\s?#]+)[?#]\S*")
_ERROR_NAME = re.compile(r"[A-Za-z][\w.-]{0,63}")
_NOT_FOR_PEOPLE = re.compile(r"^\s*<|Traceback \(most recent call last\)")
# A key a provider's words may quote, whole or masked (a proxy passing on its upstream's "bad
# key" answer as its own failure, a gateway that echoes the key it was sent): one with a
# provider's key prefix, one partly starred out, the value after "Bearer", "key:" or "token=".
_KEY_IN_TEXT = re.compile(
    r"(?P<name>(?<![\w-])(?:bearer\s+|(?:key|token)\s*[:=]\s*))(?=[^\s&,;]*\d)[^\s&,;]{7,}(?<=\w)"
    r"|\b(?:sk|rk|pk|gsk|xai|hf|pplx|nvapi)[-_](?:[\w-]{16,}|[\w.…-]*(?:\*|\.\.\.|…)[\w*.…-]*\w)"
    r"|\bAIza[\w-]{16,}"
    r"|\S*\*{3,}[\w*]*",
    re.IGNORECASE,
)
KEY_HIDDEN = "(key hidden)"
# What Anthropic, Gemini and OpenAI say for any server error of theirs, and nothing more.
_STOCK_SERVER_ERROR = re.compile(
    r"internal server error\W*$|an internal error has occurred|the server had an error",
    re.IGNORECASE,
)
# What servers that apply an open model's chat template strictly (vLLM, LM Studio, llama.cpp)
# answer for a system message its template has no role for: Gemma 2's says so; Mistral 7B
# v0.1's takes it for a turn out of alternation (which the turns sent never are).
SYSTEM_ROLE_REFUSED = re.compile(r"system role|roles must alternate", re.IGNORECASE)


def error_for_response(provider: str, response: httpx.Response, body: bytes) -> ProviderError:
    """The error for a non-2xx answer, read from the provider's JSON error `body` (the start
    of it, `error_body`) if it sent one."""
    error = _error_object(body)
    status = response.status_code
    # Gemini answers a bad API key with 400 INVALID_ARGUMENT; it is still an authentication error.
    if _has_detail(error, "reason", "API_KEY_INVALID"):
        status = 401
    if status == 429 and (name := _quota_name(error)):
        return _quota_used_up(provider, f"HTTP 429 {name}", status)
    if status == 429 and (used_up := _quota_not_back_soon(provider, error, "HTTP 429", status)):
        return used_up
    retry_after = retry_after_seconds(response.headers)
    if retry_after is None:
        retry_after = _wait_named_in_error(error)
    # Only the provider's own error message is quoted: any other body (a proxy's HTML page,
    # a local server's traceback) is not written for people to read.
    detail = _message(error)
    if status >= 500 and SYSTEM_ROLE_REFUSED.search(detail):
        # llama.cpp answers a chat template's refusal as its own failure (HTTP 500); the
        # same request would be refused again, so it is no server error worth a retry.
        return BadRequest(_rejected(provider, f"HTTP {status}", detail), status=status)
    if status == 403 and isinstance(_object_at(error, "metadata").get("reasons"), list):
        # OpenRouter's moderation: the key is fine, the message was flagged.
        return refusal(provider, detail)
    if status == 403 and error.get("code") == _UNSERVED_REGION:
        # The key is fine: OpenAI does not serve where the bot runs (nor would it later).
        return BadRequest(
            f"{provider} does not serve the country or region this bot runs in "
            f"(HTTP 403 {_UNSERVED_REGION}).",
            status=status,
        )
    if status == 400 and _context_overflowed(error):
        limit, sent = _context_sizes(error)
        return ContextTooLong(
            _rejected(provider, f"HTTP {status}", detail),
            status=status,
            limit=limit,
            sent=sent,
        )
    return error_for_status(provider, status, detail, retry_after=retry_after)


async def error_body(response: httpx.Response) -> bytes:
    """The start of an error's body, up to `MAX_ERROR_BODY_BYTES`: a server that sends one
    without end is not read to its end (the connection is dropped instead)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= MAX_ERROR_BODY_BYTES:
            break
    return bytes(body[:MAX_ERROR_BODY_BYTES])


def error_in_stream(provider: str, error: object) -> ProviderError:
    """The error for an error object sent inside the stream (`{"type", "message"}`, `{"code"}`)."""
    fields: Mapping[str, Any] = error if isinstance(error, dict) else {"message": error}
    if isinstance(fields.get("error"), dict):  # OpenAI Responses: `{"type": "error", "error": …}`
        fields = fields["error"]
    if quota := _quota_name(fields):
        return _quota_used_up(provider, quota)
    if fields.get("status") == "RESOURCE_EXHAUSTED" and (
        used_up := _quota_not_back_soon(provider, fields, "RESOURCE_EXHAUSTED")
    ):
        return used_up
    code = fields.get("code")
    names = [fields.get(key) for key in ("type", "status", "code")]
    name = next((n for n in names if isinstance(n, str) and n in _STATUS_FOR_ERROR_TYPE), None)
    if name is not None:
        status, cause = _STATUS_FOR_ERROR_TYPE[name], name
    elif isinstance(code, int) and 400 <= code <= 599:
        status, cause = code, f"error {code}"
    else:
        status, cause = 500, _own_name(fields) or "error in the stream"
    detail = _message(fields)
    retry_after = _wait_named_in_error(fields)
    return error_for_status(provider, status, detail, retry_after=retry_after, cause=cause)


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
        # A wait it asked for is said instead, when the answer ends with this error.
        hint = "." if retry_after else "; try again in a moment."
        return Overloaded(
            f"{provider} is overloaded ({cited}){hint}",
            status=http_status,
            retry_after=retry_after,
        )
    if 500 <= status <= 599:
        # Its own words are the only place a local server says why (out of memory, a model
        # that failed to load). An overload's (above) and the hosted APIs' stock sentences
        # only say what the line does.
        said = "." if _STOCK_SERVER_ERROR.match(detail) else _said(detail)
        return ServerError(
            f"{provider} had a server error ({cited}){said}",
            status=http_status,
            retry_after=retry_after,
        )
    if status == 402:
        return _quota_used_up(provider, cited, http_status)
    if status == 408:
        return ProviderTimeout(f"{provider} took too long to answer ({cited}).", status=http_status)
    if status in (401, 403):
        # The provider's own message is left out: some quote part of the key.
        return AuthenticationFailed(
            f"{provider} did not accept the API key ({cited}); check the key and its access.",
            status=http_status,
        )
    if status == 404 and not detail and cause is None:
        # Not the API's own "no such model" (that comes with a message): a base URL that
        # misses its `/v1` (or has one too many) answers a bare 404 page.
        detail = "no API answers at that address; check the provider's *_BASE_URL setting"
    if 300 <= status <= 399:  # redirects are not followed: a request is not sent twice
        return BadRequest(
            f"{provider} answered with a redirect ({cited}); check the provider's *_BASE_URL "
            "setting (https, not http?).",
            status=http_status,
        )
    if 400 <= status <= 499:
        return BadRequest(_rejected(provider, cited, detail), status=http_status)
    return ProviderError(f"{provider} answered with unexpected {cited}.", status=http_status)


def _rejected(provider: str, cited: str, detail: str) -> str:
    """The line of a request the provider would not take, `cited` its status."""
    return f"{provider} rejected the request ({cited}){_said(detail)}"


def refusal(provider: str, words: str) -> Refused:
    """The model (or its provider's moderation) declined, in its own words when it gave some."""
    return Refused(f"{provider} refused to answer{_said(one_line(words))}")


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


def request_id(headers: httpx.Headers) -> str | None:
    """The provider's id for a request, which its support asks for: Anthropic's `request-id`,
    OpenAI's `x-request-id` (as many compatible servers send)."""
    found = headers.get("request-id") or headers.get("x-request-id")
    return found if found is not None and _REQUEST_ID.fullmatch(found) else None


def one_line(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """`text` on one line of at most `limit` characters, URLs without their query strings."""
    line = _URL_QUERY.sub(r"\1", _start_of(text, 10 * limit))
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def reason_for_log(error: ProviderError) -> str:
    """What the line people see leaves out, for the log: the transport's own reason for a
    failure to connect, a timeout or a cut stream (a refused connection, a certificate that
    did not verify, a name that did not resolve), without any URL (one may carry a key); the
    provider's id for the request. "" when it has neither."""
    notes = []
    cause = error.__cause__
    if isinstance(cause, httpx.TransportError):
        reason = one_line(_URL_IN_TEXT.sub("<URL>", str(_first_cause(cause)))) or "no detail given"
        notes.append(f"{type(cause).__name__}: {reason}")
    if error.request_id:
        notes.append(f"request id {error.request_id}")
    return f" ({'; '.join(notes)})" if notes else ""


def _first_cause(error: BaseException) -> BaseException:
    """The error all the others were raised from (httpx's ConnectError says "All connection
    attempts failed"; the socket's own error, deeper down, says why)."""
    seen = {id(error)}  # a chain set by hand may loop back
    while (cause := error.__cause__ or error.__context__) is not None:
        cause = cause.exceptions[0] if isinstance(cause, BaseExceptionGroup) else cause
        if id(cause) in seen:
            break
        seen.add(id(cause))
        error = cause
    return error


def _own_name(error: Mapping[str, Any]) -> str | None:
    """The name an error the bot knows no status for calls itself (its `code`, else its
    `type`), if it gives one: cited as known names are."""
    for key in ("code", "type"):
        name = error.get(key)
        if isinstance(name, str) and name != "error" and _ERROR_NAME.fullmatch(name):
            return name
    return None


def _detail(message: object) -> str:
    """The provider's own error message on one line, any key it quotes hidden; "" for none,
    or for one that is a page or a traceback (a proxy passing on its upstream's, a server
    that crashed)."""
    if not isinstance(message, str) or _NOT_FOR_PEOPLE.search(message):
        return ""
    return one_line(_KEY_IN_TEXT.sub(_key_hidden, _start_of(message, 10 * MAX_DETAIL_CHARS)))


def _start_of(text: str, chars: int) -> str:
    """`text` on one line, cut to its first `chars` characters: far more than a line shows,
    and all the patterns above read of it. Some take time growing with the square of the
    length of a word they look into (a long message with no spaces, `http://` many times
    over), and a provider's message may be megabytes long: read whole, it held up the bot."""
    return " ".join(text.split())[:chars]


def _words(error: Mapping[str, Any]) -> str:
    """The start of the error's own message as the patterns read it; '' when it has none."""
    message = error.get("message")
    return _start_of(message, 2000) if isinstance(message, str) else ""


def _message(error: Mapping[str, Any]) -> str:
    """The error's own message (see `_detail`). OpenRouter's for a failure of the provider it
    routed to ("Provider returned error") says nothing; that provider's own answer, in
    `metadata.raw` (its error body, or plain text), says why: it is quoted instead, named."""
    metadata = _object_at(error, "metadata")
    raw = metadata.get("raw")
    if isinstance(raw, str):
        with suppress(ValueError, RecursionError):
            raw = json.loads(raw)
    said = _detail(raw) if isinstance(raw, str) else _detail(_error_in(raw).get("message"))
    if not said:
        return _detail(error.get("message"))
    name = metadata.get("provider_name")
    return f"{name}: {said}" if isinstance(name, str) and name else said


def _key_hidden(key: re.Match[str]) -> str:
    return (key["name"] or "") + KEY_HIDDEN


def _said(detail: str) -> str:
    """How an error line ends: with the provider's message, when it gave one, as a sentence."""
    return f": {as_sentence(detail)}" if detail else "."


def _error_object(content: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(content)
    except (ValueError, RecursionError):  # nested deeper than the parser goes
        return {}
    return _error_in(payload)


def _error_in(payload: object) -> dict[str, Any]:
    """The error object of an error body's JSON, in any of the shapes servers send."""
    # Gemini's streaming endpoint may wrap the error body in a list.
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return error
    # Ollama and some other OpenAI-compatible servers send {"error": "message"}.
    if isinstance(error, str):
        return {"message": error}
    # vLLM before 0.10, SGLang and FastChat send the error's fields unwrapped.
    if isinstance(payload, dict) and payload.get("object") == "error":
        return payload
    return {}


def _quota_name(error: Mapping[str, Any]) -> str | None:
    """The error's name when it says the account's quota or credits are used up."""
    names = (error.get(key) for key in ("code", "type"))
    return next((name for name in names if isinstance(name, str) and name in _QUOTA_USED_UP), None)


def _quota_used_up(provider: str, cited: str, status: int | None = None) -> QuotaExhausted:
    return QuotaExhausted(
        f"{provider} quota is used up ({cited}); check the account's plan and billing.",
        status=status,
    )


def _quota_not_back_soon(
    provider: str, error: Mapping[str, Any], cited: str, status: int | None = None
) -> QuotaExhausted | None:
    """The error for a Gemini quota (`google.rpc.QuotaFailure`) that no wait of the bot's
    would see back: one of 0 for the model, or one per day; None for any other."""
    violations = [
        violation
        for detail in _details(error)
        if isinstance(listed := detail.get("violations"), list)
        for violation in listed
        if isinstance(violation, dict)
    ]
    no_quota = any(violation.get("quotaValue") in ("0", 0) for violation in violations)
    if no_quota or _NO_QUOTA_IN_MESSAGE.search(_words(error)):
        return QuotaExhausted(
            f"{provider} gives this project no quota for this model ({cited}); its plan does "
            "not include it: check the account's plan and billing.",
            status=status,
        )
    for violation in violations:
        quota = violation.get("quotaId") or violation.get("quotaMetric")
        if isinstance(quota, str) and _PER_DAY_QUOTA.search(quota):
            named = f", {quota}" if _ERROR_NAME.fullmatch(quota) else ""
            return QuotaExhausted(
                f"{provider} daily quota is used up ({cited}{named}); it resets at midnight "
                f"Pacific time (in {wait_as_read(_until_midnight_pacific())}), or check the "
                "account's plan and billing.",
                status=status,
            )
    return None


def _until_midnight_pacific(now: datetime | None = None) -> float:
    """Seconds from `now` (an aware time; by default, now) to the next midnight in Pacific
    time, when Gemini's daily quotas reset."""
    pacific = ZoneInfo("America/Los_Angeles")
    today = (now or datetime.now(UTC)).astimezone(pacific)
    midnight = datetime.combine(today.date() + timedelta(days=1), datetime.min.time(), pacific)
    return midnight.timestamp() - today.timestamp()  # not `-`: it ignores a DST change


def wait_as_read(seconds: float) -> str:
    """A wait as a person reads it: a day's quota in hours, not hundreds of minutes."""
    if seconds < 120:
        return f"{math.ceil(seconds)} s"
    if seconds <= 7200:
        return f"{math.ceil(seconds / 60)} min"
    return f"{math.ceil(seconds / 3600)} h"


def _context_overflowed(error: Mapping[str, Any]) -> bool:
    """Whether the error says the request is longer than the model's context."""
    if any(error.get(key) in _CONTEXT_OVERFLOW_NAMES for key in ("code", "type")):
        return True
    return bool(_CONTEXT_OVERFLOW.search(_words(error)))


def _context_sizes(error: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The model's context and the request's size in tokens, where the error gives them."""
    limit, sent = error.get("n_ctx"), error.get("n_prompt_tokens")  # llama.cpp's fields
    if isinstance(limit, int) and isinstance(sent, int):
        return limit, sent
    text = _words(error)
    for pattern in _CONTEXT_SIZES:
        if found := pattern.search(text):
            return int(found["limit"]), int(found["sent"])
    return None, None


def _object_at(error: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = error.get(key)
    return value if isinstance(value, dict) else {}


def _details(error: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [detail for detail in details if isinstance(detail, dict)]


def _has_detail(error: Mapping[str, Any], key: str, value: str) -> bool:
    return any(detail.get(key) == value for detail in _details(error))


def _wait_named_in_error(error: Mapping[str, Any]) -> float | None:
    """The wait an error object itself asks for, when no header said (none can in a stream)."""
    for read in (_retry_delay_in_details, _limit_reset_in_metadata, _wait_said_in_message):
        if (retry_after := read(error)) is not None:
            return retry_after
    return None


def _wait_said_in_message(error: Mapping[str, Any]) -> float | None:
    """The wait an error's words ask for: OpenAI's rate limits send no Retry-After, but say
    "Please try again in 7m12s" (or 1.5s, 20ms); Azure's "Please retry after 33 seconds"."""
    if not (said := _WAIT_SAID.search(_words(error))):
        return None
    if said["seconds"] is not None:
        return float(said["seconds"])
    parts = _DURATION_PART.findall(said["duration"])
    return sum(float(amount) * _SECONDS_IN[unit] for amount, unit in parts)


def _retry_delay_in_details(error: Mapping[str, Any]) -> float | None:
    """Gemini's `google.rpc.RetryInfo` detail: `{"retryDelay": "37s"}`."""
    for detail in _details(error):
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            return _number(delay[:-1])
    return None


def _limit_reset_in_metadata(error: Mapping[str, Any]) -> float | None:
    """OpenRouter's rate-limit headers, sent in the body: `X-RateLimit-Reset` in epoch ms."""
    reset = _object_at(_object_at(error, "metadata"), "headers").get("X-RateLimit-Reset")
    milliseconds = _number(str(reset)) if isinstance(reset, (str, int)) else None
    if milliseconds is None:
        return None
    return max(milliseconds / 1000 - time.time(), 0.0)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
