"""Which messages the bot answers: a new round, a reply-thread turn, or nothing (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.chat.attachments import AttachedFile
from bot.chat.shared_messages import SharedMessage


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A person's message as the chat core sees it (already stripped of Slack's envelope)."""

    team_id: str
    channel_id: str
    ts: str
    thread_ts: str | None
    user_id: str
    text: str
    is_direct: bool
    mentions_bot: bool
    attachments: tuple[AttachedFile, ...] = ()  # the files the person shared with it
    shared: tuple[SharedMessage, ...] = ()  # the messages the person forwarded with it
    place: str = "channel"  # what it was said in, as replies name it: channel, DM, conversation
    # The author's name as the message's own `user_profile` gives it: Slack sends one with a
    # message from another organisation's person (Slack Connect), whom users.info may not know.
    profile_name: str | None = None

    @property
    def is_top_level(self) -> bool:
        return self.thread_ts is None or self.thread_ts == self.ts

    @property
    def said_in_thread(self) -> str:
        """The Slack thread the message was said in; "" for a top-level message."""
        return "" if self.is_top_level else self.thread_ts or ""


@dataclass(frozen=True, slots=True)
class ChatKey:
    """Identifies a chat: a channel or DM, or a Slack thread that became a chat (SPEC §4.4)."""

    team_id: str
    channel_id: str
    thread_ts: str = ""


@dataclass(frozen=True, slots=True)
class StartRound:
    """Every model of the chat answers; `reply_in_thread` is the thread to post into, if any."""

    chat: ChatKey

    @property
    def reply_in_thread(self) -> str | None:
        return self.chat.thread_ts or None


@dataclass(frozen=True, slots=True)
class ContinueThread:
    """The model of the reply thread under this answer replies."""

    answer_id: int


class IgnoreReason(Enum):
    NOT_ADDRESSED = "the message does not mention the bot"
    THREAD_NOT_UNDER_ANSWER = "a thread reply not under a model answer and without a mention"


@dataclass(frozen=True, slots=True)
class Ignore:
    reason: IgnoreReason


Route = StartRound | ContinueThread | Ignore


def route_message(message: IncomingMessage, parent_answer_id: int | None) -> Route:
    """Decide what a person's message asks for.

    `parent_answer_id` is the answer whose Slack message is this message's thread parent, if any.
    """
    addressed = message.is_direct or message.mentions_bot
    if message.is_top_level:
        if addressed:
            return StartRound(ChatKey(message.team_id, message.channel_id))
        return Ignore(IgnoreReason.NOT_ADDRESSED)
    if parent_answer_id is not None:
        return ContinueThread(parent_answer_id)
    if addressed:
        return StartRound(ChatKey(message.team_id, message.channel_id, message.thread_ts or ""))
    return Ignore(IgnoreReason.THREAD_NOT_UNDER_ANSWER)
