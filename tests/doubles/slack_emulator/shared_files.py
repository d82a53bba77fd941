"""Files people share with their messages, as Slack describes them in events and serves them
at their private URLs (only to a request carrying the bot token)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from tests.doubles.slack_emulator.workspace import SharedFile

FILES_PATH = "/files-pri/"
SIGN_IN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"
# Slack's `filetype` for the extensions the tests use; others are their extension.
FILETYPES = {"txt": "text", "py": "python", "js": "javascript", "md": "markdown", "sh": "shell"}


def file_access_stub(file_id: str) -> dict[str, Any]:
    """How a message event carries a file shared from another organisation (Slack Connect):
    its id only, to be looked up with files.info."""
    return {
        "id": file_id,
        "mode": "file_access",
        "file_access": "check_file_info",
        "created": 0,
        "timestamp": 0,
        "user": "",
    }


def file_object(
    shared: SharedFile, file_id: str, *, user_id: str, team_id: str, base_url: str
) -> dict[str, Any]:
    """The file as a `message` event's `files` list carries it."""
    name = quote(shared.name)
    url = f"{base_url}{FILES_PATH}{team_id}-{file_id}/{name}"
    extension = shared.name.rpartition(".")[2].lower() if "." in shared.name else ""
    now = int(time.time())
    return {
        "id": file_id,
        "created": now,
        "timestamp": now,
        "name": shared.name,
        "title": shared.name,
        "mimetype": shared.type,
        "filetype": "text" if shared.snippet else FILETYPES.get(extension, extension or "binary"),
        "user": user_id,
        "user_team": team_id,
        "editable": shared.snippet,
        "size": len(shared.data),
        "mode": "snippet" if shared.snippet else "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": True,
        "url_private": url,
        "url_private_download": f"{base_url}{FILES_PATH}{team_id}-{file_id}/download/{name}",
        "permalink": f"https://chorus-test.slack.com/files/{user_id}/{file_id}/{name}",
    }
