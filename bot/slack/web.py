"""The one place that calls Slack's Web API (through slack_sdk, with its retry handlers)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
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
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.lookups import KEPT_SECONDS, MAX_KEPT, SlackLookups
from bot.slack.rendering import SlackMessage
from bot.slack.scopes import granted_scopes

log = logging.getLogger(__name__)

WEB_API_TIMEOUT = 30
_RATE_LIMIT_RETRIES = 30  # each waits what Slack's Retry-After says
TAG_EVENT_TYPE = "chorus_message"  # the metadata type of every message the bot posts
_CLOCK_SKEW_SECONDS = 120.0  # how far Slack's clock may be from ours when looking back
_PAGES_LOOKED_THROUGH = 10  # of 200 messages each, when looking for a tagged message
_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
UNREACHABLE = "slack_unreachable"  # the error code of `SlackUnreachable`
SCOPES_HEADER = "x-oauth-scopes"  # on Slack's answer to every call: the token's scopes


class SlackUnreachable(SlackApiError):
    """Slack could not be reached, did not answer in time, or failed (HTTP 5xx): what was
    asked may or may not have been done. A `SlackApiError` (code `slack_unreachable`), so it
    is handled wherever Slack's own refusals are."""

    def __init__(self, doing: str) -> None:
        super().__init__(f"no answer from Slack {doing}", {"ok": False, "error": UNREACHABLE})


def transport_failure(error: BaseException) -> str:
    """A connection-level error for the log: its kind and message, never its `repr`, which
    for aiohttp's response errors carries the request's headers, the bot token among them."""
    return f"{type(error).__name__}: {error}"


# Slack's own refusals that say it failed partway: "it's possible some aspect of the operation
# succeeded before the error was raised" (Slack's list of errors every method may answer).
_MAYBE_DONE = frozenset({"internal_error", "fatal_error"})


@contextmanager
def _reaching_slack(doing: str) -> Iterator[None]:
    """Connection failures, timeouts and server errors (after slack_sdk's own retries), and
    Slack's answers that it failed partway (`_MAYBE_DONE`), as `SlackUnreachable`."""
    try:
        yield
    except _TRANSPORT_ERRORS as error:
        log.warning("no answer from Slack %s: %s", doing, transport_failure(error))
        raise SlackUnreachable(doing) from error
    except SlackApiError as error:
        if error.response.status_code >= 500:
            log.warning("Slack failed %s: HTTP %d", doing, error.response.status_code)
        elif answered_as_slack(error) and error.response.get("error") in _MAYBE_DONE:
            log.warning("Slack failed %s: %s", doing, error.response.get("error"))
        else:
            if answered_as_slack(error):
                _tell_the_admin(slack_error_code(error), str(error.response.get("needed", "")))
            raise
        raise SlackUnreachable(doing) from error


# Slack's refusals of the bot's token once it is running: the app was uninstalled, the token
# revoked or rotated. Every call fails alike until an admin acts.
_TOKEN_REFUSED = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


@cache  # once a process: every later call is refused alike, each logged by its caller
def _tell_the_admin(code: str, needed_scope: str) -> None:
    """One ERROR line for a refusal only an admin can fix (the callers' lines say what each
    call was, not what to do): a token no longer valid, a scope the app was not granted."""
    if code in _TOKEN_REFUSED:
        log.error(
            "Slack no longer accepts the bot token (%s): set SLACK_BOT_TOKEN to the app's "
            "current Bot User OAuth Token (reinstall the app if it was uninstalled) and restart",
            code,
        )
    elif code == "missing_scope":
        log.error(
            "the app lacks the Slack scope %s: add the scopes manifest.yml lists to the app "
            "and reinstall it",
            needed_scope or "it needs",
        )


