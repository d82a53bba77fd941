"""manifest.yml, the app as Slack creates and installs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def app_manifest() -> dict[str, Any]:
    """manifest.yml as Slack reads it."""
    manifest: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return manifest


def manifest_bot_scopes() -> tuple[str, ...]:
    """The bot token scopes manifest.yml asks for, in its order: what an install grants."""
    return tuple(app_manifest()["oauth_config"]["scopes"]["bot"])


def manifest_bot_events() -> set[str]:
    """The events manifest.yml subscribes the bot to."""
    return set(app_manifest()["settings"]["event_subscriptions"]["bot_events"])
