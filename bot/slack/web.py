"""The one place that calls Slack's Web API (through slack_sdk, with its retry handlers)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.rendering import SlackMessage

log = logging.getLogger(__name__)

_NAME_CACHE_SECONDS = 3600.0
WEB_API_TIMEOUT = 30


@dataclass(frozen=True, slots=True)
class Identity:
    """How a model's messages are signed (needs the `chat:write.customize` scope)."""

    username: str
    icon_emoji: str


def open_web_session() -> aiohttp.ClientSession:
    """Connections to Slack kept open between Web API calls: without it, every call opens
    (and against slack.com, TLS-handshakes) a connection of its own."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEB_API_TIMEOUT))


def make_web_client(
    token: str,
    api_url: str,
    *,
    session: aiohttp.ClientSession | None = None,
    rate_limit_retries: int = 30,
) -> AsyncWebClient:
    """A Web API client for `api_url` that waits out Slack's 429s and retries blips; its calls
    share `session`'s connections (see `open_web_session`)."""
    return AsyncWebClient(
        token=token,
        base_url=api_url if api_url.endswith("/") else api_url + "/",
        timeout=WEB_API_TIMEOUT,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


class SlackWeb:
    """Posting, updating and looking things up in Slack. Raises `SlackApiError` on failure."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._names: dict[str, tuple[str, float]] = {}

    async def post(
        self,
        channel: str,
        message: SlackMessage,
        *,
        thread_ts: str | None = None,
        identity: Identity | None = None,
    ) -> str:
        """Post a message; returns its ts."""
        response = await self.client.chat_postMessage(
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            username=identity.username if identity else None,
            icon_emoji=identity.icon_emoji if identity else None,
        )
        return str(response["ts"])

    async def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        await self.client.chat_update(
            channel=channel, ts=ts, text=message.text, blocks=message.blocks
        )

    async def delete(self, channel: str, ts: str) -> None:
        await self.client.chat_delete(channel=channel, ts=ts)

    async def tell(self, channel: str, user: str, text: str, *, thread_ts: str | None) -> None:
        """A notice only `user` sees (a bad `+alias`, help)."""
        await self.client.chat_postEphemeral(
            channel=channel, user=user, text=text, thread_ts=thread_ts
        )

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        await self.client.views_publish(user_id=user_id, view=view)

    async def user_name(self, user_id: str) -> str:
        """A person's display name (cached for an hour); their id if Slack will not say."""
        cached = self._names.get(user_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as error:
            log.warning("users.info failed for %s: %s", user_id, error.response.get("error"))
            return user_id
        user = response["user"]
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )
        self._names[user_id] = (name, time.monotonic() + _NAME_CACHE_SECONDS)
        return str(name)

    async def bot_user_id(self) -> tuple[str, str]:
        """(team id, bot user id) of our token."""
        response = await self.client.auth_test()
        return str(response["team_id"]), str(response["user_id"])


def slack_error_code(error: SlackApiError) -> str:
    return str(error.response.get("error", "unknown_error"))
