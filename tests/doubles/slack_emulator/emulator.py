"""The Slack Web API emulator: an HTTP server the bot talks to instead of slack.com."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import threading
import time
import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.doubles.app_manifest import manifest_bot_scopes
from tests.doubles.server_thread import BackgroundServer
from tests.doubles.slack_emulator.api_request import ApiRequest, read_api_request
from tests.doubles.slack_emulator.errors import SlackError
from tests.doubles.slack_emulator.faults import FaultPlan, InjectedFault, LostReply
from tests.doubles.slack_emulator.method_call import Handler, MethodCall
from tests.doubles.slack_emulator.methods_apps import APP_METHODS, UPLOAD_PATH
from tests.doubles.slack_emulator.methods_chat import CHAT_METHODS, PERMALINK_BASE
from tests.doubles.slack_emulator.methods_read import READ_METHODS
from tests.doubles.slack_emulator.rich_text import rich_text_blocks
from tests.doubles.slack_emulator.scopes import as_granted, scope_error
from tests.doubles.slack_emulator.shared_files import (
    FILES_PATH,
    SIGN_IN_PAGE,
    file_access_stub,
    file_object,
)
from tests.doubles.slack_emulator.socket_link import SocketModeLink
from tests.doubles.slack_emulator.socket_mode import SOCKET_PATH, SocketModeServer
from tests.doubles.slack_emulator.tokens import token_error
from tests.doubles.slack_emulator.workspace import (
    BotIdentity,
    Channel,
    SharedFile,
    SlackWorkspace,
    UploadedFile,
    User,
)

API_METHODS: dict[str, Handler] = {**CHAT_METHODS, **READ_METHODS, **APP_METHODS}
CONNECTIONS_OPEN = "apps.connections.open"  # the one method that takes the app-level token
SCOPES_HEADER = "x-oauth-scopes"  # on every answer to the bot token: the scopes it was granted
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
RESPONSE_URL_PATH = "/respond/"
FILE_PIECE_BYTES = 16 * 1024
OTHER_BOT_USER_ID = "U0OTHERBOT"
OTHER_BOT_ID = "B0OTHER"
PEOPLE = {"U0ALICE": "Alice", "U0BOB": "Bob", "U0CAROL": "Carol"}
CHANNELS = {"C0GENERAL": "general", "C0RANDOM": "random"}
DIRECT_MESSAGES = {"D0ALICE": "U0ALICE", "D0BOB": "U0BOB"}


REPLY_LOST = 0


@dataclass(frozen=True)
class ApiCall:
    """One Web API call as the emulator saw it (token removed) and what it answered."""

    method: str
    params: dict[str, Any]
    status: int  # HTTP status; REPLY_LOST when the caller never got the reply
    response: dict[str, Any]
    at: float  # time.monotonic() when the answer was decided

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class ErrorPage:
    """An answer that is not the Web API's JSON: what a proxy or load balancer may send."""

    status: int
    text: str
    content_type: str
    headers: dict[str, str]


@dataclass(frozen=True)
class FileDownload:
    """A request for a shared file: its path, and whether it carried the bot token."""

    path: str
    authorized: bool


