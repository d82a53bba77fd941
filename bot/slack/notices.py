"""Notes only one person sees (ephemeral messages): help, a bad `+alias`, what went wrong."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from slack_sdk.errors import SlackApiError

from bot.chat.routing import IncomingMessage
from bot.slack.slack_errors import slack_error_code
from bot.slack.web import SlackWeb

log = logging.getLogger(__name__)


def something_went_wrong(doing: str) -> str:
    """What a person is told when what they asked for failed on the bot's side (logged)."""
    return f"Sorry, something went wrong on my side {doing}; please try again."


# Why Slack refuses a note in a channel where the person can still be told in a DM: what is
# wrong is the bot's place in the channel, the very thing notes there explain.
_NO_NOTES_THERE = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "posting_to_general_channel_denied",
    }
)


class Notices:
    """Tells one person something, where they are or else in a DM; Slack refusing the note is
    only logged (a note is never worth failing the work it is about)."""

    def __init__(self, web: SlackWeb) -> None:
        self._web = web

    async def tell(
        self, channel_id: str, user_id: str, text: str, *, thread_ts: str | None = None
    ) -> None:
        try:
            await self._web.tell(channel_id, user_id, text, thread_ts=thread_ts)
        except SlackApiError as error:
            code = slack_error_code(error)
            if code not in _NO_NOTES_THERE or channel_id.startswith("D"):
                log.warning("could not tell %s: %s", user_id, code)
                return
            log.info("could not tell %s in %s (%s): told directly", user_id, channel_id, code)
            await self._tell_directly(user_id, f"In <#{channel_id}>: {text}")

    async def _tell_directly(self, user_id: str, text: str) -> None:
        try:
            await self._web.tell_directly(user_id, text)
        except SlackApiError as error:
            log.warning("could not tell %s directly: %s", user_id, slack_error_code(error))

    async def tell_author(self, message: IncomingMessage, text: str) -> None:
        """Tell the person who wrote `message`, where they wrote it."""
        await self.tell(message.channel_id, message.user_id, text, thread_ts=message.thread_ts)

    @asynccontextmanager
    async def apologising(
        self, channel_id: str, user_id: str, doing: str, *, thread_ts: str | None = None
    ) -> AsyncIterator[None]:
        """Work a person asked for (`doing`: "while regenerating that answer"): when it fails,
        the failure is logged and they are told, not left waiting for what will not come."""
        try:
            yield
        except Exception:
            log.exception("failed %s, for %s in %s", doing, user_id, channel_id)
            text = something_went_wrong(doing)
            await self.tell(channel_id, user_id, text, thread_ts=thread_ts)
