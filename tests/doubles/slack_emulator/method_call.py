"""What a Web API method handler receives: the call's parameters and the workspace."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.doubles.slack_emulator.errors import SlackError
from tests.doubles.slack_emulator.workspace import SlackWorkspace

TRUE_VALUES = (True, 1, "1", "true", "True")


@dataclass
class MethodCall:
    """One call's parameters (query, form and JSON merged; JSON-valued fields decoded)."""

    params: dict[str, Any]
    workspace: SlackWorkspace
    base_url: str

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return None if value is None or value == "" else str(value)

    def required(self, name: str, error: str = "invalid_arguments") -> str:
        value = self.text(name)
        if value is None:
            raise SlackError(error)
        return value

    def integer(self, name: str, default: int) -> int:
        value = self.params.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None

    def flag(self, name: str) -> bool:
        return self.params.get(name) in TRUE_VALUES

    def value(self, name: str) -> Any:
        return self.params.get(name)


Handler = Callable[[MethodCall], dict[str, Any]]
