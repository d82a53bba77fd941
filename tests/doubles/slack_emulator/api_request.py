"""Reading a Web API call the way Slack does: query string, form body or JSON body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles.slack_emulator.errors import SlackError

# Parameters whose value is JSON; form posts carry them as JSON strings.
JSON_VALUED_PARAMS = ("blocks", "attachments", "metadata", "view", "files")


@dataclass(frozen=True)
class ApiRequest:
    params: dict[str, Any]
    token: str | None


async def read_api_request(request: web.Request) -> ApiRequest:
    """The call's merged parameters (token removed, JSON values decoded) and its token."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.content_type == "application/json":
        params |= await _json_body(request)
    elif request.method == "POST":
        form = await request.post()
        params |= {name: value for name, value in form.items() if isinstance(value, str)}
    form_token = params.pop("token", None)
    for name in JSON_VALUED_PARAMS:
        if name in params:
            params[name] = _decoded(params[name])
    return ApiRequest(params=params, token=_bearer_token(request) or form_token)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise SlackError("invalid_json") from None
    if not isinstance(body, dict):
        raise SlackError("invalid_json")
    body.pop("token", None)  # Slack only takes the token from the header for JSON bodies.
    return body


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _decoded(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # left as a string: the method reports it as Slack would
