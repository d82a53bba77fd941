"""What each model is sent: the Chorus context rules (SPEC §3), on plain data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.chat.messages import ChatMessage, ModelRequest

# What every model is told first, whatever the workspace and channel add: how the messages it
# is sent are written, and what Slack shows well (no tables or rules in a Slack message).
BASE_SYSTEM_PROMPT = (
    "You are one of several AI models answering side by side in a Slack conversation. "
    "Messages from people start with their name. Answer clearly and concisely; use Markdown "
    "sparingly (short paragraphs, lists, fenced code blocks; no tables or horizontal rules); "
    "do not ping people or channels."
)


@dataclass(frozen=True, slots=True)
class ContextWindow:
    """How much history a model gets: a maximum number of exchanges and a token budget."""

    max_rounds: int = 50
    max_tokens: int = 100_000


@dataclass(frozen=True, slots=True)
class ContextRound:
    """An earlier round as later models see it: its user message and its In Chat answer."""

    round_id: int
    user: str
    in_chat_answer: str | None

    def messages(self) -> list[ChatMessage]:
        return _exchange(self.user, self.in_chat_answer)


@dataclass(frozen=True, slots=True)
class ThreadTurn:
    """An earlier turn of a reply thread: a person's message and the thread model's reply."""

    user: str
    reply: str | None

    def messages(self) -> list[ChatMessage]:
        return _exchange(self.user, self.reply)


def _exchange(user: str, answer: str | None) -> list[ChatMessage]:
    """A person's message and the answer to it. An answer of blank text (one stopped or cut off
    after a line break) sends no assistant turn: Anthropic rejects a blank turn with a 400."""
    turns = [ChatMessage("user", user)]
    if answer and not answer.isspace():
        turns.append(ChatMessage("assistant", answer))
    return turns


EMPTIED_MESSAGE = "(no text)"


def authored(author: str, text: str) -> str:
    """A person's message as models see it: prefixed by the author's display name. (A message
    with no text left is one edited down to the bot's mention.)"""
    return f"{author}: {text or EMPTIED_MESSAGE}"


def compose_system_prompt(*parts: str | None) -> str:
    """Base, workspace and channel prompts, in that order, skipping the empty ones (SPEC §3)."""
    return "\n\n".join(part.strip() for part in parts if part and part.strip())


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """A provider-neutral estimate: about four characters a token for English and code, plus
    framing per turn. Other scripts take far more: Chinese or Japanese about a token a
    character, so each byte a character takes beyond the first counts half a token."""
    return sum(_text_tokens(message.content) + 4 for message in messages)


def _text_tokens(text: str) -> int:
    extra_bytes = len(text.encode("utf-8", "surrogatepass")) - len(text)
    return (len(text) + 2 * extra_bytes) // 4


def build_round_context(
    system: str, earlier_rounds: Sequence[ContextRound], new_message: str, window: ContextWindow
) -> ModelRequest:
    """Context for a new round: earlier rounds (oldest first, In Chat answers only), then the
    new message. The oldest rounds drop first to fit the window; the new message never does."""
    new_turn = [ChatMessage("user", new_message)]
    history = _flatten(
        _fit(
            [round_.messages() for round_ in earlier_rounds],
            window,
            reserved=estimate_tokens([*new_turn, ChatMessage("user", system)]),
        )
    )
    return ModelRequest(
        system,
        tuple(history + new_turn),
        within=lambda max_tokens: build_round_context(
            system, earlier_rounds, new_message, replace(window, max_tokens=max_tokens)
        ),
    )


def build_thread_context(
    system: str,
    snapshot: Sequence[ContextRound],
    anchor_user: str,
    anchor_answer: str,
    earlier_turns: Sequence[ThreadTurn],
    new_message: str,
    window: ContextWindow,
) -> ModelRequest:
    """Context for a turn in the reply thread under an answer.

    The chat's earlier rounds as they were when the thread started, then the round's user
    message and the answer the thread hangs under, then the thread's own turns, then the new
    message. To fit the window the snapshot drops first (oldest first), then the oldest turns.
    """
    anchor = ContextRound(0, anchor_user, anchor_answer or None).messages()
    new_turn = [ChatMessage("user", new_message)]
    reserved = estimate_tokens([*anchor, *new_turn, ChatMessage("user", system)])
    groups = [round_.messages() for round_ in snapshot] + [
        turn.messages() for turn in earlier_turns
    ]
    kept = _fit(groups, window, reserved=reserved)
    # The kept groups are the newest ones; the thread turns are the newest of all.
    turns_kept = min(len(earlier_turns), len(kept))
    snapshot_part = _flatten(kept[: len(kept) - turns_kept])
    turns_part = _flatten(kept[len(kept) - turns_kept :])
    return ModelRequest(
        system,
        tuple(snapshot_part + anchor + turns_part + new_turn),
        within=lambda max_tokens: build_thread_context(
            system,
            snapshot,
            anchor_user,
            anchor_answer,
            earlier_turns,
            new_message,
            replace(window, max_tokens=max_tokens),
        ),
    )


# How much of the context a model said it holds a request shortened for it is built to fill:
# the estimate of tokens is not the model's own count.
_SHORTENED_SHARE = 0.9


def shortened(request: ModelRequest, limit: int | None, sent: int | None) -> ModelRequest | None:
    """`request` with its oldest history left out (by the window's rules: never the new
    message, nor the answer a thread hangs under), for a model that refused it as longer than
    its context: `limit` tokens where `sent` were sent, when it said; else half as long. None
    when nothing more can be left out."""
    if request.within is None:
        return None
    share = min(limit / sent, 1.0) if limit and sent else 0.5
    tokens = estimate_tokens([*request.messages, ChatMessage("user", request.system)])
    shorter = request.within(int(tokens * share * _SHORTENED_SHARE))
    return shorter if len(shorter.messages) < len(request.messages) else None


def _fit(
    groups: Sequence[list[ChatMessage]], window: ContextWindow, *, reserved: int
) -> list[list[ChatMessage]]:
    """The newest groups that fit both the round limit and the token budget, oldest first."""
    budget = window.max_tokens - reserved
    kept: list[list[ChatMessage]] = []
    for group in reversed(groups):
        cost = estimate_tokens(group)
        if len(kept) >= window.max_rounds or cost > budget:
            break
        budget -= cost
        kept.append(group)
    kept.reverse()
    return kept


def _flatten(groups: Sequence[list[ChatMessage]]) -> list[ChatMessage]:
    return [message for group in groups for message in group]
