"""Web API methods for reactions, the App Home view and file uploads."""

from __future__ import annotations

from typing import Any

from tests.doubles.slack_emulator.errors import SlackError
from tests.doubles.slack_emulator.method_call import Handler, MethodCall
from tests.doubles.slack_emulator.workspace import UploadedFile

UPLOAD_PATH = "/upload/"


def _reacted_message(call: MethodCall) -> tuple[str, dict[str, Any]]:
    workspace = call.workspace
    channel = workspace.channel(call.text("channel"))
    return channel.id, workspace.message(channel, call.text("timestamp"))


def reactions_add(call: MethodCall) -> dict[str, Any]:
    _, message = _reacted_message(call)
    name = call.required("name", "invalid_name")
    call.workspace.add_reaction(message, call.workspace.bot.user_id, name)
    return {}


def reactions_remove(call: MethodCall) -> dict[str, Any]:
    _, message = _reacted_message(call)
    name = call.required("name", "invalid_name")
    call.workspace.remove_reaction(message, call.workspace.bot.user_id, name)
    return {}


def reactions_get(call: MethodCall) -> dict[str, Any]:
    channel_id, message = _reacted_message(call)
    return {"type": "message", "channel": channel_id, "message": message}


def views_publish(call: MethodCall) -> dict[str, Any]:
    workspace = call.workspace
    user = workspace.user(call.text("user_id"))
    view = call.value("view")
    if not isinstance(view, dict) or view.get("type") != "home":
        raise SlackError("invalid_arguments")
    stored = {**view, "id": workspace.new_id("V"), "team_id": workspace.team_id}
    workspace.home_views[user.id] = stored
    return {"view": stored}


def files_get_upload_url(call: MethodCall) -> dict[str, Any]:
    upload = UploadedFile(
        id=call.workspace.new_id("F"),
        name=call.required("filename"),
        length=call.integer("length", -1),
    )
    if upload.length < 0:
        raise SlackError("invalid_arguments")
    call.workspace.files[upload.id] = upload
    return {"upload_url": f"{call.base_url}{UPLOAD_PATH}{upload.id}", "file_id": upload.id}


def files_complete_upload(call: MethodCall) -> dict[str, Any]:
    workspace = call.workspace
    items = call.value("files")
    if not isinstance(items, list) or not items:
        raise SlackError("invalid_arguments")
    uploads = [_uploaded(call, item) for item in items]
    channel_id = call.text("channel_id")
    if channel_id:
        channel = workspace.channel(channel_id)
        share = {
            **workspace.bot.author_fields(workspace.team_id),
            "text": call.text("initial_comment") or "",
            "files": [upload.as_api() for upload in uploads],
            "upload": True,
        }
        stored = workspace.post(channel, share, call.text("thread_ts"))
        for upload in uploads:
            upload.channel, upload.thread_ts = channel.id, stored.get("thread_ts")
    for upload in uploads:
        upload.initial_comment = call.text("initial_comment")
        upload.completed = True
    return {"files": [upload.as_api() for upload in uploads]}


def _uploaded(call: MethodCall, item: object) -> UploadedFile:
    file_id = item.get("id") if isinstance(item, dict) else None
    upload = call.workspace.files.get(str(file_id))
    if upload is None or upload.content is None or upload.completed:
        raise SlackError("file_not_found")
    if isinstance(item, dict) and item.get("title"):
        upload.title = str(item["title"])
    return upload


APP_METHODS: dict[str, Handler] = {
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
    "reactions.get": reactions_get,
    "views.publish": views_publish,
    "files.getUploadURLExternal": files_get_upload_url,
    "files.completeUploadExternal": files_complete_upload,
}
