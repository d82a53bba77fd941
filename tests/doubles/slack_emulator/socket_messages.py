"""The JSON messages of Slack's Socket Mode WebSocket, built and read as Slack does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

EMULATOR_HOST = "applink-emulator"
BUILD_NUMBER = 1
# Slack reports roughly how long a connection lives before it is refreshed (about 5 hours).
APPROXIMATE_CONNECTION_SECONDS = 18_060
# What an envelope carries: an Events API event, a slash command (answered in its ack), or an
# interaction such as a button click (`block_actions`).
EnvelopeType = Literal["events_api", "slash_commands", "interactive"]


def debug_info() -> dict[str, Any]:
    return {"host": EMULATOR_HOST}


def hello_message(app_id: str, num_connections: int) -> dict[str, Any]:
    """What Slack sends first on every new connection."""
    return {
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {
            **debug_info(),
            "build_number": BUILD_NUMBER,
            "approximate_connection_time": APPROXIMATE_CONNECTION_SECONDS,
        },
        "connection_info": {"app_id": app_id},
    }


def envelope_message(
    envelope_type: EnvelopeType,
    envelope_id: str,
    payload: dict[str, Any],
    retry_attempt: int,
    retry_reason: str,
) -> dict[str, Any]:
    """`payload` wrapped for the socket; the app must answer with {"envelope_id": ...}.

    An Events API payload is exactly what HTTP mode is POSTed, and may be a retry; a slash
    command's payload is its form fields as JSON, and its ack may carry the response; an
    interaction's payload is the JSON HTTP mode gets in its `payload` form field."""
    message = {
        "envelope_id": envelope_id,
        "payload": payload,
        "type": envelope_type,
        "accepts_response_payload": envelope_type == "slash_commands",
    }
    if envelope_type == "events_api":
        message |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
    return message


def disconnect_message(reason: str) -> dict[str, Any]:
    """Slack's notice that it will close this connection (e.g. "refresh_requested")."""
    return {"type": "disconnect", "reason": reason, "debug_info": debug_info()}


@dataclass(frozen=True)
class Ack:
    """An app's acknowledgement of one envelope, with the optional response payload."""

    envelope_id: str
    payload: dict[str, Any] | None


def read_ack(text: str) -> Ack | None:
    """The acknowledgement in a text frame from the app, or None when it is not one."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("envelope_id"), str):
        return None
    payload = message.get("payload")
    return Ack(message["envelope_id"], payload if isinstance(payload, dict) else None)
