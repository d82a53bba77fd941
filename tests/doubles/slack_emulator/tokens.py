"""Which token a Web API method takes: app-level tokens (`xapp-`) only open Socket Mode
connections; bot and user tokens (`xoxb-`, `xoxp-`) call everything else."""

from __future__ import annotations

from tests.doubles.slack_emulator.errors import SlackError

APP_TOKEN_PREFIX = "xapp-"


def is_app_token(token: str) -> bool:
    return token.startswith(APP_TOKEN_PREFIX)


def token_error(token: str | None, expected: str) -> SlackError | None:
    """Slack's refusal of `token` for a method only `expected` may call, or None if it may."""
    if not token:
        return SlackError("not_authed")
    if token == expected:
        return None
    if is_app_token(token) != is_app_token(expected):
        return SlackError("not_allowed_token_type")
    return SlackError("invalid_auth")
