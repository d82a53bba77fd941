"""The slack_sdk Web API client the bot calls Slack with: its aiohttp session, its timeout,
and its retry handlers (429s waited out, blips retried, never a post)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit
from urllib.request import proxy_bypass

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from yarl import URL

log = logging.getLogger(__name__)

WEB_API_TIMEOUT = 30
_RATE_LIMIT_RETRIES = 30  # each waits what Slack's Retry-After says


def open_web_session() -> aiohttp.ClientSession:
    """Connections to Slack kept open between Web API calls: without it, every call opens
    (and against slack.com, TLS-handshakes) a connection of its own. Not `trust_env`: with it
    aiohttp looks up the environment's proxy and ~/.netrc again on every call, in two trips
    to a thread (about 0.7 ms of CPU a call). Calls go through the proxy the environment
    names all the same: slack_sdk's found once (`make_web_client`), a download's looked up
    for it (`environment_proxy`)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEB_API_TIMEOUT))


def environment_proxy(url: str) -> tuple[str | None, dict[str, str] | None]:
    """The proxy aiohttp's `trust_env` takes for `url` (HTTPS_PROXY, HTTP_PROXY, the system's
    settings, NO_PROXY; its credentials from ~/.netrc), and the header that carries them."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None
    return str(proxy), None if auth is None else {"Proxy-Authorization": auth.encode()}


def proxy_bypassed(url: str) -> bool:
    """Whether NO_PROXY names `url`'s host: slack_sdk's clients take HTTPS_PROXY from the
    environment, but not NO_PROXY."""
    host = urlsplit(url).hostname
    return bool(host and proxy_bypass(host))


def make_web_client(
    token: str,
    api_url: str,
    *,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """A Web API client for `api_url` that waits out Slack's 429s and retries blips; its calls
    share `session`'s connections (see `open_web_session`)."""
    client = _WebApiClient(
        token=token,
        base_url=api_url if api_url.endswith("/") else api_url + "/",
        timeout=WEB_API_TIMEOUT,
        session=session,
        retry_handlers=[
            _RetryConnectionsUnlessPosting(max_retry_count=2),
            _RetryServerErrorsUnlessPosting(max_retry_count=2),
            _RateLimitWaitedOut(max_retry_count=_RATE_LIMIT_RETRIES),
        ],
    )
    if client.proxy is not None and proxy_bypassed(client.base_url):
        client.proxy = None
    elif client.proxy is None and session is not None:
        # slack_sdk read HTTPS_PROXY and HTTP_PROXY; what else aiohttp's `trust_env` would
        # find for each call (the system's proxy settings), once.
        client.proxy, _ = environment_proxy(client.base_url)
    return client


class _WebApiClient(AsyncWebClient):
    """slack_sdk's client, taking every answer for the Web API's JSON or for none: a body of
    another type (a proxy's page in plain text, which slack_sdk hands on as a str and then
    fails on with an AttributeError at HTTP 200; one labelled gzip, which it takes for
    success) is an answer that is not Slack's, as an HTML page is. None of the methods the
    bot calls answers otherwise."""

    async def _request(
        self, *, http_verb: str, api_url: str, req_args: dict[str, Any]
    ) -> dict[str, Any]:
        response: dict[str, Any] = await super()._request(
            http_verb=http_verb, api_url=api_url, req_args=req_args
        )
        if not isinstance(response.get("data"), dict):
            response["data"] = {}  # as slack_sdk leaves it for an HTML page
        return response


class _RateLimitWaitedOut(AsyncRateLimitErrorRetryHandler):
    """Waits out Slack's 429s as slack_sdk does, and says so once a call (slack_sdk only does
    at DEBUG): an answer that stalls for as long as Slack asks is not left unexplained."""

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        values = state.custom_values = state.custom_values or {}
        if response is not None:
            _retry_after_as_whole_seconds(response)
        if response is not None and not values.get("rate_limited"):
            values["rate_limited"] = True
            log.info(
                "Slack rate-limited %s: trying again in %s s (its Retry-After)",
                request.url.rsplit("/", 1)[-1],
                (header_value(response.headers, "retry-after") or ["1"])[0],
            )
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


def _retry_after_as_whole_seconds(response: HttpResponse) -> None:
    """Retry-After in whole seconds, the only form slack_sdk reads (any other fails the call
    with a ValueError): Slack sends those, but a proxy in front of it may send a fraction or
    an HTTP date (RFC 9110), or a wait past any Slack asks for. One that cannot be read is
    left out: slack_sdk then waits about a second, as when Slack leaves it out."""
    for name in [name for name in response.headers if name.lower() == "retry-after"]:
        value = response.headers[name]
        seconds = _whole_seconds((value[0] if isinstance(value, list) else value) or "")
        if seconds is None:
            del response.headers[name]
        else:
            response.headers[name] = [str(seconds)]


# The longest wait a Retry-After is taken for: Slack's are seconds; one of hours or years (a
# proxy's mistake) would hold the call, and the answer it shows, for as long.
_LONGEST_RETRY_AFTER_SECONDS = 3600


def _whole_seconds(retry_after: str) -> int | None:
    try:
        seconds = float(retry_after)
    except ValueError:
        try:
            when = parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # `-0000`: UTC, by RFC 5322
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return math.ceil(min(max(seconds, 0), _LONGEST_RETRY_AFTER_SECONDS))


def header_value(headers: Mapping[str, Any], name: str) -> Any:
    """The value of the header `name` (lower case), whatever case it came in: slack_sdk hands
    on headers as a plain mapping."""
    return next((value for key, value in headers.items() if key.lower() == name), None)


class _UnlessPosting(AsyncRetryHandler):
    """A post whose connection broke, or that Slack failed (5xx), may have been posted all the
    same: `SlackWeb.post` looks for it before posting again, so it is not retried blindly."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.endswith("/chat.postMessage"):
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class _RetryConnectionsUnlessPosting(_UnlessPosting, AsyncConnectionErrorRetryHandler):
    pass


class _RetryServerErrorsUnlessPosting(_UnlessPosting, AsyncServerErrorRetryHandler):
    pass
