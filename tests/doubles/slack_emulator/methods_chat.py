"""Web API methods that write messages: chat.*."""

from __future__ import annotations

from typing import Any

from tests.doubles.slack_emulator.blocks import check_message_content
from tests.doubles.slack_emulator.errors import SlackError
from tests.doubles.slack_emulator.method_call import Handler, MethodCall

PERMALINK_BASE = "https://chorus-test.slack.com/archives"
# Stored on the message as given, so tests can check how each answer is attributed. As on
# Slack, `chat.update` drops them unless they are sent again (slackapi/node-slack-sdk#944).
PRESENTATION_PARAMS = ("username", "icon_emoji", "icon_url")


def _content(call: MethodCall) -> dict[str, Any]:
    """The checked text and blocks of a message being posted or updated."""
    text, blocks = call.text("text"), call.value("blocks")
    check_message_content(text, blocks)
    content: dict[str, Any] = {"text": text or ""}
    if blocks:
        content["blocks"] = blocks
    return content


def _presentation(call: MethodCall) -> dict[str, str]:
    given = {name: call.text(name) for name in PRESENTATION_PARAMS}
    return {name: value for name, value in given.items() if value}


def _own_message(call: MethodCall, refusal: str) -> tuple[str, dict[str, Any]]:
    workspace = call.workspace
    channel = workspace.channel(call.text("channel"))
    message = workspace.message(channel, call.text("ts"))
    if message.get("bot_id") != workspace.bot.bot_id:
        raise SlackError(refusal)
    return channel.id, message


def post_message(call: MethodCall) -> dict[str, Any]:
    workspace = call.workspace
    reference = call.text("channel")
    if reference in workspace.users:  # a person's id: the app's DM with them
        channel = workspace.app_dm_with(reference)
    else:
        channel = workspace.channel(reference)
    message = {**workspace.bot.author_fields(workspace.team_id), **_content(call)}
    message |= _presentation(call)
    if call.value("metadata"):
        message["metadata"] = call.value("metadata")
    thread_ts = call.text("thread_ts")
    if thread_ts and call.flag("reply_broadcast"):
        message["subtype"] = "thread_broadcast"
    stored = workspace.post(channel, message, thread_ts)
    return {"channel": channel.id, "ts": stored["ts"], "message": stored}


def update_message(call: MethodCall) -> dict[str, Any]:
    channel_id, message = _own_message(call, "cant_update_message")
    content = _content(call)
    if "text" in call.params:
        message["text"] = content["text"]
    blocks = call.value("blocks")
    if blocks:
        message["blocks"] = blocks
    elif blocks == [] or "text" in call.params:
        # As Slack: blocks left out are kept only when the text is left out too.
        message.pop("blocks", None)
    if call.value("metadata"):
        message["metadata"] = call.value("metadata")
    for name in PRESENTATION_PARAMS:
        message.pop(name, None)
    message |= _presentation(call)
    bot = call.workspace.bot
    message["edited"] = {"user": bot.user_id, "ts": call.workspace.clock.next()}
    return {"channel": channel_id, "ts": message["ts"], "text": message["text"], "message": message}


def delete_message(call: MethodCall) -> dict[str, Any]:
    channel_id, message = _own_message(call, "cant_delete_message")
    call.workspace.delete(call.workspace.channels[channel_id], message["ts"])
    return {"channel": channel_id, "ts": message["ts"]}


def post_ephemeral(call: MethodCall) -> dict[str, Any]:
    workspace = call.workspace
    channel = workspace.channel(call.text("channel"))
    recipient = workspace.user(call.text("user"))
    ephemeral = {
        "channel": channel.id,
        "user": recipient.id,
        "thread_ts": call.text("thread_ts"),
        "message_ts": workspace.clock.next(),
        **_content(call),
    }
    workspace.ephemerals.append(ephemeral)
    return {"message_ts": ephemeral["message_ts"]}


def get_permalink(call: MethodCall) -> dict[str, Any]:
    workspace = call.workspace
    channel = workspace.channel(call.text("channel"))
    message = workspace.message(channel, call.text("message_ts"))
    permalink = f"{PERMALINK_BASE}/{channel.id}/p{message['ts'].replace('.', '')}"
    thread_ts = message.get("thread_ts")
    if thread_ts and thread_ts != message["ts"]:
        permalink += f"?thread_ts={thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": permalink}


CHAT_METHODS: dict[str, Handler] = {
    "chat.postMessage": post_message,
    "chat.update": update_message,
    "chat.delete": delete_message,
    "chat.postEphemeral": post_ephemeral,
    "chat.getPermalink": get_permalink,
}
