"""Web API methods that read: auth.test, conversations.*, users.info, files.info."""

from __future__ import annotations

import base64
import binascii
import copy
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.doubles.slack_emulator.errors import SlackError
from tests.doubles.slack_emulator.method_call import Handler, MethodCall

WORKSPACE_URL = "https://chorus-test.slack.com/"
WORKSPACE_NAME = "Chorus Test"
HISTORY_DEFAULT_LIMIT = 100
REPLIES_DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000
CURSOR_PREFIX = "offset:"


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"{CURSOR_PREFIX}{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
        return int(decoded.removeprefix(CURSOR_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SlackError("invalid_cursor") from None


def _page(call: MethodCall, messages: list[dict[str, Any]], default_limit: int) -> dict[str, Any]:
    """Slack's cursor pagination: a page, has_more and response_metadata.next_cursor. Like
    Slack, messages carry their metadata only when `include_all_metadata` is asked for."""
    limit = max(1, min(call.integer("limit", default_limit), MAX_LIMIT))
    start = _decode_cursor(call.text("cursor"))
    has_more = start + limit < len(messages)
    page = messages[start : start + limit]
    if not call.flag("include_all_metadata"):
        page = [{k: v for k, v in message.items() if k != "metadata"} for message in page]
    return {
        "messages": page,
        "has_more": has_more,
        "response_metadata": {"next_cursor": _encode_cursor(start + limit) if has_more else ""},
    }


def _ts_bound(call: MethodCall, name: str, default: Decimal) -> Decimal:
    value = call.text(name)
    if value is None:
        return default
    try:
        return Decimal(value)
    except InvalidOperation:
        raise SlackError(f"invalid_ts_{name}") from None


def _within_window(call: MethodCall, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep messages between `oldest` and `latest` (bounds included only with `inclusive`)."""
    oldest = _ts_bound(call, "oldest", Decimal(0))
    latest = _ts_bound(call, "latest", Decimal("Infinity"))
    inclusive = call.flag("inclusive")

    def inside(message: dict[str, Any]) -> bool:
        ts = Decimal(message["ts"])
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    return [message for message in messages if inside(message)]


def auth_test(call: MethodCall) -> dict[str, Any]:
    workspace = call.workspace
    return {
        "url": WORKSPACE_URL,
        "team": WORKSPACE_NAME,
        "user": workspace.bot.name,
        "team_id": workspace.team_id,
        "user_id": workspace.bot.user_id,
        "bot_id": workspace.bot.bot_id,
        "is_enterprise_install": False,
    }


def conversations_history(call: MethodCall) -> dict[str, Any]:
    workspace = call.workspace
    channel = workspace.channel(call.text("channel"))
    newest_first = list(reversed(workspace.top_level(channel)))
    return _page(call, _within_window(call, newest_first), HISTORY_DEFAULT_LIMIT)


def conversations_replies(call: MethodCall) -> dict[str, Any]:
    workspace = call.workspace
    channel = workspace.channel(call.text("channel"))
    parent = workspace.thread_parent(channel, call.required("ts", "thread_not_found"))
    thread = [parent, *workspace.replies(channel, parent["ts"])]
    return _page(call, _within_window(call, thread), REPLIES_DEFAULT_LIMIT)


def conversations_info(call: MethodCall) -> dict[str, Any]:
    return {"channel": call.workspace.channel(call.text("channel")).as_api()}


def users_info(call: MethodCall) -> dict[str, Any]:
    user = call.workspace.user(call.text("user"))
    if not user.described:
        raise SlackError("user_not_found")
    return {"user": user.as_api()}


def files_info(call: MethodCall) -> dict[str, Any]:
    described = call.workspace.shared_file_objects.get(call.required("file"))
    if described is None:
        raise SlackError("file_not_found")
    return {"file": copy.deepcopy(described)}


READ_METHODS: dict[str, Handler] = {
    "files.info": files_info,
    "auth.test": auth_test,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.info": conversations_info,
    "users.info": users_info,
}
