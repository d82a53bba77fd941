"""The one place that calls Slack's Web API (through the slack_sdk client web_client.py makes):
posting (never twice), updating, deleting, and looking up people, channels, files, the token."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.lookups import KEPT_SECONDS, MAX_KEPT, SlackLookups
from bot.slack.rendering import SlackMessage
from bot.slack.scopes import granted_scopes
from bot.slack.slack_errors import (
    SlackUnreachable,
    reaching_slack,
    slack_error_code,
    token_refused,
)
from bot.slack.web_client import header_value

log = logging.getLogger(__name__)

TAG_EVENT_TYPE = "chorus_message"  # the metadata type of every message the bot posts
_CLOCK_SKEW_SECONDS = 120.0  # how far Slack's clock may be from ours when looking back
_PAGES_LOOKED_THROUGH = 10  # of 200 messages each, when looking for a tagged message
SCOPES_HEADER = "x-oauth-scopes"  # on Slack's answer to every call: the token's scopes


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
        # Slack refused the bot's token: it will until the bot restarts with one that works.
        self.token_rejected = False
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

    @contextmanager
    def _reaching(self, doing: str) -> Iterator[None]:
        """`reaching_slack`, noting a refusal of the bot's token in `token_rejected`."""
        try:
            with reaching_slack(doing):
                yield
        except SlackApiError as error:
            self.token_rejected = self.token_rejected or token_refused(error)
            raise

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
                with self._reaching(f"posting {tag} in {channel} (attempt {attempt})"):
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
            with self._reaching(f"reading {channel}"):
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
        with self._reaching(f"updating answer {answer_id} ({ts} in {channel})"):
            await self.client.chat_update(
                channel=channel,
                ts=ts,
                text=message.text,
                blocks=message.blocks,
                **_presented_as(identity),
            )

    async def delete(self, channel: str, ts: str) -> None:
        with self._reaching(f"deleting {ts} in {channel}"):
            await self.client.chat_delete(channel=channel, ts=ts)

    async def tell(self, channel: str, user: str, text: str, *, thread_ts: str | None) -> None:
        """A notice only `user` sees (a bad `+alias`, help)."""
        with self._reaching(f"telling {user} in {channel}"):
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            )

    async def tell_directly(self, user: str, text: str) -> None:
        """A message to `user` in the app's DM with them (its Messages tab)."""
        with self._reaching(f"telling {user} directly"):
            await self.client.chat_postMessage(channel=user, text=text)

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        with self._reaching(f"publishing {user_id}'s Home tab"):
            await self.client.views_publish(user_id=user_id, view=view)

    async def reacted_with(self, channel_id: str, ts: str, reaction: str) -> list[str] | None:
        """Who has :reaction: on a message now (reactions.get), or None (logged) when Slack
        refuses to say."""
        try:
            with self._reaching(f"reading the reactions on {ts} in {channel_id}"):
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
            with self._reaching(f"looking up {what}"):
                return await method(**arguments)
        except SlackApiError as error:
            log.warning("%s not looked up: %s", what, slack_error_code(error))
            return None

    async def token_identity(self) -> TokenIdentity:
        """Our token's bot user and granted scopes (`auth.test`)."""
        response = await self.client.auth_test()
        header = header_value(response.headers, SCOPES_HEADER)
        scopes = granted_scopes(header) if isinstance(header, str) else None
        return TokenIdentity(str(response["user_id"]), scopes)

    async def socket_mode_url(self, app_token: str) -> str:
        """A Socket Mode connection URL for the app-level token (`apps.connections.open`)."""
        response = await self.client.apps_connections_open(app_token=app_token)
        return str(response["url"])


def _presented_as(identity: Identity | None) -> dict[str, Any]:
    """The `username` and `icon_emoji` arguments of a message posted under `identity`."""
    if identity is None:
        return {}
    return {"username": identity.username, "icon_emoji": identity.icon_emoji}
