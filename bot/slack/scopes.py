"""The Slack scopes the bot token needs, and which of them a token was not granted."""

from __future__ import annotations

from collections.abc import Collection

# manifest.yml's oauth_config.scopes.bot, in its order: the manifest is not installed with the
# package, so the list is kept here too (tests/test_project_layout.py holds the two equal).
BOT_SCOPES: tuple[str, ...] = (
    "app_mentions:read",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "chat:write",
    "chat:write.customize",
    "commands",
    "users:read",
    "channels:read",
    "groups:read",
    "reactions:read",
    "files:read",
)


def granted_scopes(header: str) -> frozenset[str]:
    """The scopes an `x-oauth-scopes` header lists (comma-separated, as Slack sends it)."""
    return frozenset(scope.strip() for scope in header.split(",") if scope.strip())


def missing_scopes(granted: Collection[str]) -> list[str]:
    """The scopes the bot needs that are not among `granted`, in manifest.yml's order."""
    return [scope for scope in BOT_SCOPES if scope not in granted]