@dataclass(frozen=True, slots=True)
class MessageTag:
    """Metadata Slack keeps on a message the bot posts: which answer (and which part of it) the
    message shows, so a post whose reply got lost can be found again rather than repeated."""

    answer_id: int
    part: int = 0  # 0: the answer's own message; 1, 2, …: its continuations

    def as_metadata(self) -> dict[str, Any]:
        payload = {"answer_id": str(self.answer_id), "part": str(self.part)}
        return {"event_type": TAG_EVENT_TYPE, "event_payload": payload}

    def is_on(self, message: dict[str, Any]) -> bool:
        """Whether `message` (as Slack lists it) carries this tag; what else Slack adds to
        its metadata (the app that posted it, say) does not matter."""
        metadata = message.get("metadata") or {}
        tag = self.as_metadata()
        return all(metadata.get(key) == value for key, value in tag.items())

    def __str__(self) -> str:
        answer = f"answer {self.answer_id}"
        return f"continuation {self.part} of {answer}" if self.part else answer


@dataclass(frozen=True, slots=True)
class Identity:
    """How a model's messages are signed (needs the `chat:write.customize` scope)."""

    username: str
    icon_emoji: str


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    """What `auth.test` says of the bot token: its bot user, and the scopes it was granted
    (None when the answer did not list them, as some proxies and emulators leave them out)."""

    user_id: str
    scopes: frozenset[str] | None


