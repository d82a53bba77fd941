"""Which models answer: the default list, or the `+alias` words that lead a message (SPEC §2.3)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.chat.catalog import ModelCatalog, ModelSpec
from bot.chat.quoting import quoted

# An alias starts with a letter: "+1 nice" is a person agreeing, not a pick. Punctuation after
# it is the sentence's, not the alias's: `+claude, +gpt hi`, `+claude: why?`, `+gpt-5.1.`
# The word runs to a space or the next `+`, and its trailing punctuation is peeled off after
# the match: a pattern that left it to backtracking would retry a long run of dots from every
# dot in it (a 40 KB message took 20 s, holding up every other message and answer).
_LEADING_WORD = re.compile(r"\s*\+([^\W\d_][^\s+]*)")
_ALIAS = re.compile(r"[\w.:/-]*")
_SENTENCE_PUNCTUATION = ".,:;!?"


_WORDS_NAMED = 5  # unknown words quoted back at most


@dataclass(frozen=True, slots=True)
class ModelPicks:
    """The `+alias` words that led a message, and the text after them."""

    words: tuple[str, ...]
    text: str


@dataclass  # not frozen: raising sets attributes on an exception (its __traceback__)
class UnknownModels(Exception):
    """Some `+alias` words name no configured model."""

    words: tuple[str, ...]
    valid_aliases: tuple[str, ...]

    def __str__(self) -> str:
        return self.explained(marker="+")

    def explained(self, *, marker: str) -> str:
        """What the person is told, the words written as they are picked where they were
        (`+claude` in a message, `claude` after `/chorus models`)."""
        words = list(dict.fromkeys(self.words))
        unknown = ", ".join(quoted(f"{marker}{word}") for word in words[:_WORDS_NAMED])
        if len(words) > _WORDS_NAMED:
            unknown += f" and {len(words) - _WORDS_NAMED} more"
        valid = ", ".join(f"`{marker}{alias}`" for alias in self.valid_aliases)
        return f"I don't know {unknown}. Models you can pick: {valid}."

    def in_a_message(self) -> str:
        """What the author of a message picking an unknown model is told: no model was asked."""
        return (
            f"{self.explained(marker='+')} Nothing was asked: send your message again with "
            "models from that list (an edit asks nothing)."
        )


def split_model_picks(text: str) -> ModelPicks:
    """Peel leading `+alias` words off a message: `+claude +gpt why?` → (claude, gpt), `why?`."""
    words: list[str] = []
    position = 0
    while match := _LEADING_WORD.match(text, position):
        word = match.group(1).rstrip(_SENTENCE_PUNCTUATION)
        if not _ALIAS.fullmatch(word):
            break  # `+claude's idea`: a word, not a pick
        words.append(word)
        position = match.end()
    return ModelPicks(tuple(words), text[position:].strip())


def resolve_picks(catalog: ModelCatalog, words: Sequence[str]) -> list[ModelSpec]:
    """The models named by `words`, in the order given, without repeats; raises `UnknownModels`."""
    unknown = tuple(word for word in words if catalog.find(word) is None)
    if unknown:
        raise UnknownModels(unknown, tuple(catalog.aliases))
    chosen: list[ModelSpec] = []
    for word in words:
        spec = catalog.find(word)
        if spec is not None and spec not in chosen:
            chosen.append(spec)
    return chosen


def models_for_round(
    catalog: ModelCatalog, picks: ModelPicks, channel_models: Sequence[str] | None = None
) -> list[ModelSpec]:
    """The models that answer a new round: the picked ones, else the channel's own list (those
    of its models still configured), else every configured model."""
    if picks.words:
        return resolve_picks(catalog, picks.words)
    if channel_models:
        chosen = [spec for name in channel_models if (spec := catalog.find(name)) is not None]
        if chosen:
            return chosen
    return list(catalog)


@dataclass(frozen=True, slots=True)
class ThreadHandover:
    """Whom a thread turn's leading `+alias` words hand the reply thread to: the first model
    they name. A thread goes on with one model, so any others named are not asked."""

    model: ModelSpec
    not_asked: tuple[ModelSpec, ...] = ()

    def note(self, *, had: str | None = None) -> str:
        """What the person is told of the handover; `had`: the model (its name) the thread
        had before, when known."""
        model = f"*{self.model.display_name}*"
        answers = (
            f"{model} answers in this thread already"
            if had == self.model.name
            else f"from now on {model} answers in this thread"
        )
        if not self.not_asked:
            return f"{answers[0].upper()}{answers[1:]}."
        others = " or ".join(f"*{spec.display_name}*" for spec in self.not_asked)
        return (
            f"A thread goes on with one model: {answers}, not {others}. To ask several models "
            "at once, ask me outside this thread."
        )


def thread_handed_to(catalog: ModelCatalog, picks: ModelPicks) -> ThreadHandover | None:
    """The handover a thread turn's leading `+alias` words make, None without any; raises
    `UnknownModels`."""
    if not picks.words:
        return None
    first, *others = resolve_picks(catalog, picks.words)
    return ThreadHandover(first, tuple(others))


def picks_without_question(catalog: ModelCatalog, chosen: Sequence[ModelSpec]) -> str:
    """The note to a person whose new message picked models with `+alias` but asked nothing."""
    aliases = [catalog.alias_of(spec) for spec in chosen]
    picks = " ".join(f"+{alias}" for alias in aliases)
    return (
        f"Ask your question after `{picks}` in a new message (an edit asks nothing). To have "
        f"only {'this model' if len(aliases) == 1 else 'these models'} answer here from now "
        f"on: `/chorus models {' '.join(aliases)}`."
    )