class SlackEmulator(BackgroundServer):
    """A stateful Slack workspace behind a Web API as strict as Slack's, recording every call."""

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        team_id: str = "T0CHORUS",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        latency_seconds: float = 0.0,
        *,
        app_id: str = "A0CHORUS",
        app_token: str = "xapp-1-A0CHORUS-1-emulator",
        port: int = 0,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.latency_seconds = latency_seconds
        self._lock = threading.Lock()
        self._workspace = SlackWorkspace(team_id, BotIdentity(bot_user_id, bot_id, app_id))
        self._faults = FaultPlan()
        self._granted_scopes: tuple[str, ...] = manifest_bot_scopes()
        self._scopes_listed = True
        self._calls: list[ApiCall] = []
        self._calls_begun: Counter[str] = Counter()
        self._response_url_posts: list[tuple[str, dict[str, Any]]] = []
        self._file_downloads: list[FileDownload] = []
        self._seed_directory()
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post(UPLOAD_PATH + "{file_id}", self._handle_upload)
        app.router.add_post(RESPONSE_URL_PATH + "{response_id}", self._handle_response_url)
        app.router.add_get(FILES_PATH + "{team_file}/{name}", self._handle_file)
        app.router.add_get(FILES_PATH + "{team_file}/download/{name}", self._handle_file)
        app.router.add_get("/", self._sign_in_page)
        self._sockets = SocketModeServer(app_id)
        app.router.add_get(SOCKET_PATH, self._sockets.handle)
        app.on_shutdown.append(self._sockets.on_shutdown)
        super().__init__(app, port=port, name="slack-emulator")
        self.socket_mode = SocketModeLink(self._sockets, self._server)

    @property
    def api_url(self) -> str:
        """What the bot gets as SLACK_API_URL: slack_sdk appends the method name."""
        return f"{self.url}/api/"

    # -- HTTP ----------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            api_request = await read_api_request(request)
        except SlackError as unreadable:
            return self._respond(method, {}, (200, unreadable.as_body(), {}))
        with self._lock:
            self._calls_begun[method] += 1
            delay = self.latency_seconds + self._faults.delay_for(method, api_request.params)
        if delay:
            await asyncio.sleep(delay)
            if request.transport is None or request.transport.is_closing():
                # The caller hung up before Slack got round to the call: it is never done.
                self._record(method, api_request.params, REPLY_LOST, {})
                return web.Response()
        with self._lock:
            lost = self._faults.lost_reply(method)
            if lost is None or lost.carried_out:
                answer = self._answer(method, api_request)
        if lost is not None:
            await asyncio.sleep(lost.after_seconds)
            self._record(method, api_request.params, REPLY_LOST, {})
            if request.transport is not None:
                request.transport.abort()
            return web.Response()  # never sent: the connection is gone
        return self._respond(method, api_request.params, answer)

    def _respond(
        self, method: str, params: dict[str, Any], answer: Answer | ErrorPage
    ) -> web.Response:
        if isinstance(answer, ErrorPage):
            self._record(method, params, answer.status, {})
            return web.Response(
                status=answer.status,
                text=answer.text,
                content_type=answer.content_type,
                headers=answer.headers,
            )
        status, body, headers = answer
        self._record(method, params, status, body)
        return web.json_response(body, status=status, headers=headers)

    def _record(
        self, method: str, params: dict[str, Any], status: int, body: dict[str, Any]
    ) -> None:
        with self._lock:
            self._calls.append(
                ApiCall(method, copy.deepcopy(params), status, body, time.monotonic())
            )

    def _answer(self, method: str, request: ApiRequest) -> Answer | ErrorPage:
        handler, token = self._route(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        refused = token_error(request.token, token)
        if refused is not None:
            return 200, refused.as_body(), {}
        params = request.params
        if token == self.bot_token:
            missing = scope_error(method, self._kind_of(params), self._granted_scopes)
            if missing is not None:
                return 200, missing.as_body(), self._scopes_header(token)
            params = as_granted(method, params, self._granted_scopes)
        fault = self._faults.fault_for(method, time.monotonic())
        if fault is not None and not fault.carried_out:
            return self._faulty_answer(fault)
        try:
            body = {"ok": True, **handler(MethodCall(params, self._workspace, self.url))}
        except SlackError as error:
            body = error.as_body()
        if fault is not None:
            return self._faulty_answer(fault)
        # A deep copy, so the recorded answer never changes when the stored message does.
        return 200, copy.deepcopy(body), self._scopes_header(token)

    @staticmethod
    def _faulty_answer(fault: InjectedFault) -> Answer | ErrorPage:
        if fault.page is not None:
            return ErrorPage(fault.status, fault.page, fault.page_type, fault.headers())
        return fault.status, fault.body(), fault.headers()

    def _scopes_header(self, token: str) -> dict[str, str]:
        if token != self.bot_token or not self._scopes_listed:
            return {}
        return {SCOPES_HEADER: ",".join(self._granted_scopes)}

    def _kind_of(self, params: dict[str, Any]) -> str | None:
        """The kind of conversation a call is about, when it names one that exists."""
        channel = self._workspace.channels.get(str(params.get("channel")))
        return None if channel is None else channel.kind

    def _route(self, method: str) -> tuple[Handler | None, str]:
        """The method's handler and the one token it accepts."""
        if method == CONNECTIONS_OPEN:
            return self._open_socket_connection, self.app_token
        return API_METHODS.get(method), self.bot_token

    def _open_socket_connection(self, call: MethodCall) -> dict[str, Any]:
        return self._sockets.open_url(call.base_url)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        content = await request.read()
        with self._lock:
            upload = self._workspace.files.get(request.match_info["file_id"])
            if upload is None or upload.completed:
                return web.Response(status=404, text="upload not found")
            upload.content = content
        return web.Response(text=f"OK - {len(content)}")

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """A shared file's private URL: its bytes for the bot's token; without it, Slack's
        answer to a browser that is not signed in, a redirect to its sign-in page."""
        authorized = request.headers.get("Authorization") == f"Bearer {self.bot_token}"
        file_id = request.match_info["team_file"].partition("-")[2]
        with self._lock:
            self._file_downloads.append(FileDownload(request.path, authorized))
            shared = self._workspace.shared_files.get(file_id)
        if not authorized:
            raise web.HTTPFound(f"/?redir={request.path}")
        if shared is None:
            return web.Response(status=404, text="file not found")
        # In pieces, as a file arrives over a real network: a reader must wait for them all.
        response = web.StreamResponse(headers={"Content-Type": shared.type})
        response.content_length = len(shared.data)
        await response.prepare(request)
        for start in range(0, len(shared.data), FILE_PIECE_BYTES):
            await response.write(shared.data[start : start + FILE_PIECE_BYTES])
            await asyncio.sleep(0.001)
        await response.write_eof()
        return response

    async def _sign_in_page(self, request: web.Request) -> web.Response:
        return web.Response(text=SIGN_IN_PAGE, content_type="text/html")

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        with self._lock:
            self._response_url_posts.append((str(request.url.with_query(None)), body))
        return web.Response(text="ok")

    # -- faults and records --------------------------------------------------------------------

    def inject(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 429,
        error: str = "ratelimited",
        retry_after: int | str | None = 1,
        carried_out: bool = False,
        after: int = 0,
        page: str | None = None,
        page_type: str = "text/html",
    ) -> None:
        """The next `times` calls of `method` (once `after` more have gone through) answer
        HTTP `status` with {"ok": false, "error"} (done all the same when `carried_out`), or
        with `page` as a body of type `page_type` when given (not the Web API's JSON)."""
        fault = InjectedFault(status, error, retry_after, carried_out, page, page_type)
        with self._lock:
            self._faults.inject(method, fault, times, after=after)

    def lose_replies(
        self,
        method: str,
        times: int = 1,
        *,
        after_seconds: float = 0.0,
        carried_out: bool = True,
    ) -> None:
        """The connection of the next `times` calls of `method` drops `after_seconds` in,
        before any reply: the caller cannot tell whether the call (`carried_out` or not)
        was done."""
        with self._lock:
            self._faults.lose_replies(method, LostReply(after_seconds, carried_out), times)

    def delay(self, method: str, seconds: float, *, ts: str | None = None) -> None:
        """Calls of `method` (editing message `ts`, when given) are acted on `seconds` late,
        on top of the latency; a caller that hangs up meanwhile never has its call done."""
        with self._lock:
            self._faults.delay(method, seconds, ts)

    def set_rate_limit(self, method: str, per_second: int | None) -> None:
        """Calls of `method` beyond `per_second` in any 1 s window get 429 (None lifts it)."""
        with self._lock:
            self._faults.set_rate_limit(method, per_second)

    def grant_scopes(self, scopes: Collection[str] | None) -> None:
        """The scopes the bot token was granted, as every answer to it lists them (every one
        manifest.yml asks for until set): a call needing another is refused with missing_scope.
        None grants every one but leaves the header out, as some proxies do."""
        with self._lock:
            self._scopes_listed = scopes is not None
            self._granted_scopes = manifest_bot_scopes() if scopes is None else tuple(scopes)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def calls_for(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def calls_begun(self, method: str) -> int:
        """How many calls of `method` have come in, those still waiting out a `delay`
        included (`calls_for` records a call once it is answered)."""
        with self._lock:
            return self._calls_begun[method]

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()
            self._calls_begun.clear()

    # -- the workspace, as tests see it ----------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        display_name: str,
        is_bot: bool = False,
        *,
        bot_id: str | None = None,
        team_id: str | None = None,
        described: bool = True,
    ) -> None:
        """A person (or bot user); `team_id`: of another organisation, in the Slack Connect
        channels; `described=False`: one users.info answers user_not_found for."""
        name = display_name.lower().replace(" ", ".")
        user = User(user_id, name, display_name, team_id or self.team_id, is_bot, bot_id, described)
        with self._lock:
            self._workspace.add_user(user)

    def add_channel(
        self, channel_id: str, name: str, kind: str = "channel", *, im_user: str | None = None
    ) -> None:
        """Add a conversation: kind is "channel" (public), "group" (private), "im" or "mpim"."""
        with self._lock:
            self._workspace.add_channel(Channel(channel_id, name, kind, im_user))

    def user(self, user_id: str) -> dict[str, Any]:
        """users.info's view of a user."""
        with self._lock:
            return self._workspace.user(user_id).as_api()

    def conversation(self, channel: str) -> dict[str, Any]:
        """conversations.info's view of a conversation."""
        with self._lock:
            return self._workspace.channel(channel).as_api()

    def channel_kind(self, channel: str) -> str:
        """ "channel", "group", "im" or "mpim": the channel_type events carry."""
        with self._lock:
            return self._workspace.channel(channel).kind

    def direct_message_channel(self, user_id: str) -> str:
        """The ID of the bot's IM with `user_id` (KeyError when there is none)."""
        with self._lock:
            for channel in self._workspace.channels.values():
                if channel.kind == "im" and channel.im_user == user_id:
                    return channel.id
        raise KeyError(f"no IM between the bot and {user_id}")

    def next_ts(self) -> str:
        """A fresh ts from the workspace clock (for events such as deletions and reactions)."""
        with self._lock:
            return self._workspace.clock.next()

    def new_response_url(self) -> str:
        """A response_url for a slash command or action; what the bot posts there is kept."""
        return f"{self.url}{RESPONSE_URL_PATH}{uuid.uuid4().hex}"

    def response_url_posts(self, response_url: str | None = None) -> list[dict[str, Any]]:
        """The JSON bodies the bot posted to `response_url` (or to any response URL)."""
        with self._lock:
            posts = self._response_url_posts
            return copy.deepcopy([body for url, body in posts if response_url in (None, url)])

    def post_user_message(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        files: Sequence[str | SharedFile] = (),
        forwarding: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """A person (or a bot user such as U0OTHERBOT) posts, with `files` (a name alone is an
        empty file of that name) shared along, forwarding the message `(channel, ts)` if
        given; returns the stored message."""
        with self._lock:
            target = self._workspace.channel(channel)
            author = self._workspace.user(user)
            message: dict[str, Any] = {"user": author.id, "text": text}
            if author.bot_id:
                message["bot_id"] = author.bot_id
            else:
                message |= {"client_msg_id": str(uuid.uuid4()), "blocks": rich_text_blocks(text)}
            if files:
                message["upload"] = True
                message["files"] = [self._share(file, author.id) for file in files]
            if forwarding is not None:
                message["attachments"] = [self._forwarded(*forwarding)]
            if author.team_id != self.team_id:  # of another organisation (Slack Connect)
                message |= {
                    "team": author.team_id,
                    "user_team": author.team_id,
                    "source_team": self.team_id,
                    "user_profile": author.message_profile(),
                }
            return copy.deepcopy(self._workspace.post(target, message, thread_ts))

    def _forwarded(self, channel: str, ts: str) -> dict[str, Any]:
        """A message shared into another, as Slack attaches it there."""
        source = self._workspace.channel(channel)
        original = self._workspace.message(source, ts)
        author = self._workspace.user(original.get("user"))
        return {
            "id": 1,
            "is_share": True,
            "is_msg_unfurl": True,
            "ts": ts,
            "author_id": author.id,
            "author_name": author.display_name,
            "channel_id": source.id,
            "channel_name": source.name,
            "from_url": f"{PERMALINK_BASE}/{source.id}/p{ts.replace('.', '')}",
            "text": original.get("text", ""),
            "fallback": f"[{ts}] {author.name}: {original.get('text', '')}",
            "message_blocks": [
                {
                    "team": self.team_id,
                    "channel": source.id,
                    "ts": ts,
                    "message": {"blocks": copy.deepcopy(original.get("blocks", []))},
                }
            ],
            "files": copy.deepcopy(original.get("files", [])),
        }

    def _share(self, file: str | SharedFile, user_id: str) -> dict[str, Any]:
        shared = SharedFile(file) if isinstance(file, str) else file
        file_id = self._workspace.new_id("F")
        if not shared.deleted:
            self._workspace.shared_files[file_id] = shared
        described = file_object(
            shared, file_id, user_id=user_id, team_id=self.team_id, base_url=self.url
        )
        self._workspace.shared_file_objects[file_id] = described
        return file_access_stub(file_id) if shared.external else described

    def file_downloads(self) -> list[FileDownload]:
        """Every request for a shared file's private URL, in order."""
        with self._lock:
            return list(self._file_downloads)

    def edit_user_message(
        self, channel: str, ts: str, text: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A person edits their message; returns it as it was and as it is now."""
        with self._lock:
            message = self._workspace.message(self._workspace.channel(channel), ts)
            previous = copy.deepcopy(message)
            message |= {
                "text": text,
                "blocks": rich_text_blocks(text),
                "edited": {"user": message["user"], "ts": self._workspace.clock.next()},
            }
            return previous, copy.deepcopy(message)

    def delete_message(self, channel: str, ts: str) -> dict[str, Any]:
        """Delete any message (as its author would); returns the message as it was."""
        with self._lock:
            return copy.deepcopy(self._workspace.delete(self._workspace.channel(channel), ts))

    def add_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        """Someone reacts to a message with :name:."""
        with self._lock:
            target = self._workspace.channel(channel)
            message = self._workspace.message(target, ts)
            self._workspace.add_reaction(message, self._workspace.user(user).id, name)

    def remove_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        """Someone takes their :name: off a message."""
        with self._lock:
            target = self._workspace.channel(channel)
            message = self._workspace.message(target, ts)
            self._workspace.remove_reaction(message, self._workspace.user(user).id, name)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            target = self._workspace.channel(channel)
            return copy.deepcopy(self._workspace.message(target, ts))

    def message_or_none(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message at `ts` (e.g. the tombstone a deleted parent leaves), if there is one."""
        with self._lock:
            found = self._workspace.channel(channel).messages.get(ts)
            return copy.deepcopy(found) if found is not None else None

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The channel's top-level messages, oldest first."""
        with self._lock:
            target = self._workspace.channel(channel)
            return copy.deepcopy(self._workspace.top_level(target))

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The replies in a thread, oldest first, without the parent."""
        with self._lock:
            target = self._workspace.channel(channel)
            return copy.deepcopy(self._workspace.replies(target, thread_ts))

    def bot_messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """The bot's top-level messages in `channel`, or its replies in thread `thread_ts`."""
        found = self.messages(channel) if thread_ts is None else self.replies(channel, thread_ts)
        return [message for message in found if message.get("bot_id") == self.bot_id]

    def ephemeral_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            found = self._workspace.ephemerals
            return copy.deepcopy([e for e in found if channel in (None, e["channel"])])

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The App Home view last published for `user_id`."""
        with self._lock:
            return copy.deepcopy(self._workspace.home_views.get(user_id))

    def uploaded_files(
        self, channel: str | None = None, thread_ts: str | None = None
    ) -> list[UploadedFile]:
        """Completed uploads, optionally only those shared in `channel` (and thread)."""
        with self._lock:
            return [
                dataclasses.replace(upload)
                for upload in self._workspace.files.values()
                if upload.completed
                and channel in (None, upload.channel)
                and thread_ts in (None, upload.thread_ts)
            ]

    def _seed_directory(self) -> None:
        workspace = self._workspace
        for user_id, name in PEOPLE.items():
            workspace.add_user(User(user_id, name.lower(), name, self.team_id))
        workspace.add_user(
            User(self.bot_user_id, "chorus", "Chorus", self.team_id, True, self.bot_id)
        )
        workspace.add_user(
            User(OTHER_BOT_USER_ID, "otherbot", "otherbot", self.team_id, True, OTHER_BOT_ID)
        )
        for channel_id, name in CHANNELS.items():
            workspace.add_channel(Channel(channel_id, name, "channel"))
        for channel_id, user_id in DIRECT_MESSAGES.items():
            workspace.add_channel(Channel(channel_id, user_id, "im", im_user=user_id))
