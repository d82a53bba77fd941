"""What Slack sends to an app, built as Slack builds it: Events API envelopes and their events,
slash commands and block actions. Pure functions over plain dicts."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

# Fields the Web API keeps on a stored message that the original message event never carried.
STORED_ONLY_FIELDS = (
    "reply_count",
    "reply_users",
    "reply_users_count",
    "latest_reply",
    "reactions",
    "edited",
)
APP_MENTION_FIELDS = (
    "user",
    "bot_id",
    "text",
    "ts",
    "team",
    "client_msg_id",
    "files",
    "upload",
    "attachments",  # a message forwarded with it
    "blocks",
    "thread_ts",
    "parent_user_id",
    "edited",  # an edit of a message that mentions the app is sent as `app_mention` again
)
_EVENT_NUMBERS = itertools.count(1)
_RUN_TAG = secrets.token_hex(2).upper()  # keeps event ids apart across test runs


@dataclass(frozen=True)
class AppInstallation:
    """The workspace and app an envelope is addressed to."""

    team_id: str
    api_app_id: str
    bot_user_id: str
    verification_token: str = "legacy-verification-token"
    team_domain: str = "chorus-test"


def new_event_id() -> str:
    """A unique event id such as Ev3F2A000017."""
    return f"Ev{_RUN_TAG}{next(_EVENT_NUMBERS):06d}"


def new_trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def event_callback(install: AppInstallation, event: dict[str, Any]) -> dict[str, Any]:
    """The Events API envelope Slack wraps around one event."""
    context = {"et": event["type"], "tid": install.team_id, "aid": install.api_app_id}
    if "channel" in event:
        context["cid"] = event["channel"]
    encoded_context = base64.urlsafe_b64encode(json.dumps(context).encode()).decode()
    return {
        "token": install.verification_token,
        "team_id": install.team_id,
        "context_team_id": install.team_id,
        "context_enterprise_id": None,
        "api_app_id": install.api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": new_event_id(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": install.team_id,
                "user_id": install.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{encoded_context}",
    }


def url_verification(install: AppInstallation, challenge: str) -> dict[str, Any]:
    return {"token": install.verification_token, "challenge": challenge, "type": "url_verification"}


def app_rate_limited(install: AppInstallation, minute: int) -> dict[str, Any]:
    """What Slack sends (no event inside) once it holds back the app's events of a workspace,
    from the minute `minute` (epoch seconds) on."""
    return {
        "token": install.verification_token,
        "type": "app_rate_limited",
        "team_id": install.team_id,
        "minute_rate_limited": minute,
        "api_app_id": install.api_app_id,
    }


def mentions_bot(message: dict[str, Any], bot_user_id: str) -> bool:
    return f"<@{bot_user_id}>" in message.get("text", "")


def message_event(
    channel: str, channel_type: str, message: dict[str, Any], *, legacy_bot: bool = False
) -> dict[str, Any]:
    """The `message` event for a newly posted message (`legacy_bot`: subtype bot_message)."""
    event = {key: value for key, value in message.items() if key not in STORED_ONLY_FIELDS}
    if event.get("thread_ts") == event["ts"]:
        del event["thread_ts"]  # a parent gains thread_ts only once it has replies
    event |= {
        "type": "message",
        "channel": channel,
        "event_ts": message["ts"],
        "channel_type": channel_type,
    }
    if legacy_bot:
        event["subtype"] = "bot_message"
        event["username"] = event.pop("username", None) or "otherbot"
        event.pop("user", None)
    return event


def app_mention_event(channel: str, message: dict[str, Any]) -> dict[str, Any]:
    """The `app_mention` event Slack sends beside the `message` event of a mention."""
    event = {key: message[key] for key in APP_MENTION_FIELDS if key in message}
    if event.get("thread_ts") == event["ts"]:
        del event["thread_ts"]
    return {"type": "app_mention", **event, "channel": channel, "event_ts": message["ts"]}


def message_deleted_event(
    channel: str, channel_type: str, previous: dict[str, Any], event_ts: str
) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "deleted_ts": previous["ts"],
        "channel": channel,
        "previous_message": previous,
        "event_ts": event_ts,
        "ts": event_ts,
        "channel_type": channel_type,
    }


def message_changed_event(
    channel: str,
    channel_type: str,
    previous: dict[str, Any],
    current: dict[str, Any],
    event_ts: str,
) -> dict[str, Any]:
    """A message edited by its author, or a deleted message that has thread replies (Slack
    reports it replaced by a tombstone)."""
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "message": current,
        "previous_message": previous,
        "event_ts": event_ts,
        "ts": event_ts,
        "channel_type": channel_type,
    }


def reaction_event(
    kind: str, channel: str, message: dict[str, Any], user: str, reaction: str, event_ts: str
) -> dict[str, Any]:
    """`reaction_added` or `reaction_removed` (`kind`), which Slack shapes alike."""
    return {
        "type": kind,
        "user": user,
        "reaction": reaction,
        "item": {"type": "message", "channel": channel, "ts": message["ts"]},
        "item_user": message.get("user"),
        "event_ts": event_ts,
    }


def app_home_opened_event(user: str, channel: str, event_ts: str) -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "tab": "home",
        "event_ts": event_ts,
    }


def slash_command(
    install: AppInstallation,
    conversation: dict[str, Any],
    user: dict[str, Any],
    command: str,
    text: str,
    response_url: str,
) -> dict[str, str]:
    """The form fields of a slash command invocation."""
    return {
        "token": install.verification_token,
        "team_id": install.team_id,
        "team_domain": install.team_domain,
        "channel_id": conversation["id"],
        "channel_name": conversation.get("name", "directmessage"),
        "user_id": user["id"],
        "user_name": user["name"],
        "command": command,
        "text": text,
        "api_app_id": install.api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": new_trigger_id(),
    }


def block_actions(
    install: AppInstallation,
    conversation: dict[str, Any],
    user: dict[str, Any],
    message: dict[str, Any],
    action: dict[str, Any],
    response_url: str,
) -> dict[str, Any]:
    """The `payload` of a button click on a message."""
    container = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": conversation["id"],
        "is_ephemeral": False,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "user": {
            "id": user["id"],
            "username": user["name"],
            "name": user["name"],
            "team_id": user["team_id"],
        },
        "api_app_id": install.api_app_id,
        "token": install.verification_token,
        "container": container,
        "trigger_id": new_trigger_id(),
        "team": {"id": install.team_id, "domain": install.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": conversation["id"], "name": conversation.get("name", "directmessage")},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }


def find_button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    """The clicked button as an action: its action_id, block_id, value, type and text."""
    for block in message.get("blocks", []):
        candidates = [*block.get("elements", []), block.get("accessory")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                keys = ("action_id", "value", "type", "text")
                found = {key: element[key] for key in keys if key in element}
                return {**found, "block_id": block.get("block_id", "")}
    raise AssertionError(f"message {message['ts']} has no element with action_id {action_id!r}")
