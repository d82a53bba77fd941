"""The messages a model is sent, independent of any provider's wire format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation as a model sees it."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """Everything one model call needs: the system prompt and the turns, oldest first."""

    system: str
    messages: tuple[ChatMessage, ...]
    # The same request built within a token budget of the context's (`shortened`); None for
    # one that has no history to leave out.
    within: Callable[[int], ModelRequest] | None = field(default=None, compare=False, repr=False)


# A request that can only be built later (a thread turn waiting for the answers before it).
PendingRequest = Callable[[], Awaitable[ModelRequest]]


class MessageWithdrawn(Exception):
    """The message to answer was deleted while its answer waited: nothing is sent."""

    def __init__(self) -> None:
        super().__init__("The message this answers was deleted before it could be answered.")
