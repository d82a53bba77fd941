"""The App Home tab (SPEC §2.4): how to use the bot, how this workspace has configured it, and
how much each model has been used lately."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.chat.catalog import CatalogError, ModelCatalog
from bot.chat.commands import help_text
from bot.chat.context import ContextWindow
from bot.slack.rendering import block_quote
from bot.slack.slack_errors import slack_error_code
from bot.slack.web import SlackWeb
from storage.usage import ModelUsage, UsageStore

log = logging.getLogger(__name__)

SECTION_TEXT_LIMIT = 3000  # Slack refuses a longer section text
USAGE_DAYS = 30
# Slack sends `app_home_opened` each time anyone opens the app; the usage they see may be this
# old, so that a crowd opening it reads the answers of 30 days once.
USAGE_FRESH_SECONDS = 60.0
CONTEXT_RULES = (
    "*What each model is sent*\n"
    "• A new mention: each earlier question of this chat and its *In Chat* answer (marked "
    ":pushpin: In Chat under it: the first model's, or if that one did not finish the first "
    "that did, unless someone put :pushpin: on another one), then your message.\n"
    "• A reply in the thread under one answer: the chat before that answer's question, the "
    "question itself, that answer and the thread so far.\n"
    "• Never sent: what is said in threads (to the chat or other threads), the answers that are "
    "not In Chat (except each to the thread under it), messages not addressed to me, deleted "
    "messages, other channels."
)


@dataclass(frozen=True, slots=True)
class HomeSettings:
    """The configuration the Home tab shows; never a secret or an address."""

    system_prompt: str
    window: ContextWindow
    storage: str  # "SQLite" or "PostgreSQL"
    forget_after_days: float | None = None


def home_view(
    catalog: ModelCatalog, settings: HomeSettings, usage: Sequence[ModelUsage] = ()
) -> dict[str, Any]:
    """The `home` view published to whoever opens the tab (it is the same for all)."""
    models = "\n".join(
        f"• *{spec.display_name}*: `+{catalog.alias_of(spec)}` (`{spec.name}`)" for spec in catalog
    )
    rounds = settings.window.max_rounds
    configuration = (
        f"• Models are sent up to {_counted(rounds, 'earlier question')} and "
        f"{'its answer' if rounds == 1 else 'their answers'}, "
        f"about {settings.window.max_tokens:,} tokens at most.\n"
        f"• Conversations are stored in {settings.storage}{_kept_for(settings)}.\n"
        f"• System prompt:\n{block_quote(settings.system_prompt)}"
    )
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Chorus"}},
            _section(help_text(tuple(catalog.aliases), place=None)),
            {"type": "divider"},
            _section(f"*Models answering by default*\n{models}"),
            _section(CONTEXT_RULES),
            {"type": "divider"},
            _section(f"*Usage in the last {USAGE_DAYS} days*\n{usage_lines(catalog, usage)}"),
            _section(f"*Configuration*\n{configuration}"),
        ],
    }


def _kept_for(settings: HomeSettings) -> str:
    days = settings.forget_after_days
    return "" if days is None else f"; what is said is forgotten after {_counted(days, 'day')}"


def usage_lines(catalog: ModelCatalog, usage: Sequence[ModelUsage]) -> str:
    """One line per model: answers (and failures), tokens when reported, average time."""
    if not usage:
        return "No answers yet."
    return "\n".join(f"• *{_display_name(catalog, used.model)}*: {_usage(used)}" for used in usage)


def _usage(used: ModelUsage) -> str:
    parts = [_counted(used.answers, "answer")]
    if used.failed:
        parts[0] += f" ({used.failed:,} failed)"
    if used.input_tokens or used.output_tokens:
        parts.append(f"{used.input_tokens:,} tokens in, {used.output_tokens:,} out")
    if used.average_seconds is not None:
        parts.append(f"{used.average_seconds:.1f} s on average")
    return ", ".join(parts)


def _counted(number: float, thing: str) -> str:
    """`1 answer`, `2 answers`, `1,204 answers`, `0.5 days`."""
    shown = f"{int(number):,}" if float(number).is_integer() else f"{number:g}"
    return f"{shown} {thing}{'' if number == 1 else 's'}"


def _display_name(catalog: ModelCatalog, model: str) -> str:
    try:
        return catalog.get(model).display_name
    except CatalogError:  # a provider this version no longer knows
        return model


class HomeTab:
    """Publishes the Home tab, with the latest usage, when someone opens it."""

    def __init__(
        self,
        web: SlackWeb,
        catalog: ModelCatalog,
        settings: HomeSettings,
        usage: UsageStore,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._web = web
        self._catalog = catalog
        self._settings = settings
        self._usage = usage
        self._usage_read: asyncio.Task[list[ModelUsage]] | None = None
        self._usage_read_at = 0.0
        self._clock = clock

    async def show(self, user_id: str) -> None:
        view = home_view(self._catalog, self._settings, await self._recent_usage())
        try:
            await self._web.publish_home(user_id, view)
        except SlackApiError as error:
            log.warning(
                "could not publish the Home tab for %s: %s", user_id, slack_error_code(error)
            )

    async def _recent_usage(self) -> list[ModelUsage]:
        """The usage of the last `USAGE_DAYS` days, read again once it is `USAGE_FRESH_SECONDS`
        old or the last read failed; openings meanwhile share it."""
        read = self._usage_read
        if (
            read is None
            or self._clock() - self._usage_read_at >= USAGE_FRESH_SECONDS
            or (read.done() and (read.cancelled() or read.exception() is not None))
        ):
            since = time.time() - USAGE_DAYS * 24 * 3600
            read = asyncio.create_task(self._usage.by_model(since=since), name="Home tab usage")
            self._usage_read, self._usage_read_at = read, self._clock()
        # One opening given up (at shutdown) leaves the read to the others.
        return await asyncio.shield(read)


def _section(text: str) -> dict[str, Any]:
    if len(text) > SECTION_TEXT_LIMIT:
        text = text[: SECTION_TEXT_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
