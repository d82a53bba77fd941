"""The In Chat mark under answers: drawn again when their round's In Chat answer changes."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError

from bot.chat.catalog import ModelCatalog
from bot.slack.answer_message import model_identity, show_again
from bot.slack.rendering import SlackMessage, outcome_messages
from bot.slack.slack_errors import slack_error_code
from bot.slack.web import SlackWeb
from storage.answers import AnswerStore
from storage.rows import SettledAnswer

log = logging.getLogger(__name__)

# Times a mark is checked again after it was drawn; more only under a storm of pushpins.
_CHECKS = 3


def settled_messages(display_name: str, answer: SettledAnswer) -> list[SlackMessage]:
    """A stored settled answer as its messages show it."""
    return outcome_messages(
        display_name,
        status=answer.status,
        text=answer.text,
        error=answer.error,
        seconds=answer.seconds,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        in_chat=answer.in_chat,
    )


class InChatMarks:
    """Draws answers' messages again when the mark they should show changed."""

    def __init__(self, answers: AnswerStore, web: SlackWeb, catalog: ModelCatalog) -> None:
        self._answers = answers
        self._web = web
        self._catalog = catalog

    async def answer_shown(self, answer_id: int, continuation_ts: Sequence[str] = ()) -> None:
        """Record the answer's end as shown (or as having nowhere to be shown), and draw the
        marks its round's answers are now to show."""
        await self.show(await self._answers.shown(answer_id, continuation_ts))

    async def show(self, owed: list[SettledAnswer]) -> None:
        """Draw each answer's message with the mark it is to show. Another replica may change a
        mark meanwhile, and its edit reach Slack before this one: each drawn answer is read
        again afterwards, and drawn again if it no longer reads as drawn."""
        for _ in range(_CHECKS):
            if not owed:
                return
            for answer in owed:
                await self._draw(answer)
            now = await self._answers.current_marks([answer.answer_id for answer in owed])
            owed = [now[a.answer_id] for a in owed if now.get(a.answer_id, a) != a]
        if owed:
            log.warning("In Chat marks of answers %s still changing", [a.answer_id for a in owed])

    async def _draw(self, answer: SettledAnswer) -> None:
        if answer.slack_ts is None:
            return
        spec = self._catalog.get(answer.model)
        first, *_ = settled_messages(spec.display_name, answer)
        try:
            await show_again(
                self._web,
                answer_id=answer.answer_id,
                channel=answer.channel_id,
                ts=answer.slack_ts,
                identity=model_identity(spec),
                message=first,
            )
        except SlackApiError as error:
            log.warning(
                "the In Chat mark of answer %s in %s could not be %s: %s",
                answer.answer_id,
                answer.channel_id,
                "shown" if answer.in_chat else "taken off",
                slack_error_code(error),
            )
        else:
            log.info(
                "answer %s in %s is %s In Chat",
                answer.answer_id,
                answer.channel_id,
                "now" if answer.in_chat else "no longer",
            )
