"""A request a fake model received, readable the same way whatever the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.doubles.model_servers.wire import ConversationReader, Turn


@dataclass(frozen=True)
class RecordedRequest:
    """What one model was sent: route, headers, the full JSON body, and when (monotonic s)."""

    provider: str
    model: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    at: float
    reader: ConversationReader = field(repr=False, compare=False)
    client_port: int | None = None  # the connection it came on (a kept-alive one is reused)
    request_id: str | None = None  # the id its answer's headers gave it, as the provider's do

    def system_prompt(self) -> str | None:
        """The system prompt, however the provider carries it (None when there is none)."""
        return self.reader.system_prompt(self.body)

    def turns(self) -> list[Turn]:
        """The conversation as (role, text) pairs, role "user" or "assistant", oldest first."""
        return self.reader.turns(self.body)

    def last_user_text(self) -> str:
        user_texts = [text for role, text in self.turns() if role == "user"]
        return user_texts[-1] if user_texts else ""

    def prompt_chars(self) -> int:
        """Characters of prompt text sent, the basis of the default input token count."""
        return len(self.system_prompt() or "") + sum(len(text) for _, text in self.turns())
