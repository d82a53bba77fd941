"""Notes only one person sees (ephemeral messages): help, a bad `+alias`, what went wrong."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.chat.routing import IncomingMessage
from bot.slack.web import SlackWeb, slack_error_code

log = logging.getLogger(__name__)


class Notices:
    """Tells one person something; Slack refusing the note is only logged (a note is never
    worth failing the work it is about)."""

    def __init__(self, web: SlackWeb) -> None:
        self._web = web

    async def tell(
        self, channel_id: str, user_id: str, text: str, *, thread_ts: str | None = None
    ) -> None:
        try:
            await self._web.tell(channel_id, user_id, text, thread_ts=thread_ts)
        except SlackApiError as error:
            log.warning("could not tell %s: %s", user_id, slack_error_code(error))

    async def tell_author(self, message: IncomingMessage, text: str) -> None:
        """Tell the person who wrote `message`, where they wrote it."""
        await self.tell(message.channel_id, message.user_id, text, thread_ts=message.thread_ts)
