"""The state of one Slack workspace: users, conversations and their messages.

Not thread-safe by itself: the emulator holds its lock around every use.
"""

from __future__ import annotations

import itertools
import mimetypes
import time
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.slack_emulator.errors import SlackError

CHANNEL_KINDS = ("channel", "group", "im", "mpim")
TOMBSTONE_TEXT = "This message was deleted."


class TsClock:
    """Hands out Slack message timestamps: unique, strictly increasing, close to the wall clock."""

    def __init__(self) -> None:
        self._last_micros = 0

    def next(self) -> str:
        micros = max(time.time_ns() // 1000, self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot under test is in this workspace."""

    user_id: str
    bot_id: str
    app_id: str
    name: str = "chorus"

    def author_fields(self, team_id: str) -> dict[str, Any]:
        """The fields Slack puts on every message the bot posts."""
        return {
            "user": self.user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.name,
                "team_id": team_id,
                "deleted": False,
            },
        }


@dataclass
class User:
    id: str
    name: str
    display_name: str
    team_id: str
    is_bot: bool = False
    bot_id: str | None = None
    # False: users.info answers user_not_found, as Slack may for a person of another
    # organisation in a Slack Connect channel.
    described: bool = True

    def message_profile(self) -> dict[str, Any]:
        """The `user_profile` Slack puts on a message of a person of another organisation."""
        return {
            "avatar_hash": "g0000000000",
            "image_72": "https://secure.gravatar.com/avatar/0.jpg?s=72",
            "first_name": self.display_name.split(" ")[0],
            "real_name": self.display_name,
            "display_name": self.display_name,
            "team": self.team_id,
            "name": self.name,
            "is_restricted": False,
            "is_ultra_restricted": False,
        }

    def as_api(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "real_name": self.display_name,
            "real_name_normalized": self.display_name,
            "team": self.team_id,
        }
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "real_name": self.display_name,
            "deleted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": profile,
        }


@dataclass
class Channel:
    id: str
    name: str
    kind: str
    im_user: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_api(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "is_channel": self.kind == "channel",
            "is_group": self.kind == "group",
            "is_im": self.kind == "im",
            "is_mpim": self.kind == "mpim",
            "is_private": self.kind != "channel",
            "is_archived": False,
            "is_member": True,
        }
        if self.kind == "im":
            info["user"] = self.im_user
        else:
            info |= {"name": self.name, "name_normalized": self.name}
        return info


@dataclass
class UploadedFile:
    """A file uploaded through files.getUploadURLExternal + files.completeUploadExternal."""

    id: str
    name: str
    length: int
    title: str | None = None
    content: bytes | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False

    @property
    def text(self) -> str:
        return (self.content or b"").decode("utf-8")

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title or self.name,
            "size": len(self.content or b""),
        }


@dataclass(frozen=True)
class SharedFile:
    """A file a person shares with a message: its name, bytes and (else guessed) MIME type;
    `snippet` makes it a text snippet (Slack turns long pasted text into one)."""

    name: str
    content: bytes | str = b""
    mimetype: str | None = None
    snippet: bool = False
    deleted: bool = False  # deleted since it was shared: its URL answers 404
    # Shared from another organisation in a Slack Connect channel: events carry only its id,
    # and files.info describes it.
    external: bool = False

    @property
    def data(self) -> bytes:
        return self.content.encode() if isinstance(self.content, str) else self.content

    @property
    def type(self) -> str:
        guessed, _ = mimetypes.guess_type(self.name)
        return self.mimetype or guessed or "application/octet-stream"


