"""The Slack Web API emulator answers as strictly as Slack, as slack_sdk clients see it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.doubles import SharedFile, SlackEmulator
from tests.doubles.app_manifest import manifest_bot_scopes
from tests.doubles.slack_emulator.emulator import API_METHODS, CONNECTIONS_OPEN, REPLY_LOST
from tests.doubles.slack_emulator.scopes import METHOD_SCOPES
from tests.test_doubles.scene import TOKEN, slack_error


def test_bot_replies_in_a_thread_and_edits_its_reply(emulator: SlackEmulator, slack: WebClient):
    question = emulator.post_user_message("C0GENERAL", "U0ALICE", "<@U0BOT> hello")
    posted = slack.chat_postMessage(
        channel="C0GENERAL", thread_ts=question["ts"], text="…", username="Claude Sonnet 4.5"
    )
    slack.chat_update(
        channel="C0GENERAL", ts=posted["ts"], text="Hello Alice", username="Claude Sonnet 4.5"
    )

    thread = slack.conversations_replies(channel="C0GENERAL", ts=question["ts"])["messages"]
    assert [m["text"] for m in thread] == ["<@U0BOT> hello", "Hello Alice"]
    assert thread[0]["reply_count"] == 1 and thread[0]["latest_reply"] == posted["ts"]
    reply = emulator.replies("C0GENERAL", question["ts"])[0]
    assert reply["bot_id"] == "B0BOT" and reply["user"] == "U0BOT"
    assert reply["username"] == "Claude Sonnet 4.5" and reply["edited"]["user"] == "U0BOT"
    assert emulator.bot_messages("C0GENERAL", question["ts"]) == [reply]
    assert emulator.bot_messages("C0GENERAL") == []


def test_an_update_forgets_the_posted_name_and_icon_unless_sent_again(
    emulator: SlackEmulator, slack: WebClient
):
    posted = slack.chat_postMessage(
        channel="C0GENERAL", text="…", username="GPT-5.1", icon_emoji=":large_green_circle:"
    )
    slack.chat_update(channel="C0GENERAL", ts=posted["ts"], text="Hello")

    (message,) = emulator.bot_messages("C0GENERAL")
    assert "username" not in message and "icon_emoji" not in message


def test_an_update_with_text_and_no_blocks_drops_the_blocks_as_slack_does(
    emulator: SlackEmulator, slack: WebClient
):
    # chat.update: "If you don't include blocks, the message's previous blocks will only be
    # retained if the text argument is not provided."
    blocks = [{"type": "markdown", "text": "**old**"}]
    kept = slack.chat_postMessage(channel="C0GENERAL", text="old", blocks=blocks)["ts"]
    dropped = slack.chat_postMessage(channel="C0GENERAL", text="old", blocks=blocks)["ts"]

    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):
        slack.chat_update(channel="C0GENERAL", ts=kept, blocks=blocks)  # as a client may
    slack.chat_update(channel="C0GENERAL", ts=dropped, text="new")

    assert emulator.message("C0GENERAL", kept)["blocks"] == blocks
    assert "blocks" not in emulator.message("C0GENERAL", dropped)


def test_message_timestamps_strictly_increase(emulator: SlackEmulator, slack: WebClient):
    stamps = [slack.chat_postMessage(channel="C0RANDOM", text=str(n))["ts"] for n in range(5)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5
    assert [m["ts"] for m in emulator.messages("C0RANDOM")] == stamps


def test_every_answer_to_the_bot_token_lists_its_scopes_as_slacks_does(
    emulator: SlackEmulator, slack: WebClient
):
    assert slack.auth_test().headers["x-oauth-scopes"] == ",".join(manifest_bot_scopes())
    emulator.grant_scopes(["chat:write", "commands"])
    assert slack.auth_test().headers["x-oauth-scopes"] == "chat:write,commands"
    emulator.grant_scopes(None)  # as some proxies leave it out
    assert "x-oauth-scopes" not in slack.auth_test().headers


def test_a_call_needing_a_scope_not_granted_is_refused_naming_it_as_slacks_is(
    emulator: SlackEmulator, slack: WebClient
):
    emulator.grant_scopes(["chat:write", "channels:history"])
    refused = slack_error(lambda: slack.users_info(user="U0ALICE")).response
    assert refused.status_code == 200
    assert refused.data == {
        "ok": False,
        "error": "missing_scope",
        "needed": "users:read",
        "provided": "chat:write,channels:history",
    }
    assert refused.headers["x-oauth-scopes"] == "chat:write,channels:history"
    posted = slack.chat_postMessage(channel="C0GENERAL", text="hi")
    assert slack.conversations_history(channel="C0GENERAL")["messages"]
    assert slack.conversations_replies(channel="C0GENERAL", ts=posted["ts"])["messages"]


def test_every_method_the_emulator_answers_says_which_scopes_it_needs():
    assert set(METHOD_SCOPES) == {*API_METHODS, CONNECTIONS_OPEN}


@pytest.mark.parametrize(
    ("channel", "needed"),
    [
        ("C0GENERAL", "channels:history"),
        ("D0ALICE", "im:history"),
    ],
)
def test_reading_a_conversation_needs_the_history_scope_of_its_kind(
    emulator: SlackEmulator, slack: WebClient, channel: str, needed: str
):
    emulator.grant_scopes([s for s in manifest_bot_scopes() if s != needed])
    emulator.add_channel("G0SECRET", "secret", "group")
    assert slack.conversations_history(channel="G0SECRET")["ok"]
    refused = slack_error(lambda: slack.conversations_history(channel=channel)).response
    assert (refused["error"], refused["needed"]) == ("missing_scope", needed)


def test_a_name_and_icon_are_ignored_without_chat_write_customize(
    emulator: SlackEmulator, slack: WebClient
):
    emulator.grant_scopes(["chat:write"])
    posted = slack.chat_postMessage(
        channel="C0GENERAL", text="hi", username="Claude", icon_emoji=":robot_face:"
    )
    message = emulator.message("C0GENERAL", posted["ts"])
    assert message["text"] == "hi" and "username" not in message and "icon_emoji" not in message
    assert slack.auth_test()["ok"]  # what needs no scope


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


def test_an_injected_fault_can_wait_for_calls_to_go_through_first(
    emulator: SlackEmulator, slack: WebClient
):
    emulator.inject("chat.postMessage", status=200, error="not_in_channel", after=2)
    assert slack.chat_postMessage(channel="C0GENERAL", text="one")["ok"]
    assert slack.chat_postMessage(channel="C0GENERAL", text="two")["ok"]
    refused = slack_error(lambda: slack.chat_postMessage(channel="C0GENERAL", text="three"))
    assert refused.response["error"] == "not_in_channel"
    assert slack.chat_postMessage(channel="C0GENERAL", text="four")["ok"]
    assert [m["text"] for m in emulator.bot_messages("C0GENERAL")] == ["one", "two", "four"]


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
    emulator.grant_scopes([*manifest_bot_scopes(), "im:read"])  # conversations.info of a DM
    client = AsyncWebClient(token=TOKEN, base_url=emulator.api_url)
    posted = await client.chat_postMessage(channel="D0ALICE", text="Hi in DM")
    info = await client.conversations_info(channel="D0ALICE")
    identity = await client.auth_test()
    assert posted["channel"] == "D0ALICE" and info["channel"]["is_im"]
    assert info["channel"]["user"] == "U0ALICE"
    assert (identity["user_id"], identity["bot_id"]) == ("U0BOT", "B0BOT")


def test_files_upload_v2_keeps_the_content_in_the_thread(emulator: SlackEmulator, slack: WebClient):
    emulator.grant_scopes([*manifest_bot_scopes(), "files:write"])  # the bot never asks for it
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
    emulator.grant_scopes([*manifest_bot_scopes(), "reactions:write"])  # the bot never asks for it
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


def test_a_delayed_call_is_done_late_and_not_at_all_once_its_caller_hung_up(
    emulator: SlackEmulator, slack: WebClient
):
    slow = slack.chat_postMessage(channel="C0GENERAL", text="slow")["ts"]
    quick = slack.chat_postMessage(channel="C0GENERAL", text="quick")["ts"]
    emulator.delay("chat.update", 0.3, ts=slow)
    started = time.monotonic()
    slack.chat_update(channel="C0GENERAL", ts=quick, text="quick, edited")
    assert time.monotonic() - started < 0.3, "only the slow message's edits are late"
    slack.chat_update(channel="C0GENERAL", ts=slow, text="slow, edited")
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{emulator.api_url}chat.update",
            headers={"Authorization": f"Bearer {TOKEN}"},
            data={"channel": "C0GENERAL", "ts": slow, "text": "given up on"},
            timeout=0.1,
            trust_env=False,
        )
    time.sleep(0.4)
    assert emulator.message("C0GENERAL", slow)["text"] == "slow, edited"
    assert emulator.calls_for("chat.update")[-1].status == REPLY_LOST


def test_a_delayed_call_counts_as_begun_before_it_is_answered(emulator: SlackEmulator):
    emulator.delay("auth.test", 0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{emulator.api_url}auth.test",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=0.1,
            trust_env=False,
        )
    assert emulator.calls_begun("auth.test") == 1
    assert emulator.calls_for("auth.test") == []


def test_a_post_to_a_persons_id_lands_in_the_apps_dm_with_them(
    emulator: SlackEmulator, slack: WebClient
):
    posted = slack.chat_postMessage(channel="U0BOB", text="psst")
    again = slack.chat_postMessage(channel="U0BOB", text="again")

    assert posted["channel"].startswith("D") and again["channel"] == posted["channel"]
    assert emulator.conversation(posted["channel"])["is_im"] is True
    assert [m["text"] for m in emulator.bot_messages(posted["channel"])] == ["psst", "again"]
