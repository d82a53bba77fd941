"""Events reach the bot's request URL as Slack sends them: signed, paired, retried."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from tests.doubles import SlackEmulator, SlackEventSender
from tests.test_doubles.scene import SECRET, RecordingEndpoint, post_with_a_button


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
