"""The test doubles behave like the real services they stand in for, as real clients see them."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import httpx
import pytest
from aiohttp import web
from httpx_sse import aconnect_sse, connect_sse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.doubles import (
    BotProcess,
    FakeModelServer,
    ModelFault,
    ModelScript,
    ServerThread,
    SharedFile,
    SlackEmulator,
    SlackEventSender,
    free_port,
    wait_until,
)
from tests.doubles.slack_emulator.socket_mode import SocketModeError

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"


# -- fixtures ----------------------------------------------------------------------------------


class RecordingEndpoint:
    """A stand-in for the bot's request URL: acknowledges and keeps every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[dict[str, str], bytes]] = []
        app = web.Application()
        app.router.add_post("/slack/events", self._receive)
        self.server = ServerThread(app, name="recording-endpoint").start()
        self.url = f"{self.server.url}/slack/events"

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._lock:
            self._received.append((dict(request.headers), body))
        return web.Response(text="")

    @property
    def received(self) -> list[tuple[dict[str, str], bytes]]:
        with self._lock:
            return list(self._received)

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as running:
        yield running


@pytest.fixture
def slack(emulator: SlackEmulator) -> WebClient:
    return WebClient(token=TOKEN, base_url=emulator.api_url)


@pytest.fixture
def endpoint() -> Iterator[RecordingEndpoint]:
    recording = RecordingEndpoint()
    yield recording
    recording.server.stop()


@pytest.fixture
def sender(emulator: SlackEmulator) -> SlackEventSender:
    return SlackEventSender(emulator, signing_secret=SECRET)


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    with FakeModelServer() as running:
        yield running


def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


# -- Slack Web API emulator --------------------------------------------------------------------


def test_bot_replies_in_a_thread_and_edits_its_reply(emulator: SlackEmulator, slack: WebClient):
    question = emulator.post_user_message("C0GENERAL", "U0ALICE", "<@U0BOT> hello")
    posted = slack.chat_postMessage(
        channel="C0GENERAL", thread_ts=question["ts"], text="…", username="Claude Sonnet 4.5"
    )
    slack.chat_update(channel="C0GENERAL", ts=posted["ts"], text="Hello Alice")

    thread = slack.conversations_replies(channel="C0GENERAL", ts=question["ts"])["messages"]
    assert [m["text"] for m in thread] == ["<@U0BOT> hello", "Hello Alice"]
    assert thread[0]["reply_count"] == 1 and thread[0]["latest_reply"] == posted["ts"]
    reply = emulator.replies("C0GENERAL", question["ts"])[0]
    assert reply["bot_id"] == "B0BOT" and reply["user"] == "U0BOT"
    assert reply["username"] == "Claude Sonnet 4.5" and reply["edited"]["user"] == "U0BOT"
    assert emulator.bot_messages("C0GENERAL", question["ts"]) == [reply]
    assert emulator.bot_messages("C0GENERAL") == []


def test_message_timestamps_strictly_increase(emulator: SlackEmulator, slack: WebClient):
    stamps = [slack.chat_postMessage(channel="C0RANDOM", text=str(n))["ts"] for n in range(5)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5
    assert [m["ts"] for m in emulator.messages("C0RANDOM")] == stamps


def test_wrong_token_is_invalid_auth_and_missing_token_is_not_authed(emulator: SlackEmulator):
    wrong = WebClient(token="xoxb-wrong", base_url=emulator.api_url)
    assert slack_error(wrong.auth_test).response["error"] == "invalid_auth"
    anonymous = httpx.post(f"{emulator.api_url}auth.test", trust_env=False)
    assert anonymous.json() == {"ok": False, "error": "not_authed"}


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"channel": "C0NOPE", "text": "hi"}, "channel_not_found"),
        ({"channel": "C0GENERAL"}, "no_text"),
        ({"channel": "C0GENERAL", "text": "x" * 40_001}, "msg_too_long"),
    ],
)
def test_post_message_refuses_what_slack_refuses(
    slack: WebClient, arguments: dict[str, Any], error: str
):
    assert slack_error(lambda: slack.chat_postMessage(**arguments)).response["error"] == error


def section(chars: int) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "s" * chars}}


def markdown(chars: int) -> dict[str, Any]:
    return {"type": "markdown", "text": "m" * chars}


@pytest.mark.parametrize(
    "blocks",
    [
        [{"type": "divider"}] * 51,
        [section(3_001)],
        [markdown(6_001), markdown(6_000)],
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        [{"type": "carousel"}],
    ],
    ids=["51 blocks", "section 3001", "markdown 12001", "context 11", "unknown type"],
)
def test_invalid_blocks_are_refused(slack: WebClient, blocks: list[dict[str, Any]]):
    refused = slack_error(
        lambda: slack.chat_postMessage(channel="C0GENERAL", text="fallback", blocks=blocks)
    )
    assert refused.response["error"] == "invalid_blocks"


def test_blocks_at_the_limits_are_accepted(slack: WebClient):
    blocks = [section(3_000), markdown(12_000), *[{"type": "divider"}] * 48]
    assert slack.chat_postMessage(channel="C0GENERAL", text="fallback", blocks=blocks)["ok"]


def test_unknown_method_answers_unknown_method(slack: WebClient):
    assert slack_error(lambda: slack.api_call("chat.teleport")).response["error"] == (
        "unknown_method"
    )


