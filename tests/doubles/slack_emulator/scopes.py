"""Which bot token scopes each Web API method needs, and Slack's answer to a call without them:
HTTP 200 {"ok": false, "error": "missing_scope", "needed": …, "provided": …}."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tests.doubles.slack_emulator.errors import SlackError
from tests.doubles.slack_emulator.methods_chat import PRESENTATION_PARAMS

HISTORY_SCOPES = frozenset({"channels:history", "groups:history", "im:history", "mpim:history"})
READ_SCOPES = frozenset({"channels:read", "groups:read", "im:read", "mpim:read"})
# Signing a message with another name and icon; without it Slack ignores them and posts the
# message as the app (it is no refusal).
CUSTOMIZE_SCOPE = "chat:write.customize"
CUSTOMIZABLE_METHODS = frozenset({"chat.postMessage", "chat.update"})

# By Slack's method name: the scopes any one of which lets a call through (none: any token
# may call it). A method about a conversation needs the one of its kind (`scopes_for`).
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "apps.connections.open": frozenset(),  # the app-level token's connections:write
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.getPermalink": frozenset(),
    "conversations.history": HISTORY_SCOPES,
    "conversations.replies": HISTORY_SCOPES,
    "conversations.info": READ_SCOPES,
    "users.info": frozenset({"users:read"}),
    "files.info": frozenset({"files:read"}),
    "files.getUploadURLExternal": frozenset({"files:write"}),
    "files.completeUploadExternal": frozenset({"files:write"}),
    "reactions.get": frozenset({"reactions:read"}),
    "reactions.add": frozenset({"reactions:write"}),
    "reactions.remove": frozenset({"reactions:write"}),
    "views.publish": frozenset(),
}
# The prefix of the scopes for each kind of conversation (channels:history, im:read, …).
KIND_SCOPE_PREFIXES = {"channel": "channels", "group": "groups", "im": "im", "mpim": "mpim"}


class MissingScope(SlackError):
    """A call the token was not granted a scope for: which would do, and which it has."""

    def __init__(self, needed: Collection[str], provided: Collection[str]) -> None:
        super().__init__("missing_scope")
        self.needed = ",".join(sorted(needed))
        self.provided = ",".join(provided)

    def as_body(self) -> dict[str, Any]:
        return super().as_body() | {"needed": self.needed, "provided": self.provided}


def scopes_for(method: str, kind: str | None) -> frozenset[str]:
    """The scopes any one of which lets a call of `method` through, about a conversation of
    `kind` ("channel", "group", "im", "mpim") when it concerns one that exists."""
    scopes = METHOD_SCOPES.get(method, frozenset())
    prefix = KIND_SCOPE_PREFIXES.get(kind or "")
    of_kind = frozenset(scope for scope in scopes if scope.partition(":")[0] == prefix)
    return of_kind or scopes


def scope_error(method: str, kind: str | None, granted: Collection[str]) -> MissingScope | None:
    """Slack's refusal of a call of `method` by a token granted `granted`, or None."""
    scopes = scopes_for(method, kind)
    if not scopes or scopes & set(granted):
        return None
    return MissingScope(scopes, granted)


def as_granted(method: str, params: dict[str, Any], granted: Collection[str]) -> dict[str, Any]:
    """The call's parameters as Slack acts on them: the name and icon a message is signed
    with are ignored without `chat:write.customize`."""
    if method not in CUSTOMIZABLE_METHODS or CUSTOMIZE_SCOPE in granted:
        return params
    return {name: value for name, value in params.items() if name not in PRESENTATION_PARAMS}
