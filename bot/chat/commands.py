"""`/chorus …` commands, parsed (SPEC §2.3, §2.4)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NewChat:
    """`/chorus new`: later rounds no longer see the earlier ones."""


@dataclass(frozen=True, slots=True)
class ShowModels:
    """`/chorus models`: which models answer in this channel."""


@dataclass(frozen=True, slots=True)
class SetModels:
    """`/chorus models claude gpt`: this channel's own list, the words as written (`+gpt` is
    taken as `gpt`)."""

    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UseDefaultModels:
    """`/chorus models default`: the channel's own list is dropped for the workspace default."""


@dataclass(frozen=True, slots=True)
class ShowPrompt:
    """`/chorus prompt`: this channel's own system prompt."""


@dataclass(frozen=True, slots=True)
class SetPrompt:
    """`/chorus prompt Answer in French.`: this channel's prompt, sent after the workspace's
    (`/chorus prompt clear` removes it: `text` is None)."""

    text: str | None


@dataclass(frozen=True, slots=True)
class Help:
    """`/chorus help`, or anything not understood (`unknown` holds it)."""

    unknown: str = ""


Command = NewChat | ShowModels | SetModels | UseDefaultModels | ShowPrompt | SetPrompt | Help


def parse_command(text: str) -> Command:
    # The verb ends at any space: a prompt pasted on the lines after `prompt` is one too.
    verb, *rest = text.split(maxsplit=1) or [""]
    if verb.lower() == "prompt":  # the rest is free text, kept as written
        prompt = "".join(rest).strip()
        if not prompt:
            return ShowPrompt()
        return SetPrompt(None if prompt.lower() == "clear" else prompt)
    words = text.replace(",", " ").split()
    if not words:
        return Help()
    verb, arguments = words[0].lower(), tuple(words[1:])
    if verb == "new" and not arguments:
        return NewChat()
    if verb == "models":
        lowered = [word.lstrip("+").lower() for word in arguments]
        if lowered == ["default"]:
            return UseDefaultModels()
        if "default" in lowered:
            return Help(unknown=text.strip())  # `default` goes alone
        return SetModels(arguments) if arguments else ShowModels()
    if verb == "help" and not arguments:
        return Help()
    return Help(unknown=text.strip())


def asks_for_help(text: str) -> bool:
    """A new message that says only `help` (`@Chorus help?`): a person asking how the bot
    works, not a question for the models."""
    return text.strip().rstrip("?!. ").lower() == "help"


def help_text(aliases: tuple[str, ...], place: str | None = "channel") -> str:
    """What the bot does and how to drive it, in a few lines; `place` is what the person is
    in (`channel`, `DM`…), or None where they are in none (the Home tab)."""
    this = f"this {place}" if place else "a channel"
    picks = ", ".join(f"`+{alias}`" for alias in aliases)
    example = " ".join(aliases[:2]) or "claude gpt"
    return (
        "Mention me with a question (in a direct message with me, just write it) and each of "
        f"{this}'s models answers in its own message. "
        "Reply in the thread under one answer to continue with that model only.\n"
        f"• Start a message with {picks or '`+alias`'} to pick the models for that message; "
        "in a thread under an answer, it hands the thread to that model from then on (an alias "
        "alone asks nothing yet).\n"
        f"• `/chorus models` shows {this}'s models; `/chorus models {example}` sets "
        "them; `/chorus models default` goes back to the workspace default.\n"
        "• `/chorus new` starts a fresh chat: earlier messages are no longer sent to the models.\n"
        f"• `/chorus prompt Answer in French.` gives {this} its own instructions for the "
        "models; `/chorus prompt` shows them, `/chorus prompt clear` removes them.\n"
        "• *Stop* under an answer stops that model; *Regenerate* writes one of the latest "
        "answers again. A :pushpin: on an answer to the latest message makes it *In Chat*: the "
        "answer the models see in later messages, marked :pushpin: In Chat under it."
    )
