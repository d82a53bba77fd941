"""`/chorus` commands: a fresh chat, the channel's models and prompt, help."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.chat.catalog import ModelCatalog, ModelSpec
from bot.chat.commands import (
    Help,
    NewChat,
    SetModels,
    SetPrompt,
    ShowModels,
    ShowPrompt,
    UseDefaultModels,
    help_text,
    parse_command,
)
from bot.chat.model_choice import UnknownModels, resolve_picks
from bot.chat.quoting import quoted
from bot.chat.routing import ChatKey
from bot.slack.notices import something_went_wrong
from bot.slack.rendering import block_quote
from storage.channels import ChannelStore
from storage.conversations import ConversationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandReply:
    text: str
    public: bool = False  # shown to the whole channel, not only to the person


class ChorusCommands:
    def __init__(
        self, catalog: ModelCatalog, channels: ChannelStore, chats: ConversationStore
    ) -> None:
        self._catalog = catalog
        self._channels = channels
        self._chats = chats

    async def run(
        self, *, team_id: str, channel_id: str, user_id: str, text: str, place: str = "channel"
    ) -> CommandReply:
        """Carry out `/chorus text`; `place` is what it was run in (`channel`, `DM`…), as the
        reply names it. A failure on the bot's side (logged) is the reply, not Slack's own
        "failed with the error" line."""
        try:
            return await self._carry_out(team_id, channel_id, user_id, text, place)
        except Exception:
            log.exception("/chorus %s in %s failed", _command_name(text), channel_id)
            return CommandReply(something_went_wrong(f"with {quoted('/chorus ' + text)}"))

    async def _carry_out(
        self, team_id: str, channel_id: str, user_id: str, text: str, place: str
    ) -> CommandReply:
        command = parse_command(text)
        if isinstance(command, NewChat):
            await self._chats.start_new_chat(ChatKey(team_id, channel_id))
            _changed("new chat started", channel_id, user_id)
            return CommandReply(
                f"<@{user_id}> started a new chat: earlier messages here are no longer sent to "
                "the models.",
                public=True,
            )
        if isinstance(command, ShowModels):
            return CommandReply(await self._describe_models(team_id, channel_id, place))
        if isinstance(command, SetModels):
            return await self._set_models(team_id, channel_id, user_id, command.words, place)
        if isinstance(command, UseDefaultModels):
            await self._channels.set_models(team_id, channel_id, [], set_by=user_id)
            _changed("models set to the default", channel_id, user_id)
            listed = self._list(list(self._catalog))
            told = f"<@{user_id}> set this {place} to the default models: {listed}."
            return CommandReply(told, public=True)
        if isinstance(command, ShowPrompt | SetPrompt):
            return await self._prompt(command, channel_id, user_id, place)
        assert isinstance(command, Help)
        intro = f"I don't know {quoted('/chorus ' + command.unknown)}.\n" if command.unknown else ""
        return CommandReply(intro + help_text(tuple(self._catalog.aliases), place))

    async def _set_models(
        self, team_id: str, channel_id: str, user_id: str, words: tuple[str, ...], place: str
    ) -> CommandReply:
        """The list named replaces the channel's; the reply says which models it drops, and how
        to add or leave out a model, as `+llama` or `-llama` might have been meant to."""
        before = await self._current_models(team_id, channel_id)
        try:
            chosen = resolve_picks(self._catalog, [word.lstrip("+") for word in words])
        except UnknownModels as unknown:
            as_written = tuple(word for word in words if word.lstrip("+") in unknown.words)
            told = UnknownModels(as_written, unknown.valid_aliases).explained(marker="")
            told += f" This {place}'s models are unchanged."
            left_out = [self._catalog.find(word[1:]) for word in as_written if word[:1] == "-"]
            kept = [spec for spec in before if spec not in left_out]
            if 0 < len(kept) < len(before):
                told += f" To leave a model out, list the ones to keep: {self._command(kept)}."
            return CommandReply(told)
        names = [spec.name for spec in chosen]
        await self._channels.set_models(team_id, channel_id, names, set_by=user_id)
        _changed(f"models set to {', '.join(names)}", channel_id, user_id)
        told = f"<@{user_id}> set this {place}'s models: {self._list(chosen)}."
        dropped = [spec for spec in before if spec not in chosen]
        if dropped:
            told += f" No longer answering here: {self._list(dropped)}."
        if dropped and any(word.startswith("+") for word in words):
            added = before + [spec for spec in chosen if spec not in before]
            told += f" To add a model, list them all: {self._command(added)}."
        return CommandReply(told, public=True)

    async def _prompt(
        self, command: ShowPrompt | SetPrompt, channel_id: str, user_id: str, place: str
    ) -> CommandReply:
        if isinstance(command, ShowPrompt) or command.text is None:
            prompt = await self._channels.prompt(channel_id)
            if prompt is None:  # nothing to show, nor to tell everyone was removed
                return CommandReply(f"This {place} has no prompt of its own.")
            if isinstance(command, ShowPrompt):
                return CommandReply(f"This {place}'s prompt:\n{block_quote(prompt)}")
        await self._channels.set_prompt(channel_id, command.text, set_by=user_id)
        _changed("prompt removed" if command.text is None else "prompt set", channel_id, user_id)
        if command.text is None:
            return CommandReply(f"<@{user_id}> removed this {place}'s prompt.", public=True)
        told = f"<@{user_id}> set this {place}'s prompt for the models:"
        return CommandReply(f"{told}\n{block_quote(command.text)}", public=True)

    async def _describe_models(self, team_id: str, channel_id: str, place: str) -> str:
        own = await self._own_models(team_id, channel_id)
        where = "its own list" if own else "the workspace default"
        listed = self._list(own or list(self._catalog))
        return f"Models in this {place} ({where}): {listed}."

    async def _own_models(self, team_id: str, channel_id: str) -> list[ModelSpec]:
        """The channel's own list (those of its models still configured); empty without one."""
        names = await self._channels.models(team_id, channel_id)
        return [spec for name in names or [] if (spec := self._catalog.find(name))]

    async def _current_models(self, team_id: str, channel_id: str) -> list[ModelSpec]:
        return await self._own_models(team_id, channel_id) or list(self._catalog)

    def _list(self, specs: list[ModelSpec]) -> str:
        return ", ".join(
            f"{spec.display_name} (`+{self._catalog.alias_of(spec)}`)" for spec in specs
        )

    def _command(self, specs: list[ModelSpec]) -> str:
        """`/chorus models …` that makes `specs` the list, as a person would write it."""
        return f"`/chorus models {' '.join(self._catalog.alias_of(spec) for spec in specs)}`"


def _changed(change: str, channel_id: str, user_id: str) -> None:
    """One line for the log: who changed what a channel's models are sent or who answers
    (never the prompt itself: it is what someone wrote)."""
    log.info("%s in %s by %s", change, channel_id, user_id)


def _command_name(text: str) -> str:
    """The command's name, for the log: what follows it (a prompt) is what people said, and
    so is a word that is no command."""
    verb = (text.split(maxsplit=1) or ["help"])[0].lower()
    return verb if verb in ("new", "models", "prompt", "help") else "(not a command)"