def test_only_the_bots_own_messages_can_be_updated(emulator: SlackEmulator, slack: WebClient):
    alice = emulator.post_user_message("C0GENERAL", "U0ALICE", "mine")
    refused = slack_error(lambda: slack.chat_update(channel="C0GENERAL", ts=alice["ts"], text="x"))
    assert refused.response["error"] == "cant_update_message"
    missing = slack_error(lambda: slack.chat_update(channel="C0GENERAL", ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"


def test_injected_429_carries_retry_after_then_calls_succeed(
    emulator: SlackEmulator, slack: WebClient
):
    emulator.inject("chat.update", status=429, retry_after=3)
    posted = slack.chat_postMessage(channel="C0GENERAL", text="streaming")
    refused = slack_error(lambda: slack.chat_update(channel="C0GENERAL", ts=posted["ts"], text="a"))
    assert refused.response.status_code == 429
    assert refused.response.headers["Retry-After"] == "3"
    assert refused.response["error"] == "ratelimited"
    assert slack.chat_update(channel="C0GENERAL", ts=posted["ts"], text="b")["ok"]
    assert [call.status for call in emulator.calls_for("chat.update")] == [429, 200]


def test_injected_server_error(emulator: SlackEmulator, slack: WebClient):
    emulator.inject("chat.postMessage", times=2, status=500, error="internal_error")
    for _ in range(2):
        refused = slack_error(lambda: slack.chat_postMessage(channel="C0GENERAL", text="x"))
        assert (refused.response.status_code, refused.response["error"]) == (500, "internal_error")
    assert slack.chat_postMessage(channel="C0GENERAL", text="x")["ok"]


def test_a_lost_reply_drops_the_connection_after_the_call_is_done_or_not(
    emulator: SlackEmulator,
):
    emulator.lose_replies("chat.postMessage", carried_out=True)
    emulator.lose_replies("chat.postMessage", carried_out=False)
    no_retries = WebClient(token=TOKEN, base_url=emulator.api_url, retry_handlers=[])
    for text in ("done", "never done"):
        with pytest.raises(OSError):  # urllib's view of a connection dropped mid-request
            no_retries.chat_postMessage(channel="C0GENERAL", text=text)
    assert [m["text"] for m in emulator.bot_messages("C0GENERAL")] == ["done"]
    assert [call.status for call in emulator.calls_for("chat.postMessage")] == [0, 0]


def test_message_metadata_is_read_back_only_when_asked_for(slack: WebClient):
    metadata = {"event_type": "chorus_message", "event_payload": {"answer_id": "7"}}
    slack.chat_postMessage(channel="C0GENERAL", text="tagged", metadata=metadata)
    plain = slack.conversations_history(channel="C0GENERAL")["messages"][0]
    full = slack.conversations_history(channel="C0GENERAL", include_all_metadata=True)
    assert "metadata" not in plain
    assert full["messages"][0]["metadata"] == metadata


def test_sustained_rate_limit_refuses_calls_beyond_the_window(
    emulator: SlackEmulator, slack: WebClient
):
    emulator.set_rate_limit("chat.postMessage", 2)
    answers = []
    for _ in range(3):
        try:
            answers.append(slack.chat_postMessage(channel="C0GENERAL", text="x").status_code)
        except SlackApiError as refused:
            answers.append(refused.response.status_code)
    assert answers == [200, 200, 429]
    emulator.set_rate_limit("chat.postMessage", None)
    assert slack.chat_postMessage(channel="C0GENERAL", text="x")["ok"]


def test_replies_paginate_with_cursors(emulator: SlackEmulator, slack: WebClient):
    parent = emulator.post_user_message("C0GENERAL", "U0ALICE", "parent")
    for n in range(4):
        emulator.post_user_message("C0GENERAL", "U0BOB", f"reply {n}", thread_ts=parent["ts"])
    texts, cursor, pages = [], None, 0
    while True:
        page = slack.conversations_replies(
            channel="C0GENERAL", ts=parent["ts"], limit=2, cursor=cursor
        )
        texts += [m["text"] for m in page["messages"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            break
    assert texts == ["parent", "reply 0", "reply 1", "reply 2", "reply 3"] and pages == 3


def test_history_is_newest_first_and_leaves_out_replies(emulator: SlackEmulator, slack: WebClient):
    first = emulator.post_user_message("C0RANDOM", "U0ALICE", "first")
    emulator.post_user_message("C0RANDOM", "U0BOB", "in thread", thread_ts=first["ts"])
    emulator.post_user_message("C0RANDOM", "U0CAROL", "second")
    history = slack.conversations_history(channel="C0RANDOM")["messages"]
    assert [m["text"] for m in history] == ["second", "first"]


def test_form_get_and_json_calls_are_read_alike(emulator: SlackEmulator):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    form = httpx.post(
        f"{emulator.api_url}chat.postMessage",
        data={"token": TOKEN, "channel": "C0GENERAL", "text": "hi", "blocks": json.dumps(blocks)},
        trust_env=False,
    ).json()
    assert form["ok"] and form["message"]["blocks"] == blocks
    info = httpx.get(
        f"{emulator.api_url}users.info",
        params={"user": "U0CAROL"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        trust_env=False,
    ).json()
    assert info["user"]["profile"]["display_name"] == "Carol" and not info["user"]["is_bot"]
    recorded = emulator.calls_for("chat.postMessage")[0]
    assert recorded.params == {"channel": "C0GENERAL", "text": "hi", "blocks": blocks}
    assert recorded.ok and recorded.response["ts"] == form["ts"]


def test_json_body_token_is_ignored_as_slack_does(emulator: SlackEmulator):
    answer = httpx.post(
        f"{emulator.api_url}auth.test", json={"token": TOKEN}, trust_env=False
    ).json()
    assert answer["error"] == "not_authed"


async def test_async_client_posts_and_reads(emulator: SlackEmulator):
    client = AsyncWebClient(token=TOKEN, base_url=emulator.api_url)
    posted = await client.chat_postMessage(channel="D0ALICE", text="Hi in DM")
    info = await client.conversations_info(channel="D0ALICE")
    identity = await client.auth_test()
    assert posted["channel"] == "D0ALICE" and info["channel"]["is_im"]
    assert info["channel"]["user"] == "U0ALICE"
    assert (identity["user_id"], identity["bot_id"]) == ("U0BOT", "B0BOT")


def test_files_upload_v2_keeps_the_content_in_the_thread(emulator: SlackEmulator, slack: WebClient):
    parent = slack.chat_postMessage(channel="C0GENERAL", text="a long answer")
    slack.files_upload_v2(
        channel="C0GENERAL",
        thread_ts=parent["ts"],
        content="the rest of the answer",
        filename="answer.md",
        title="Continued",
    )
    [upload] = emulator.uploaded_files("C0GENERAL", parent["ts"])
    assert (upload.text, upload.name, upload.title) == (
        "the rest of the answer",
        "answer.md",
        "Continued",
    )
    [share] = emulator.replies("C0GENERAL", parent["ts"])
    assert share["files"][0]["id"] == upload.id and share["bot_id"] == "B0BOT"


def test_shared_files_are_served_at_their_private_urls_only_with_the_bot_token(
    emulator: SlackEmulator,
):
    message = emulator.post_user_message(
        "C0GENERAL",
        "U0ALICE",
        "see attached",
        files=[SharedFile("notes.txt", "line one\n"), "chart.png"],
    )
    notes, chart = message["files"]
    assert (notes["mimetype"], notes["filetype"], notes["size"]) == ("text/plain", "text", 9)
    assert (chart["mimetype"], chart["mode"]) == ("image/png", "hosted")
    with httpx.Client(trust_env=False) as client:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        fetched = client.get(notes["url_private_download"], headers=bearer)
        assert fetched.text == "line one\n"
        assert fetched.headers["content-type"].startswith("text/plain")
        anonymous = client.get(notes["url_private"])
        assert anonymous.status_code == 302
        signed_out = client.get(notes["url_private"], follow_redirects=True)
        assert signed_out.headers["content-type"].startswith("text/html")
    assert [d.authorized for d in emulator.file_downloads()] == [True, False, False]
    assert emulator.file_downloads()[0].path.endswith("/download/notes.txt")


def test_reactions_views_ephemerals_and_permalinks(emulator: SlackEmulator, slack: WebClient):
    posted = slack.chat_postMessage(channel="C0GENERAL", text="answer")
    slack.reactions_add(channel="C0GENERAL", timestamp=posted["ts"], name="white_check_mark")
    emulator.add_reaction("C0GENERAL", posted["ts"], "U0ALICE", "white_check_mark")
    refused = slack_error(
        lambda: slack.reactions_add(
            channel="C0GENERAL", timestamp=posted["ts"], name="white_check_mark"
        )
    )
    assert refused.response["error"] == "already_reacted"
    reactions = slack.reactions_get(channel="C0GENERAL", timestamp=posted["ts"])["message"]
    assert reactions["reactions"] == [
        {"name": "white_check_mark", "users": ["U0BOT", "U0ALICE"], "count": 2}
    ]
    slack.views_publish(user_id="U0BOB", view={"type": "home", "blocks": [{"type": "divider"}]})
    home = emulator.home_view("U0BOB")
    assert home is not None and home["blocks"] == [{"type": "divider"}]
    slack.chat_postEphemeral(channel="C0GENERAL", user="U0BOB", text="only you")
    assert [e["text"] for e in emulator.ephemeral_messages("C0GENERAL")] == ["only you"]
    link = slack.chat_getPermalink(channel="C0GENERAL", message_ts=posted["ts"])["permalink"]
    assert link.endswith(posted["ts"].replace(".", ""))


def test_deleting_a_parent_with_replies_leaves_a_tombstone(
    emulator: SlackEmulator, slack: WebClient
):
    parent = emulator.post_user_message("C0GENERAL", "U0ALICE", "question")
    reply = slack.chat_postMessage(channel="C0GENERAL", thread_ts=parent["ts"], text="answer")
    removed = emulator.delete_message("C0GENERAL", parent["ts"])
    assert removed["text"] == "question"
    assert emulator.message("C0GENERAL", parent["ts"])["subtype"] == "tombstone"
    slack.chat_delete(channel="C0GENERAL", ts=reply["ts"])
    assert emulator.replies("C0GENERAL", parent["ts"]) == []


def test_helpers_hand_out_copies(emulator: SlackEmulator):
    message = emulator.post_user_message("C0GENERAL", "U0ALICE", "original")
    message["text"] = "tampered"
    emulator.messages("C0GENERAL")[0]["text"] = "tampered too"
    assert emulator.message("C0GENERAL", message["ts"])["text"] == "original"


def test_latency_delays_every_answer():
    with SlackEmulator(latency_seconds=0.05) as slow:
        started = time.monotonic()
        WebClient(token=TOKEN, base_url=slow.api_url).auth_test()
        assert time.monotonic() - started >= 0.05


# -- event delivery ----------------------------------------------------------------------------


def test_a_mention_arrives_as_signed_message_and_app_mention(
    sender: SlackEventSender, endpoint: RecordingEndpoint
):
    said = sender.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> compare these", to=[endpoint.url])

    verifier = SignatureVerifier(SECRET)
    for headers, body in endpoint.received:
        assert headers["Content-Type"] == "application/json"
        assert verifier.is_valid(
            body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
        )
    message, mention = endpoint.envelopes()
    assert message["type"] == mention["type"] == "event_callback"
    assert message["event_id"] != mention["event_id"]
    assert message["authorizations"][0]["user_id"] == "U0BOT"
    assert message["team_id"] == "T0CHORUS" and message["api_app_id"] == "A0CHORUS"
    assert message["event"]["type"] == "message" and message["event"]["channel_type"] == "channel"
    assert mention["event"]["type"] == "app_mention"
    assert message["event"]["ts"] == mention["event"]["ts"] == said["ts"]
    assert sender.last_envelopes == [message, mention]


def test_mention_first_order_and_no_app_mention_in_a_dm(
    sender: SlackEventSender, endpoint: RecordingEndpoint
):
    sender.user_says("C0GENERAL", "U0BOB", "<@U0BOT> hi", to=[endpoint.url], order="mention_first")
    sender.user_says("D0BOB", "U0BOB", "<@U0BOT> hi in DM", to=[endpoint.url])
    events = [envelope["event"] for envelope in endpoint.envelopes()]
    assert [(e["type"], e.get("channel_type")) for e in events] == [
        ("app_mention", None),
        ("message", "channel"),
        ("message", "im"),
    ]


def test_a_thread_reply_names_its_thread_and_parent_author(
    sender: SlackEventSender, endpoint: RecordingEndpoint
):
    parent = sender.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> q", to=[endpoint.url])
    sender.user_says("C0GENERAL", "U0BOB", "follow-up", thread_ts=parent["ts"], to=[endpoint.url])
    follow_up = endpoint.envelopes()[-1]["event"]
    assert follow_up["thread_ts"] == parent["ts"] and follow_up["parent_user_id"] == "U0ALICE"
    assert "thread_ts" not in endpoint.envelopes()[0]["event"]


def test_a_retry_repeats_the_event_id_with_retry_headers(
    sender: SlackEventSender, endpoint: RecordingEndpoint
):
    sender.user_says("C0GENERAL", "U0ALICE", "plain message", to=[endpoint.url])
    [original] = sender.last_envelopes
    sender.deliver(endpoint.url, original, retry_num=1, retry_reason="http_timeout")
    (first_headers, first), (retry_headers, retry) = endpoint.received
    assert json.loads(first)["event_id"] == json.loads(retry)["event_id"]
    assert "X-Slack-Retry-Num" not in first_headers
    assert retry_headers["X-Slack-Retry-Num"] == "1"
    assert retry_headers["X-Slack-Retry-Reason"] == "http_timeout"


def test_concurrent_delivery_reaches_every_replica(sender: SlackEventSender):
    replicas = [RecordingEndpoint(), RecordingEndpoint()]
    try:
        sender.user_says(
            "C0GENERAL", "U0ALICE", "<@U0BOT> x", to=[r.url for r in replicas], concurrent=True
        )
        assert [len(r.received) for r in replicas] == [2, 2]
    finally:
        for replica in replicas:
            replica.server.stop()


def test_deletions_and_other_bots_arrive_as_slack_sends_them(
    sender: SlackEventSender, endpoint: RecordingEndpoint, emulator: SlackEmulator
):
    said = sender.user_says("C0GENERAL", "U0ALICE", "oops", to=[endpoint.url])
    sender.user_deletes("C0GENERAL", said["ts"], to=[endpoint.url])
    sender.bot_posts("C0GENERAL", "beep", to=[endpoint.url])
    sender.bot_posts("C0GENERAL", "legacy beep", to=[endpoint.url], legacy=True)
    _, deleted, bot, legacy = [envelope["event"] for envelope in endpoint.envelopes()]
    assert deleted["subtype"] == "message_deleted" and deleted["deleted_ts"] == said["ts"]
    assert deleted["hidden"] is True and deleted["previous_message"]["text"] == "oops"
    assert bot["bot_id"] == "B0OTHER" and bot["user"] == "U0OTHERBOT"
    assert legacy["subtype"] == "bot_message" and legacy["bot_id"] == "B0OTHER"
    assert [m["text"] for m in emulator.messages("C0GENERAL")] == ["beep", "legacy beep"]


def post_with_a_button(slack: WebClient) -> str:
    """Post a message with one button (action_id "stop", value "a1", block "controls"); its ts."""
    button = {"type": "button", "action_id": "stop", "text": {"type": "plain_text", "text": "Stop"}}
    posted = slack.chat_postMessage(
        channel="C0GENERAL",
        text="streaming",
        blocks=[
            {"type": "actions", "block_id": "controls", "elements": [{**button, "value": "a1"}]}
        ],
    )
    return posted["ts"]


def test_slash_commands_and_button_clicks_are_signed_forms(
    sender: SlackEventSender, endpoint: RecordingEndpoint, slack: WebClient
):
    sender.user_runs_command("C0GENERAL", "U0ALICE", "models claude gpt", to=endpoint.url)
    ts = post_with_a_button(slack)
    sender.user_clicks("C0GENERAL", ts, "stop", "U0BOB", to=endpoint.url)

    verifier = SignatureVerifier(SECRET)
    (_, command_body), (_, click_body) = endpoint.received
    for headers, body in endpoint.received:
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert verifier.is_valid(
            body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
        )
    command = {name: values[0] for name, values in parse_qs(command_body.decode()).items()}
    assert (command["command"], command["text"]) == ("/chorus", "models claude gpt")
    assert command["channel_id"] == "C0GENERAL" and command["user_id"] == "U0ALICE"
    click = json.loads(parse_qs(click_body.decode())["payload"][0])
    assert click["type"] == "block_actions" and click["container"]["message_ts"] == ts
    assert click["actions"][0]["action_id"] == "stop" and click["actions"][0]["value"] == "a1"
    assert click["actions"][0]["block_id"] == "controls"


def test_response_urls_keep_what_the_bot_posts(emulator: SlackEmulator):
    url = emulator.new_response_url()
    httpx.post(url, json={"text": "Models: claude, gpt"}, trust_env=False)
    assert emulator.response_url_posts(url) == [{"text": "Models: claude, gpt"}]


def test_url_verification_sends_the_challenge(
    sender: SlackEventSender, endpoint: RecordingEndpoint
):
    sender.url_verification(endpoint.url, challenge="abc")
    assert endpoint.envelopes()[0]["challenge"] == "abc"


# -- Socket Mode -------------------------------------------------------------------------------


@dataclass
class SocketModeApp:
    """slack_sdk's own Socket Mode client (the bot's, on aiohttp), connected to the emulator:
    keeps every request and acknowledges it (a command with a reply) while `acknowledging`."""

    client: SocketModeClient
    received: list[SocketModeRequest]
    acknowledging: bool = True

    async def on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        self.received.append(request)
        if self.acknowledging:
            reply = {"text": "done"} if request.accepts_response_payload else None
            await client.send_socket_mode_response(SocketModeResponse(request.envelope_id, reply))


@pytest.fixture
async def socket_app(emulator: SlackEmulator) -> AsyncIterator[SocketModeApp]:
    web_client = AsyncWebClient(base_url=emulator.api_url)
    app = SocketModeApp(SocketModeClient(emulator.app_token, web_client=web_client), [])
    app.client.socket_mode_request_listeners.append(app.on_request)
    await app.client.connect()
    await asyncio.to_thread(emulator.socket_mode.wait_for_connection)
    yield app
    await app.client.close()


def test_only_the_app_token_opens_socket_mode_connections(emulator: SlackEmulator):
    client = WebClient(base_url=emulator.api_url)
    url = client.apps_connections_open(app_token=emulator.app_token)["url"]
    assert url.startswith(emulator.url.replace("http://", "ws://") + "/socket-mode/")
    refusals = [
        slack_error(lambda: client.apps_connections_open(app_token=TOKEN)),
        slack_error(lambda: client.apps_connections_open(app_token="xapp-1-A0CHORUS-1-wrong")),
        slack_error(lambda: WebClient(emulator.app_token, emulator.api_url).auth_test()),
    ]
    assert [error.response["error"] for error in refusals] == [
        "not_allowed_token_type",
        "invalid_auth",
        "not_allowed_token_type",
    ]


def test_pushing_without_a_connection_fails(emulator: SlackEmulator):
    with pytest.raises(SocketModeError, match="no Socket Mode connection is open"):
        emulator.socket_mode.deliver({"type": "event_callback"})


async def test_a_ticket_opens_one_connection_only(emulator: SlackEmulator):
    web_client = AsyncWebClient(base_url=emulator.api_url)
    url = (await web_client.apps_connections_open(app_token=emulator.app_token))["url"]
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
        hello = await socket.receive_json()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url)
    assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": "A0CHORUS"}
    assert refused.value.status == 401
    assert len(emulator.socket_mode.connections()) == 1


async def test_events_go_over_the_socket_and_their_acks_are_recorded(
    emulator: SlackEmulator, sender: SlackEventSender, socket_app: SocketModeApp
):
    await asyncio.to_thread(
        lambda: sender.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> hi", to=[emulator.socket_mode])
    )

    message, mention = socket_app.received
    assert [message.payload, mention.payload] == sender.last_envelopes
    assert mention.payload["event"]["type"] == "app_mention"
    assert (message.type, message.retry_attempt, message.retry_reason) == ("events_api", 0, "")
    assert not message.accepts_response_payload
    deliveries = emulator.socket_mode.deliveries()
    assert sender.last_responses == deliveries
    assert [d.envelope_id for d in deliveries] == [message.envelope_id, mention.envelope_id]
    assert all(d.acked and d.ack_payload is None for d in deliveries)


async def test_a_redelivery_carries_its_attempt_and_a_missing_ack_is_recorded(
    emulator: SlackEmulator, sender: SlackEventSender, socket_app: SocketModeApp
):
    envelope = sender.envelope({"type": "app_home_opened", "user": "U0ALICE"})
    socket_app.acknowledging = False
    delivery = await asyncio.to_thread(
        lambda: emulator.socket_mode.deliver(
            envelope, retry_attempt=2, retry_reason="timeout", timeout=0.2
        )
    )
    assert not delivery.acked and delivery.ack_seconds is None
    (request,) = await asyncio.to_thread(wait_until, lambda: socket_app.received)
    assert (request.retry_attempt, request.retry_reason) == (2, "timeout")
    assert request.payload["event_id"] == envelope["event_id"]


async def test_a_slash_command_goes_over_the_socket_and_its_ack_carries_the_reply(
    emulator: SlackEmulator, sender: SlackEventSender, socket_app: SocketModeApp
):
    delivery = await asyncio.to_thread(
        lambda: sender.user_runs_command("C0GENERAL", "U0ALICE", "help", to=emulator.socket_mode)
    )
    (request,) = socket_app.received
    assert (request.type, request.accepts_response_payload) == ("slash_commands", True)
    assert (request.payload["command"], request.payload["text"]) == ("/chorus", "help")
    assert request.payload["channel_id"] == "C0GENERAL" and request.payload["user_id"] == "U0ALICE"
    assert delivery.envelope_type == "slash_commands" and delivery.ack_payload == {"text": "done"}


async def test_a_button_click_goes_over_the_socket_as_an_interactive_envelope(
    emulator: SlackEmulator, sender: SlackEventSender, socket_app: SocketModeApp, slack: WebClient
):
    ts = post_with_a_button(slack)
    delivery = await asyncio.to_thread(
        lambda: sender.user_clicks("C0GENERAL", ts, "stop", "U0BOB", to=emulator.socket_mode)
    )
    (request,) = socket_app.received
    assert (request.type, request.accepts_response_payload) == ("interactive", False)
    click = request.payload
    assert click["type"] == "block_actions" and click["container"]["message_ts"] == ts
    assert (click["user"]["id"], click["actions"][0]["value"]) == ("U0BOB", "a1")
    assert delivery.envelope_type == "interactive" and delivery.payload == click
    assert delivery.acked and delivery.ack_payload is None


# -- fake model servers ------------------------------------------------------------------------

OPENAI_HEADERS = {"Authorization": "Bearer sk-test-openai"}
ANTHROPIC_HEADERS = {"x-api-key": "sk-test-anthropic", "anthropic-version": "2023-06-01"}
GEMINI_HEADERS = {"x-goog-api-key": "test-gemini-key"}
OPENAI_PATH = "/openai/v1/chat/completions"
RESPONSES_PATH = "/openai/v1/responses"
ANTHROPIC_PATH = "/anthropic/v1/messages"
GEMINI_PATH = "/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


def openai_request(model: str = "gpt-5.1", **extra: Any) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Alice: hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
        {"role": "user", "content": "Alice: what is 2+2?"},
    ]
    return {"model": model, "stream": True, "messages": messages, **extra}


def responses_request(model: str = "gpt-5-pro") -> dict[str, Any]:
    items = [
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": "Alice: hi"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "Alice: what is 2+2?"}]},
    ]
    return {"model": model, "stream": True, "input": items}


def anthropic_request(model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    messages = [
        {"role": "user", "content": "Alice: hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "Alice: what is 2+2?"}]},
    ]
    system = [{"type": "text", "text": "Be brief."}]
    return {
        "model": model,
        "max_tokens": 1024,
        "stream": True,
        "system": system,
        "messages": messages,
    }


def gemini_request() -> dict[str, Any]:
    contents = [
        {"role": "user", "parts": [{"text": "Alice: hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "Alice: what is 2+2?"}]},
    ]
    return {"systemInstruction": {"parts": [{"text": "Be brief."}]}, "contents": contents}


def stream_events(
    models: FakeModelServer, path: str, headers: dict[str, str], body: dict[str, Any]
) -> list[tuple[str, str]]:
    with (
        httpx.Client(base_url=models.url, trust_env=False, timeout=5.0) as client,
        connect_sse(client, "POST", path, headers=headers, json=body) as source,
    ):
        source.response.raise_for_status()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [(event.event, event.data) for event in source.iter_sse()]


def openai_finish_reason(chunks: list[dict[str, Any]]) -> str:
    return [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]][-1]


def openai_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def responses_finish_reason(chunks: list[dict[str, Any]]) -> str:
    if any(chunk["type"] == "response.refusal.done" for chunk in chunks):
        return "refusal"
    response = chunks[-1]["response"]
    details = response["incomplete_details"]
    return str(details["reason"] if details else response["status"])


def responses_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["delta"] for c in chunks if c["type"] == "response.output_text.delta")


def anthropic_stop_reason(chunks: list[dict[str, Any]]) -> str:
    return next(c["delta"]["stop_reason"] for c in chunks if c["type"] == "message_delta")


def anthropic_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")


def gemini_finish_reason(chunks: list[dict[str, Any]]) -> str:
    return str(chunks[-1]["candidates"][0]["finishReason"])


def gemini_text(chunks: list[dict[str, Any]]) -> str:
    parts = [c["candidates"][0].get("content", {}).get("parts", []) for c in chunks]
    return "".join(part["text"] for chunk_parts in parts for part in chunk_parts)


@dataclass(frozen=True)
class ProviderCase:
    """One provider's endpoint, a valid request to it, and where its stream says how it ended."""

    path: str
    headers: dict[str, str]
    body: Callable[[], dict[str, Any]]
    model: str
    rate_limit_error: str
    refusal_reason: str
    output_limit_reason: str
    finish_reason: Callable[[list[dict[str, Any]]], str]
    text: Callable[[list[dict[str, Any]]], str]

    def stream(self, models: FakeModelServer) -> list[tuple[str, str]]:
        return stream_events(models, self.path, self.headers, self.body())


PROVIDERS = {
    "openai": ProviderCase(
        OPENAI_PATH,
        OPENAI_HEADERS,
        openai_request,
        "gpt-5.1",
        "requests",
        "content_filter",
        "length",
        openai_finish_reason,
        openai_text,
    ),
    "openai-responses": ProviderCase(
        RESPONSES_PATH,
        OPENAI_HEADERS,
        responses_request,
        "gpt-5-pro",
        "requests",
        "refusal",
        "max_output_tokens",
        responses_finish_reason,
        responses_text,
    ),
    "anthropic": ProviderCase(
        ANTHROPIC_PATH,
        ANTHROPIC_HEADERS,
        anthropic_request,
        "claude-sonnet-4-5",
        "rate_limit_error",
        "refusal",
        "max_tokens",
        anthropic_stop_reason,
        anthropic_text,
    ),
    "gemini": ProviderCase(
        GEMINI_PATH,
        GEMINI_HEADERS,
        gemini_request,
        "gemini-2.5-pro",
        "RESOURCE_EXHAUSTED",
        "SAFETY",
        "MAX_TOKENS",
        gemini_finish_reason,
        gemini_text,
    ),
}


def test_openai_streams_chunks_usage_and_done(models: FakeModelServer):
    body = openai_request(stream_options={"include_usage": True})
    events = stream_events(models, OPENAI_PATH, OPENAI_HEADERS, body)
    assert events[-1] == ("message", "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert openai_text(chunks) == "gpt-5.1 answers: Alice: what is 2+2?"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize(
    ("prefix", "headers"),
    [("openrouter", {"Authorization": "Bearer sk-test-openrouter"}), ("ollama", {})],
)
def test_openai_compatible_providers_share_the_format(
    models: FakeModelServer, prefix: str, headers: dict[str, str]
):
    events = stream_events(models, f"/{prefix}/v1/chat/completions", headers, openai_request("m"))
    assert events[-1][1] == "[DONE]" and models.requests[-1].provider == prefix


def test_openai_responses_streams_numbered_typed_events_to_response_completed(
    models: FakeModelServer,
):
    events = stream_events(models, RESPONSES_PATH, OPENAI_HEADERS, responses_request())
    names = [name for name, _ in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-2:] == ["response.output_item.done", "response.completed"]
    payloads = [json.loads(data) for _, data in events]
    assert [p["type"] for p in payloads] == names
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    text = responses_text(payloads)
    assert text == "gpt-5-pro answers: Alice: what is 2+2?"
    done = next(p for p in payloads if p["type"] == "response.output_text.done")
    assert done["text"] == text
    response = payloads[-1]["response"]
    assert response["id"].startswith("resp_") and response["usage"]["output_tokens"] > 0


def test_anthropic_streams_message_start_to_message_stop(models: FakeModelServer):
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    payloads = [json.loads(data) for _, data in events]
    assert all(payload["type"] == name for name, payload in zip(names, payloads, strict=True))
    assert anthropic_text(payloads) == "claude-sonnet-4-5 answers: Alice: what is 2+2?"
    assert payloads[0]["message"]["usage"]["input_tokens"] > 0
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"


def test_gemini_streams_crlf_separated_chunks(models: FakeModelServer):
    raw = httpx.post(
        f"{models.url}{GEMINI_PATH}", headers=GEMINI_HEADERS, json=gemini_request(), trust_env=False
    ).text
    assert "\r\n\r\n" in raw
    events = stream_events(models, GEMINI_PATH, GEMINI_HEADERS, gemini_request())
    chunks = [json.loads(data) for _, data in events]
    assert gemini_text(chunks) == "gemini-2.5-pro answers: Alice: what is 2+2?"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] > 0


def error_type(body: dict[str, Any]) -> str:
    return str(body["error"]["type"])


def error_code(body: dict[str, Any]) -> str:
    return str(body["error"]["code"])


def error_status(body: dict[str, Any]) -> str:
    return str(body["error"]["status"])


ANTHROPIC_NO_VERSION = {"x-api-key": "sk-test-anthropic"}
ANTHROPIC_WRONG_KEY = {**ANTHROPIC_HEADERS, "x-api-key": "wrong"}


@pytest.mark.parametrize(
    ("path", "headers", "status", "read_error", "expected"),
    [
        pytest.param(OPENAI_PATH, {}, 401, error_type, "invalid_request_error", id="openai no key"),
        pytest.param(
            OPENAI_PATH,
            {"Authorization": "Bearer sk-no"},
            401,
            error_code,
            "invalid_api_key",
            id="openai wrong key",
        ),
        pytest.param(
            ANTHROPIC_PATH,
            ANTHROPIC_WRONG_KEY,
            401,
            error_type,
            "authentication_error",
            id="anthropic wrong key",
        ),
        pytest.param(
            ANTHROPIC_PATH,
            ANTHROPIC_NO_VERSION,
            400,
            error_type,
            "invalid_request_error",
            id="anthropic no version",
        ),
        pytest.param(GEMINI_PATH, {}, 403, error_status, "PERMISSION_DENIED", id="gemini no key"),
        pytest.param(
            f"{GEMINI_PATH}&key=test-gemini-key",
            GEMINI_HEADERS,
            400,
            error_status,
            "INVALID_ARGUMENT",
            id="gemini key in url",
        ),
    ],
)
def test_providers_refuse_bad_credentials_in_their_own_shape(
    models: FakeModelServer,
    path: str,
    headers: dict[str, str],
    status: int,
    read_error: Callable[[dict[str, Any]], str],
    expected: str,
):
    body = PROVIDERS[path.split("/")[1]].body()
    answer = httpx.post(f"{models.url}{path}", headers=headers, json=body, trust_env=False)
    assert answer.status_code == status
    assert read_error(answer.json()) == expected


def test_every_provider_reads_back_the_same_conversation(models: FakeModelServer):
    expected_turns = [
        ("user", "Alice: hi"),
        ("assistant", "Hello!"),
        ("user", "Alice: what is 2+2?"),
    ]
    for case in PROVIDERS.values():
        case.stream(models)
        [request] = models.requests_for(case.model)
        assert request.system_prompt() == "Be brief."
        assert request.turns() == expected_turns
        assert request.last_user_text() == "Alice: what is 2+2?"
    assert models.requests_for("google:gemini-2.5-pro") == models.requests_for("gemini-2.5-pro")


@pytest.mark.parametrize("case", PROVIDERS.values(), ids=PROVIDERS.keys())
def test_a_scripted_429_fails_then_the_model_recovers(models: FakeModelServer, case: ProviderCase):
    fault = ModelFault(status=429, message="slow down", retry_after=2)
    models.script(case.model, ModelScript(error=fault, fail_times=1))
    refused = httpx.post(
        f"{models.url}{case.path}", headers=case.headers, json=case.body(), trust_env=False
    )
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert case.rate_limit_error in refused.text and "slow down" in refused.text
    assert case.stream(models)


def test_anthropic_overloaded_is_529(models: FakeModelServer):
    models.script("claude-sonnet-4-5", ModelScript(error=ModelFault(status=529)))
    answer = httpx.post(
        f"{models.url}{ANTHROPIC_PATH}",
        headers=ANTHROPIC_HEADERS,
        json=anthropic_request(),
        trust_env=False,
    )
    assert answer.status_code == 529 and answer.json()["error"]["type"] == "overloaded_error"


def test_a_cut_stream_breaks_after_the_scripted_chunks(models: FakeModelServer):
    models.script(
        "gpt-5.1", ModelScript(reply="a" * 60, chunk_chars=10, error=ModelFault(cut_after_chunks=2))
    )
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.Client(base_url=models.url, trust_env=False) as client,
        connect_sse(
            client,
            "POST",
            OPENAI_PATH,
            headers=OPENAI_HEADERS,
            json=openai_request(),
        ) as source,
    ):
        received.extend(event.data for event in source.iter_sse())
    contents = [json.loads(data)["choices"][0]["delta"].get("content") for data in received]
    assert contents == ["", "a" * 10, "a" * 10]


def test_malformed_and_in_stream_errors(models: FakeModelServer):
    models.script("claude-sonnet-4-5", ModelScript(error=ModelFault(malformed_after_chunks=1)))
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[-1][1])
    models.script(
        "claude-sonnet-4-5", ModelScript(error=ModelFault(status=529, stream_error_after_chunks=1))
    )
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    assert events[-1][0] == "error"
    assert json.loads(events[-1][1])["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("case", PROVIDERS.values(), ids=PROVIDERS.keys())
def test_refusals_use_each_providers_finish_reason(models: FakeModelServer, case: ProviderCase):
    models.script(case.model, ModelScript(error=ModelFault(refusal=True)))
    chunks = [json.loads(data) for _, data in case.stream(models) if data != "[DONE]"]
    assert case.finish_reason(chunks) == case.refusal_reason


@pytest.mark.parametrize("case", PROVIDERS.values(), ids=PROVIDERS.keys())
def test_an_output_limit_ends_with_each_providers_max_tokens_finish(
    models: FakeModelServer, case: ProviderCase
):
    script = ModelScript(
        reply="a" * 60, chunk_chars=10, error=ModelFault(output_limit_after_chunks=2)
    )
    models.script(case.model, script)
    chunks = [json.loads(data) for _, data in case.stream(models) if data != "[DONE]"]
    assert case.finish_reason(chunks) == case.output_limit_reason
    assert case.text(chunks) == "a" * 20


@pytest.mark.parametrize(
    ("path", "headers", "body", "keep_alive"),
    [
        (ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request("m"), "event: ping"),
        (
            "/openrouter/v1/chat/completions",
            {"Authorization": "Bearer sk-test-openrouter"},
            openai_request("m"),
            ": OPENROUTER PROCESSING",
        ),
    ],
)
def test_a_keep_alive_only_stream_sends_keep_alives_and_no_text(
    models: FakeModelServer,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    keep_alive: str,
):
    models.script("m", ModelScript(error=ModelFault(keep_alive_only=True)))
    with (
        httpx.Client(base_url=models.url, trust_env=False, timeout=2) as client,
        client.stream("POST", path, headers=headers, json=body) as response,
    ):
        lines = response.iter_lines()
        seen = [next(lines) for _ in range(20)]
    assert sum(line == keep_alive for line in seen) >= 3
    assert not any("text_delta" in line or '"content": "m' in line for line in seen)
    wait_until(lambda: models.in_flight == 0, timeout=2.0, message="the stream never ended")


def test_a_hung_stream_sends_headers_then_nothing(models: FakeModelServer):
    models.script("gpt-5.1", ModelScript(error=ModelFault(hang_before_first_token=True)))
    with (
        httpx.Client(base_url=models.url, trust_env=False, timeout=0.3) as client,
        client.stream(
            "POST", OPENAI_PATH, headers=OPENAI_HEADERS, json=openai_request()
        ) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            response.read()
    wait_until(lambda: models.in_flight == 0, timeout=2.0, message="the hung stream never ended")


async def test_concurrent_requests_are_counted_and_paced(models: FakeModelServer):
    models.script("gpt-5.1", ModelScript(reply="x" * 24, first_token_delay=0.1, chunk_delay=0.02))

    async def one_answer(client: httpx.AsyncClient) -> float:
        started = time.monotonic()
        async with aconnect_sse(
            client,
            "POST",
            OPENAI_PATH,
            headers=OPENAI_HEADERS,
            json=openai_request(),
        ) as source:
            [event async for event in source.aiter_sse()]
        return time.monotonic() - started

    async with httpx.AsyncClient(base_url=models.url, trust_env=False) as client:
        durations = await asyncio.gather(*(one_answer(client) for _ in range(3)))
    assert min(durations) >= 0.12
    assert models.max_in_flight == 3 and models.in_flight == 0


def test_callable_replies_and_explicit_usage(models: FakeModelServer):
    models.script(
        "anthropic:claude-sonnet-4-5",
        ModelScript(reply=lambda request: f"{len(request.turns())} turns", usage=(7, 3)),
    )
    events = stream_events(models, ANTHROPIC_PATH, ANTHROPIC_HEADERS, anthropic_request())
    payloads = [json.loads(data) for _, data in events]
    text = "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta")
    assert text == "3 turns"
    assert payloads[0]["message"]["usage"]["input_tokens"] == 7
    assert payloads[-2]["usage"]["output_tokens"] == 3


def test_env_points_every_provider_at_the_server(models: FakeModelServer):
    env = models.env()
    assert env["OPENAI_BASE_URL"] == f"{models.url}/openai/v1"
    assert env["GEMINI_BASE_URL"] == f"{models.url}/gemini"
    assert {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY"} <= set(
        env
    )


# -- plumbing ----------------------------------------------------------------------------------


def test_server_thread_runs_coroutines_and_frees_its_port():
    server = ServerThread(web.Application()).start()
    port = server.port
    assert server.run(asyncio.sleep(0, result="ran in loop")) == "ran in loop"
    server.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
    assert not any(t.name == "server" for t in threading.enumerate())


def test_a_taken_port_fails_start_and_leaves_no_thread():
    with ServerThread(web.Application(), name="first") as first, pytest.raises(OSError):
        ServerThread(web.Application(), port=first.port, name="second").start()
    assert [t.name for t in threading.enumerate() if t.name in ("first", "second")] == []


def test_wait_until_returns_the_value_or_fails_with_the_message():
    assert wait_until(lambda: 42) == 42
    with pytest.raises(AssertionError, match="never true"):
        wait_until(lambda: False, timeout=0.05, message="never true")


def test_bot_process_environment_holds_only_what_it_is_given(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-key-that-must-not-leak")
    bot = BotProcess({"SLACK_BOT_TOKEN": TOKEN}, port=free_port())
    environment = bot.environment()
    assert "OPENAI_API_KEY" not in environment
    assert environment["SLACK_BOT_TOKEN"] == TOKEN
    assert environment["HOST"] == "127.0.0.1" and environment["PORT"] == str(bot.port)
    assert bot.events_url == f"http://127.0.0.1:{bot.port}/slack/events"
    assert not bot.is_running and bot.logs() == ""
