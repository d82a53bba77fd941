"""The error a Slack Web API method answers with: HTTP 200 and {"ok": false, "error": code}."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """A method refused the call; `code` is Slack's error string, `errors` its detail lines."""

    def __init__(self, code: str, errors: list[str] | None = None) -> None:
        super().__init__(code if not errors else f"{code}: {'; '.join(errors)}")
        self.code = code
        self.errors = errors or []

    def as_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.code}
        if self.errors:
            body["errors"] = self.errors
            body["response_metadata"] = {"messages": [f"[ERROR] {line}" for line in self.errors]}
        return body