class SlackWorkspace:
    """Users, conversations and messages, with Slack's thread bookkeeping on parents."""

    def __init__(self, team_id: str, bot: BotIdentity) -> None:
        self.team_id = team_id
        self.bot = bot
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.clock = TsClock()
        self.ephemerals: list[dict[str, Any]] = []
        self.home_views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, UploadedFile] = {}
        self.shared_files: dict[str, SharedFile] = {}
        self.shared_file_objects: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        """A fresh Slack-style object ID such as F0000000001."""
        return f"{prefix}{next(self._ids):010d}"

    def add_user(self, user: User) -> None:
        self.users[user.id] = user

    def add_channel(self, channel: Channel) -> None:
        if channel.kind not in CHANNEL_KINDS:
            raise ValueError(f"channel kind must be one of {CHANNEL_KINDS}, not {channel.kind!r}")
        self.channels[channel.id] = channel

    def user(self, user_id: str | None) -> User:
        if user_id not in self.users:
            raise SlackError("user_not_found")
        return self.users[user_id]

    def channel(self, reference: str | None) -> Channel:
        """A conversation by ID, or by name (with or without '#') as chat.postMessage allows."""
        if reference in self.channels:
            return self.channels[reference]
        name = (reference or "").removeprefix("#")
        for channel in self.channels.values():
            if channel.kind in ("channel", "group") and channel.name == name:
                return channel
        raise SlackError("channel_not_found")

    def app_dm_with(self, user_id: str) -> Channel:
        """The app's DM with a person (its Messages tab), opened if need be: where
        chat.postMessage posts when given the person's id as its channel."""
        user = self.user(user_id)
        for channel in self.channels.values():
            if channel.kind == "im" and channel.im_user == user.id:
                return channel
        dm = Channel(self.new_id("D"), user.id, "im", user.id)
        self.add_channel(dm)
        return dm

    def message(self, channel: Channel, ts: str | None) -> dict[str, Any]:
        if ts not in channel.messages:
            raise SlackError("message_not_found")
        return channel.messages[ts]

    def post(
        self, channel: Channel, message: dict[str, Any], thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Store `message` with a new ts; as a reply when `thread_ts` names a message."""
        stored = {"type": "message", "team": self.team_id, **message, "ts": self.clock.next()}
        if thread_ts:
            parent = self.thread_parent(channel, thread_ts)
            stored["thread_ts"] = parent["ts"]
            stored["parent_user_id"] = parent.get("user")
        channel.messages[stored["ts"]] = stored
        if thread_ts:
            self.refresh_thread(channel, stored["thread_ts"])
        return stored

    def thread_parent(self, channel: Channel, ts: str) -> dict[str, Any]:
        """The parent of the thread `ts` belongs to (a reply's ts leads to its parent)."""
        if ts not in channel.messages:
            raise SlackError("thread_not_found")
        message = channel.messages[ts]
        return channel.messages.get(message.get("thread_ts", ts), message)

    def delete(self, channel: Channel, ts: str) -> dict[str, Any]:
        """Remove a message; a parent with replies stays as Slack's tombstone."""
        message = self.message(channel, ts)
        replies = self.replies(channel, ts) if message.get("thread_ts") == ts else []
        if replies:
            channel.messages[ts] = {
                "type": "message",
                "subtype": "tombstone",
                "hidden": True,
                "user": "USLACKBOT",
                "text": TOMBSTONE_TEXT,
                "ts": ts,
                "thread_ts": ts,
            }
            self.refresh_thread(channel, ts)
        else:
            del channel.messages[ts]
        parent_ts = message.get("thread_ts")
        if parent_ts and parent_ts != ts and parent_ts in channel.messages:
            self.refresh_thread(channel, parent_ts)
        return message

    def refresh_thread(self, channel: Channel, parent_ts: str) -> None:
        """Recompute the reply_count/latest_reply fields Slack keeps on a thread parent."""
        parent = channel.messages[parent_ts]
        replies = self.replies(channel, parent_ts)
        users = list(dict.fromkeys(reply.get("user") for reply in replies if reply.get("user")))
        parent["thread_ts"] = parent_ts
        parent["reply_count"] = len(replies)
        parent["reply_users"] = users
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = replies[-1]["ts"] if replies else parent_ts

    def top_level(self, channel: Channel) -> list[dict[str, Any]]:
        """Messages shown in the channel itself, oldest first (broadcast replies included)."""
        return [
            message
            for message in channel.messages.values()
            if message.get("thread_ts", message["ts"]) == message["ts"]
            or message.get("subtype") == "thread_broadcast"
        ]

    def replies(self, channel: Channel, parent_ts: str) -> list[dict[str, Any]]:
        """The replies of a thread, oldest first, without the parent."""
        return [
            message
            for message in channel.messages.values()
            if message.get("thread_ts") == parent_ts and message["ts"] != parent_ts
        ]

    def add_reaction(self, message: dict[str, Any], user_id: str, name: str) -> None:
        reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if user_id in reaction["users"]:
            raise SlackError("already_reacted")
        reaction["users"].append(user_id)
        reaction["count"] = len(reaction["users"])

    def remove_reaction(self, message: dict[str, Any], user_id: str, name: str) -> None:
        reactions: list[dict[str, Any]] = message.get("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None or user_id not in reaction["users"]:
            raise SlackError("no_reaction")
        reaction["users"].remove(user_id)
        reaction["count"] = len(reaction["users"])
        if not reaction["users"]:
            reactions.remove(reaction)
        if not reactions:
            message.pop("reactions", None)