def open_web_session() -> aiohttp.ClientSession:
    """Connections to Slack kept open between Web API calls: without it, every call opens
    (and against slack.com, TLS-handshakes) a connection of its own. Through the proxy the
    environment names (HTTPS_PROXY, NO_PROXY), as slack_sdk's own calls and the providers'
    go: the file downloads made with it would otherwise try a direct connection."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=WEB_API_TIMEOUT), trust_env=True
    )


def make_web_client(
    token: str,
    api_url: str,
    *,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """A Web API client for `api_url` that waits out Slack's 429s and retries blips; its calls
    share `session`'s connections (see `open_web_session`)."""
    return AsyncWebClient(
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
        if response is not None and not values.get("rate_limited"):
            values["rate_limited"] = True
            log.info(
                "Slack rate-limited %s: trying again in %s s (its Retry-After)",
                request.url.rsplit("/", 1)[-1],
                (_header(response.headers, "retry-after") or ["1"])[0],
            )
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


def _header(headers: Mapping[str, Any], name: str) -> Any:
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


@dataclass(frozen=True, slots=True)
class SlackUser:
    """What the bot needs to know of a Slack user."""

    name: str
    is_bot: bool
    described: bool = True  # False: Slack would not say, and `name` is the id


def _unknown_user(user_id: str) -> SlackUser:
    return SlackUser(user_id, is_bot=False, described=False)


def _unknown_channel(channel_id: str) -> str:
    return channel_id


class SlackWeb:
    """Posting, updating and looking things up in Slack. Raises `SlackApiError` on failure."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        names_kept_seconds: float = KEPT_SECONDS,
        max_names: int = MAX_KEPT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        # The time posts are stamped with, to look back from for one whose reply got lost:
        # the bot gives the database server's, the same clock the answers' start times are by.
        self._clock = clock
        self._users = SlackLookups(
            self._look_up_user, _unknown_user, kept_seconds=names_kept_seconds, max_kept=max_names
        )
        self._channels = SlackLookups(
            self._look_up_channel,
            _unknown_channel,
            kept_seconds=names_kept_seconds,
            max_kept=max_names,
        )

    @property
    def api_url(self) -> str:
        """The Web API base URL the calls go to (SLACK_API_URL)."""
        return self.client.base_url

    async def post(
        self,
        channel: str,
        message: SlackMessage,
        *,
        tag: MessageTag,
        thread_ts: str | None = None,
        identity: Identity | None = None,
        maybe_posted_since: float | None = None,
        not_these: Collection[str] = (),
    ) -> str:
        """Post a message once; returns its ts. When the connection fails, the tagged message
        is looked for before it is posted again (once); `maybe_posted_since` (a time) says an
        earlier attempt may have landed, so it is looked for first. `not_these`: messages
        carrying the same tag that are not this post (an earlier text's continuations Slack
        would not delete). Raises `SlackUnreachable` when Slack cannot be reached."""
        find = partial(self._find_tagged, channel, tag, thread_ts=thread_ts, skip=not_these)
        if maybe_posted_since is not None:
            found = await find(since=maybe_posted_since)
            if found is not None:
                return found
        for attempt in (1, 2):
            sent_at = self._clock()
            try:
                with _reaching_slack(f"posting {tag} in {channel} (attempt {attempt})"):
                    response = await self.client.chat_postMessage(
                        channel=channel,
                        text=message.text,
                        blocks=message.blocks,
                        thread_ts=thread_ts,
                        metadata=tag.as_metadata(),
                        unfurl_links=False,
                        unfurl_media=False,
                        **_presented_as(identity),
                    )
                return str(response["ts"])
            except SlackUnreachable as error:
                lost = error
            found = await find(since=sent_at)
            if found is not None:
                return found
        raise lost

    async def _find_tagged(
        self,
        channel: str,
        tag: MessageTag,
        *,
        thread_ts: str | None,
        since: float,
        skip: Collection[str],
    ) -> str | None:
        """The ts of the bot's message carrying `tag`, posted after `since` (a time) in the
        channel or in the thread `thread_ts`, other than those in `skip`; None when there is
        none."""
        oldest = f"{max(0.0, since - _CLOCK_SKEW_SECONDS):.6f}"
        cursor: str | None = None
        for _ in range(_PAGES_LOOKED_THROUGH):
            with _reaching_slack(f"reading {channel}"):
                page = await self._read_page(channel, thread_ts, oldest, cursor)
            messages: list[dict[str, Any]] = page.get("messages", [])
            for message in messages:
                if tag.is_on(message) and message["ts"] not in skip:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        log.warning(
            "gave up looking for %s in %s after %d pages", tag, channel, _PAGES_LOOKED_THROUGH
        )
        return None

    async def _read_page(
        self, channel: str, thread_ts: str | None, oldest: str, cursor: str | None
    ) -> AsyncSlackResponse:
        """A page of the channel's messages (or the thread's), with their metadata."""
        if thread_ts is None:
            return await self.client.conversations_history(
                channel=channel, oldest=oldest, cursor=cursor, limit=200, include_all_metadata=True
            )
        return await self.client.conversations_replies(
            channel=channel,
            ts=thread_ts,
            oldest=oldest,
            cursor=cursor,
            limit=200,
            include_all_metadata=True,
        )

    async def update(
        self,
        channel: str,
        ts: str,
        message: SlackMessage,
        *,
        answer_id: int,
        identity: Identity | None = None,
    ) -> None:
        """Edit the message of answer `answer_id` (named in the log, like the retries of its
        provider). Slack forgets the name and icon it was posted under unless `chat.update`
        sends them again."""
        with _reaching_slack(f"updating answer {answer_id} ({ts} in {channel})"):
            await self.client.chat_update(
                channel=channel,
                ts=ts,
                text=message.text,
                blocks=message.blocks,
                **_presented_as(identity),
            )

    async def delete(self, channel: str, ts: str) -> None:
        with _reaching_slack(f"deleting {ts} in {channel}"):
            await self.client.chat_delete(channel=channel, ts=ts)

    async def tell(self, channel: str, user: str, text: str, *, thread_ts: str | None) -> None:
        """A notice only `user` sees (a bad `+alias`, help)."""
        with _reaching_slack(f"telling {user} in {channel}"):
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            )

    async def tell_directly(self, user: str, text: str) -> None:
        """A message to `user` in the app's DM with them (its Messages tab)."""
        with _reaching_slack(f"telling {user} directly"):
            await self.client.chat_postMessage(channel=user, text=text)

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        with _reaching_slack(f"publishing {user_id}'s Home tab"):
            await self.client.views_publish(user_id=user_id, view=view)

    async def reacted_with(self, channel_id: str, ts: str, reaction: str) -> list[str] | None:
        """Who has :reaction: on a message now (reactions.get), or None (logged) when Slack
        refuses to say."""
        try:
            with _reaching_slack(f"reading the reactions on {ts} in {channel_id}"):
                response = await self.client.reactions_get(
                    channel=channel_id, timestamp=ts, full=True
                )
        except SlackApiError as error:
            log.warning(
                "reactions on %s in %s not read: %s", ts, channel_id, slack_error_code(error)
            )
            return None
        reactions = (response.get("message") or {}).get("reactions") or []
        found: dict[str, Any] = next((r for r in reactions if r.get("name") == reaction), {})
        return [str(user) for user in found.get("users") or []]

    async def user_name(self, user_id: str, *, known_as: str | None = None) -> str:
        """A person's display name; if Slack will not say, `known_as` (the name their message
        carries), else their id."""
        user = await self._users.get(user_id)
        return user.name if user.described or not known_as else known_as

    async def is_bot(self, user_id: str) -> bool:
        """Whether a user is a bot (an app), as Slack says; not when Slack will not say."""
        return (await self._users.get(user_id)).is_bot

    async def channel_name(self, channel_id: str) -> str:
        """A channel's name (without `#`); its id if Slack will not say."""
        return await self._channels.get(channel_id)

    async def _look_up_user(self, user_id: str) -> SlackUser | None:
        response = await self._described(self.client.users_info, user_id, user=user_id)
        if response is None:
            return None
        user = response["user"]
        profile = user.get("profile") or {}
        name = str(
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )
        return SlackUser(name, is_bot=bool(user.get("is_bot")))

    async def _look_up_channel(self, channel_id: str) -> str | None:
        response = await self._described(
            self.client.conversations_info, channel_id, channel=channel_id
        )
        if response is None:
            return None
        name = (response.get("channel") or {}).get("name")
        return str(name) if name else None

    async def file_info(self, file_id: str) -> dict[str, Any] | None:
        """A shared file's description (files.info), or None (logged) when Slack refuses."""
        response = await self._described(self.client.files_info, f"file {file_id}", file=file_id)
        found = response.get("file") if response is not None else None
        return found if isinstance(found, dict) else None

    async def _described(
        self, method: Callable[..., Awaitable[AsyncSlackResponse]], what: str, **arguments: str
    ) -> AsyncSlackResponse | None:
        """Slack's description of `what` by `method`, or None (logged) when Slack refuses or
        cannot be reached."""
        try:
            with _reaching_slack(f"looking up {what}"):
                return await method(**arguments)
        except SlackApiError as error:
            log.warning("%s not looked up: %s", what, slack_error_code(error))
            return None

    async def token_identity(self) -> TokenIdentity:
        """Our token's bot user and granted scopes (`auth.test`)."""
        response = await self.client.auth_test()
        header = _header(response.headers, SCOPES_HEADER)
        scopes = granted_scopes(header) if isinstance(header, str) else None
        return TokenIdentity(str(response["user_id"]), scopes)

    async def socket_mode_url(self, app_token: str) -> str:
        """A Socket Mode connection URL for the app-level token (`apps.connections.open`)."""
        response = await self.client.apps_connections_open(app_token=app_token)
        return str(response["url"])


