"""Slack events to `IncomingMessage`, and Slack's markup to text models can read (SPEC §4.2)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.chat.attachments import (
    NOT_UTF8,
    UNREADABLE,
    AttachedFile,
    FileNotShown,
    FileOutcome,
    FileShown,
    file_text,
    files_notice,
    files_to_read,
    with_files,
)
from bot.chat.routing import IncomingMessage
from bot.chat.shared_messages import ReadableShare, SharedMessage, with_shared_messages

# Message subtypes that are still a person talking to us; the rest (edits, joins, bot
# messages, deletions…) are not new messages.
_PERSON_SUBTYPES = {None, "file_share", "thread_broadcast", "me_message"}
_ANGLE_TOKEN = re.compile(r"<([^<>]+)>")
NAMES_LOOKED_UP_PER_MESSAGE = 20
# "@Chorus, …", "@Chorus: …" (not "@Chorus :wave:" nor "@Chorus ;)").
_ADDRESSING = re.compile(r"^[,:;](?:\s+|$)")
# "is it @Chorus?" reads "is it?", not "is it ?" ("@Chorus :heart:" keeps its space).
_CLOSING = re.compile(r"[,.:;!?)\]](?!\w)")
NameLookup = Callable[[str], Awaitable[str]]


class NameSource(Protocol):
    """Where people's and channels' names are looked up (Slack, for the running bot)."""

    async def user_name(self, user_id: str) -> str: ...

    async def channel_name(self, channel_id: str) -> str: ...


class FileSource(Protocol):
    """Where attached files are looked up and read (Slack, for the running bot)."""

    async def describe(self, file: AttachedFile) -> AttachedFile: ...

    async def read(self, file: AttachedFile) -> bytes | None: ...


_PLACES = {"im": "DM", "mpim": "conversation"}


def incoming_message(
    event: Mapping[str, Any], *, team_id: str, bot_user_id: str
) -> IncomingMessage | None:
    """The person's message in a `message` or `app_mention` event, or None when it is not one
    (our own or another bot's message, an edit, a deletion, a join…)."""
    if event.get("bot_id") or event.get("subtype") not in _PERSON_SUBTYPES:
        return None
    user_id = event.get("user")
    if not user_id or user_id == bot_user_id or "ts" not in event or "channel" not in event:
        return None
    text = event.get("text") or ""
    channel_id = event["channel"]
    channel_type = event.get("channel_type") or ("im" if channel_id.startswith("D") else "")
    return IncomingMessage(
        # The workspace the event came to, not the author's: in a channel shared with another
        # organisation (Slack Connect) everyone's messages belong to one chat.
        team_id=team_id or event.get("team") or "",
        channel_id=channel_id,
        ts=event["ts"],
        thread_ts=event.get("thread_ts"),
        user_id=user_id,
        text=text,
        is_direct=channel_type == "im",
        mentions_bot=f"<@{bot_user_id}>" in text or f"<@{bot_user_id}|" in text,
        attachments=attached_files(event.get("files")),
        shared=shared_messages(event.get("attachments")),
        place=_place(channel_id, channel_type),
        profile_name=_profile_name(event.get("user_profile")),
    )


def _profile_name(profile: object) -> str | None:
    """The name a message's `user_profile` gives its author, as users.info's would read."""
    if not isinstance(profile, dict):
        return None
    name = profile.get("display_name") or profile.get("real_name") or profile.get("name")
    return str(name) if name else None


def _place(channel_id: str, channel_type: str) -> str:
    """What replies call the conversation. An `app_mention` event names no channel type; a
    `G…` id is then a group DM or a private channel made before 2021, and "conversation"
    fits both, where "channel" would misname the group DM."""
    if not channel_type and channel_id.startswith("G"):
        return "conversation"
    return _PLACES.get(channel_type, "channel")


def shared_messages(attachments: object) -> tuple[SharedMessage, ...]:
    """The messages forwarded with a message, or that it links to and Slack shows beside it
    (a message's preview: other links' previews are none)."""
    if not isinstance(attachments, list):
        return ()
    found = (
        _shared_message(attachment)
        for attachment in attachments
        if isinstance(attachment, dict)
        and (attachment.get("is_share") or attachment.get("is_msg_unfurl"))
    )
    return tuple(shared for shared in found if shared is not None)


def _shared_message(attachment: Mapping[str, Any]) -> SharedMessage | None:
    text = str(attachment.get("text") or attachment.get("fallback") or "")
    files = attachment.get("files") if isinstance(attachment.get("files"), list) else []
    file_names = tuple(file.name for file in attached_files(files))
    if not text.strip() and not file_names:
        return None
    return SharedMessage(
        text=text,
        author_id=str(attachment["author_id"]) if attachment.get("author_id") else None,
        author_name=str(attachment["author_name"]) if attachment.get("author_name") else None,
        link=str(attachment["from_url"]) if attachment.get("from_url") else None,
        file_names=file_names,
        forwarded=bool(attachment.get("is_share")),
    )


def attached_files(files: object) -> tuple[AttachedFile, ...]:
    """The files shared with a message, as Slack describes them."""
    if not isinstance(files, list):
        return ()
    found = (attached_file(file) for file in files if isinstance(file, dict))
    return tuple(file for file in found if file is not None)


def attached_file(file: Mapping[str, Any]) -> AttachedFile | None:
    """One file object of an event or of files.info. A file shared from another organisation
    comes as its id alone (`check_file_info`); one Slack keeps from the bot (past a free
    plan's limit) has no download URL; one kept outside Slack (Google Drive) is no text the
    bot can read; one with neither a name nor an id is no file."""
    file_id = file.get("id") or None
    if file.get("file_access") == "check_file_info" and file_id:
        return AttachedFile(name=str(file_id), file_id=str(file_id), described=False)
    name = file.get("name") or file.get("title")
    if not name:
        return None
    if file.get("is_external"):  # a Google Drive or Dropbox file: only linked from Slack
        return AttachedFile(name=str(name), file_id=str(file_id) if file_id else None)
    return AttachedFile(
        name=str(name),
        mimetype=str(file.get("mimetype") or ""),
        filetype=str(file.get("filetype") or ""),
        size=file["size"] if isinstance(file.get("size"), int) else 0,
        url=file.get("url_private_download") or file.get("url_private") or None,
        file_id=str(file_id) if file_id else None,
    )


def edited_message(
    event: Mapping[str, Any], *, team_id: str, bot_user_id: str
) -> IncomingMessage | None:
    """The person's message as it reads after the edit a `message_changed` event reports, or
    None when the event is no person's edit (a bot's message, a deletion's tombstone…)."""
    if event.get("subtype") != "message_changed" or not isinstance(event.get("message"), dict):
        return None
    return _changed(event, event["message"], team_id=team_id, bot_user_id=bot_user_id)


def message_before_edit(
    event: Mapping[str, Any], *, team_id: str, bot_user_id: str
) -> IncomingMessage | None:
    """The same message as it read before the edit, when Slack sends that."""
    previous = event.get("previous_message")
    if not isinstance(previous, dict):
        return None
    return _changed(event, previous, team_id=team_id, bot_user_id=bot_user_id)


def rewritten_by_author(event: Mapping[str, Any]) -> bool:
    """Whether a `message_changed` event is a person rewriting their text: Slack also sends
    one when it adds a link's preview, with the text as it was."""
    current, previous = event.get("message"), event.get("previous_message")
    if not isinstance(current, dict) or not current.get("edited"):
        return False
    return not isinstance(previous, dict) or previous.get("text") != current.get("text")


def _changed(
    event: Mapping[str, Any], message: Mapping[str, Any], *, team_id: str, bot_user_id: str
) -> IncomingMessage | None:
    if not event.get("channel"):
        return None
    # The inner message carries no channel; it is the event's.
    located = {
        **message,
        "channel": event.get("channel"),
        "channel_type": event.get("channel_type"),
    }
    return incoming_message(located, team_id=team_id, bot_user_id=bot_user_id)


@dataclass(frozen=True, slots=True)
class ReadableMessage:
    """A message as the models read it, and what its author is to be told of the attached
    text files the models were not shown (`files_notice`)."""

    text: str
    files_notice: str | None = None


async def readable_message(
    message: IncomingMessage, *, bot_user_id: str, names: NameSource, files: FileSource
) -> ReadableMessage:
    """The message's text as a person reads it (`readable_text`), then the messages forwarded
    with it, then the text files attached to it, and a note naming the files the models are
    not shown (so they do not answer as if they had seen them). Without NUL characters (a
    UTF-16 file may hold them): they are no text, and PostgreSQL cannot store them."""
    text = await readable_text(message.text, bot_user_id=bot_user_id, names=names)
    if message.shared:
        shares = [await _readable_share(shared, bot_user_id, names) for shared in message.shared]
        text = with_shared_messages(text, shares)
    if not message.attachments:
        return ReadableMessage(text.replace("\x00", ""))
    described = await asyncio.gather(*(files.describe(file) for file in message.attachments))
    planned = files_to_read(described)
    outcomes = await asyncio.gather(*(_read(file, files) for file in planned))
    return ReadableMessage(with_files(text, outcomes).replace("\x00", ""), files_notice(outcomes))


async def _readable_share(
    shared: SharedMessage, bot_user_id: str, names: NameSource
) -> ReadableShare:
    if shared.author_name:
        author = shared.author_name
    elif shared.author_id:
        author = await names.user_name(shared.author_id)
    else:
        author = "someone"
    text = await readable_text(shared.text, bot_user_id=bot_user_id, names=names)
    return ReadableShare(author, text, shared.link, shared.file_names, shared.forwarded)


async def _read(planned: AttachedFile | FileNotShown, files: FileSource) -> FileOutcome:
    if isinstance(planned, FileNotShown):
        return planned
    data = await files.read(planned)
    if data is None:
        return FileNotShown(planned.name, UNREADABLE)
    text = file_text(data)
    if text is None:
        return FileNotShown(planned.name, NOT_UTF8)
    return FileShown(planned.name, text)


async def readable_text(text: str, *, bot_user_id: str, names: NameSource) -> str:
    """Slack markup as a person would read it: the bot mention removed, `<@U1>` → `@Alice`,
    `<#C1|general>` and `<#C1>` → `#general`, `<https://x|label>` → `label (https://x)`. Each
    person or channel is looked up once, and only the first few of a message (the rest keep
    their ids), so a message full of mentions cannot hold Slack's rate limits for everyone."""
    text = _without_mention_of(bot_user_id, text)
    looked_up: dict[str, str] = {}

    def once(look_up: NameLookup) -> NameLookup:
        async def name_of(id_: str) -> str:
            if id_ not in looked_up:
                may_ask = len(looked_up) < NAMES_LOOKED_UP_PER_MESSAGE
                looked_up[id_] = await look_up(id_) if may_ask else id_
            return looked_up[id_]

        return name_of

    user_name, channel_name = once(names.user_name), once(names.channel_name)
    pieces: list[str] = []
    position = 0
    for match in _ANGLE_TOKEN.finditer(text):
        pieces.append(text[position : match.start()])
        token = match.group(1)
        pieces.append(await _readable_token(token, bot_user_id, user_name, channel_name))
        position = match.end()
    pieces.append(text[position:])
    return html.unescape("".join(pieces)).strip()


def _without_mention_of(user_id: str, text: str) -> str:
    """`text` without the mentions of `user_id` and the spaces around them, keeping one:
    "a <@BOT> b" → "a b", "is it <@BOT>?" → "is it?"; a mention that opens the message takes
    the punctuation after it along: "<@BOT>, +claude hi" → "+claude hi". The spaces are
    trimmed from the text between the mentions, as a pattern that also matched them would
    retry each run of spaces from every space in it."""
    between = re.split(rf"<@{re.escape(user_id)}(?:\|[^<>]*)?>", text)
    if len(between) == 1:
        return text
    first, *rest = between
    pieces = [first.rstrip(" \t")] if first.strip() else []
    for piece in rest:
        piece = piece.strip(" \t")
        if not pieces:
            piece = _ADDRESSING.sub("", piece, count=1)
        if piece:
            glued = not pieces or _CLOSING.match(piece) is not None
            pieces.append(piece if glued else " " + piece)
    return "".join(pieces)


async def _readable_token(
    token: str, bot_user_id: str, user_name: NameLookup, channel_name: NameLookup
) -> str:
    target, _, label = token.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        if user_id == bot_user_id:
            return ""
        return "@" + (label or await user_name(user_id))
    if target.startswith("#"):
        return "#" + (label or await channel_name(target[1:]))
    if target.startswith("!"):
        return _readable_special(target[1:], label)
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    if label and label != target:
        return f"{label} ({target})"
    return target


def _readable_special(command: str, label: str) -> str:
    """`<!here>` → `@here` (also `<!here|here>`), `<!subteam^S1|@design>` → `@design` (`@S1`
    without its handle: each group reads as itself), `<!date^…|Feb 18>` → `Feb 18`."""
    name, _, argument = command.partition("^")
    if name in ("here", "channel", "everyone"):
        return f"@{name}"
    if name == "subteam" and not label:
        return "@" + argument.partition("^")[0]
    return label or f"@{name}"