def slack_error_code(error: SlackApiError) -> str:
    """Slack's error code, or `http_<status>` for an answer that is not the Web API's JSON (a
    proxy's error page, a URL that is not the API's)."""
    if not answered_as_slack(error):
        return f"http_{error.response.status_code}"
    return str(error.response.get("error", "unknown_error"))


def answered_as_slack(error: SlackApiError) -> bool:
    """Whether the refusal came as the Web API's JSON (or is our own `SlackUnreachable`)."""
    response = error.response
    data = response if isinstance(response, dict) else response.data
    # slack_sdk hands on `{}` for a body that is not JSON (a proxy's HTML error page); the
    # Web API's JSON always says `ok`.
    return isinstance(data, dict) and "ok" in data


# Slack's answers that may change if asked again later; any other refusal (the message or the
# channel is gone, the workspace restricts posting, a scope or the token is missing…) would
# be repeated, so what was refused is given up rather than retried forever.
_FOR_NOW = frozenset(
    {
        UNREACHABLE,
        "ratelimited",  # still, after slack_sdk's own retries
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)


def refused_for_good(error: SlackApiError) -> bool:
    """Slack refused, and would refuse again (unlike a rate limit or an outage)."""
    return slack_error_code(error) not in _FOR_NOW


def _presented_as(identity: Identity | None) -> dict[str, Any]:
    """The `username` and `icon_emoji` arguments of a message posted under `identity`."""
    if identity is None:
        return {}
    return {"username": identity.username, "icon_emoji": identity.icon_emoji}
