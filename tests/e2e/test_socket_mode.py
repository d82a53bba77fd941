"""Socket Mode, end to end: the real bot holds a WebSocket to the Slack emulator, which pushes
events, slash commands and button clicks over it and records the bot's acknowledgements."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.doubles.bot_process import REPO_ROOT, BotProcess, BotProcessError
from tests.doubles.model_servers import ModelScript
from tests.doubles.slack_emulator import SlackEmulator
from tests.doubles.slack_emulator.socket_link import ACK_DEADLINE_SECONDS
from tests.doubles.slack_emulator.socket_mode import SocketDelivery
from tests.doubles.slack_payloads import slash_command
from tests.doubles.waiting import wait_until
from tests.e2e.answer_buttons import (
    REGENERATE,
    SLOW_REPLY,
    STOP,
    assert_stopped_by_bob,
    numbered_takes,
    stream_slowly,
)
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.scene import ALICE, BOB, CHANNEL, MENTION, MODEL_IDS, UNUSED_EVENTS
from tests.e2e.slack_views import (
    answers_in,
    body,
    buttons,
    streaming_first_answer,
    wait_for_answers,
)
from tests.e2e.stored_answers import schema_made

SLOW_FIRST_TOKEN = 1.5  # seconds; well within the first-token deadline


@pytest.mark.parametrize("order", ["message_first", "mention_first"])
def test_a_mention_over_the_socket_gets_one_answer_per_model_and_is_acked_at_once(
    order, socket_bot, slack, models, events
):
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(first_token_delay=SLOW_FIRST_TOKEN))
    events.user_says(CHANNEL, ALICE, f"{MENTION} hello socket", to=[slack.socket_mode], order=order)

    deliveries = slack.socket_mode.deliveries()
    expected_types = ["message", "app_mention"]
    if order == "mention_first":
        expected_types.reverse()
    assert [d.payload["event"]["type"] for d in deliveries] == expected_types
    assert [d.payload for d in deliveries] == events.last_envelopes
    answers = wait_for_answers(slack, CHANNEL, 3)
    first_token_at = min(request.at for request in models.requests) + SLOW_FIRST_TOKEN
    for delivery in deliveries:
        assert delivery.ack_seconds is not None and delivery.ack_seconds < ACK_DEADLINE_SECONDS
        assert delivery.acked_at is not None and delivery.acked_at < first_token_at, (
            "the ack must not wait for the models"
        )
    assert [m["username"] for m in answers] == ["Claude Test", "GPT-test", "Gemini Test"]
    assert [body(m) for m in answers] == [
        f"{model_id} answers: Alice: hello socket" for model_id in MODEL_IDS
    ]
    assert [len(models.requests_for(model_id)) for model_id in MODEL_IDS] == [1, 1, 1]


def test_debug_logs_over_the_socket_keep_slacks_secrets_out(socket_bot, slack, events):
    events.user_says(CHANNEL, ALICE, f"{MENTION} hello socket", to=[slack.socket_mode])
    wait_for_answers(slack, CHANNEL, 3)
    socket_bot.wait_until_idle()

    logs = socket_bot.logs()  # the fixture's bots log at DEBUG
    (delivery, _) = slack.socket_mode.deliveries()
    verification_token = delivery.payload["token"]
    assert verification_token and verification_token not in logs
    (connection,) = slack.socket_mode.connections()
    assert connection.ticket not in logs
    # The lines are there, with what they quoted redacted.
    assert '"token": "(redacted)"' in logs and "ticket=(redacted)" in logs


DEFAULT_PORT = 3000  # the bot's, when PORT is unset


@contextmanager
def default_port_taken() -> Iterator[None]:
    """Port 3000 in use, as by a dev server on the machine of someone trying the bot."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        try:
            holder.bind(("0.0.0.0", DEFAULT_PORT))
            holder.listen()
        except OSError:
            pass  # something listens there already
        yield


def test_in_socket_mode_a_taken_default_port_costs_the_health_check_only(
    bot_env, slack, events, tmp_path: Path
):
    env = BotProcess(bot_env | {"SLACK_APP_TOKEN": slack.app_token}).environment()
    for unset in ("HOST", "PORT", "SLACK_SIGNING_SECRET"):
        env.pop(unset)
    log_path = tmp_path / "bot.log"
    with default_port_taken(), log_path.open("wb") as log:
        started_at = time.monotonic()
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
        )
        try:
            slack.socket_mode.wait_for_connection(since=started_at)
            events.user_says(CHANNEL, ALICE, f"{MENTION} hello", to=[slack.socket_mode])
            wait_for_answers(slack, CHANNEL, 3)
        finally:
            bot.terminate()
            bot.wait(timeout=30)
    logs = log_path.read_text()
    assert f"health check not served: cannot listen on 0.0.0.0:{DEFAULT_PORT} (" in logs
    assert "connected in Socket Mode; no health check" in logs
    assert "SLACK_SIGNING_SECRET is not used" not in logs
    assert bot.returncode == 0, logs


def test_a_second_copy_started_beside_the_first_leaves_its_answers_alone(
    bot_env, slack, models, events, tmp_path: Path
):
    """Started twice on one machine, the default port taken: both copies are replica
    `<host>:3000`. The second must not take the first's answers being written for what its
    own previous life left."""
    stream_slowly(models, "claude-test")
    env = BotProcess(bot_env | {"SLACK_APP_TOKEN": slack.app_token}).environment()
    for unset in ("HOST", "PORT", "SLACK_SIGNING_SECRET", "CHORUS_REPLICA_ID"):
        env.pop(unset, None)
    copies: list[subprocess.Popen[bytes]] = []
    with default_port_taken():
        try:
            for copy in ("first", "second"):
                with (tmp_path / f"{copy}.log").open("wb") as log:
                    started_at = time.monotonic()
                    copies.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "bot"],
                            cwd=REPO_ROOT,
                            env=env,
                            stdout=log,
                            stderr=log,
                        )
                    )
                slack.socket_mode.wait_for_connection(since=started_at)
                if copy == "first":
                    events.user_says(CHANNEL, ALICE, f"{MENTION} hello", to=[slack.socket_mode])
                    streaming_first_answer(slack, CHANNEL)
            second_log = tmp_path / "second.log"
            wait_until(
                lambda: "connected in Socket Mode" in second_log.read_text(),
                message="the second copy started",
            )
            answers = wait_for_answers(slack, CHANNEL, 3, timeout=30)
        finally:
            for bot in copies:
                bot.terminate()
                bot.wait(timeout=30)
    assert body(answers[0]).strip() == SLOW_REPLY.strip(), "the first copy wrote it whole"
    logs = "".join((tmp_path / f"{copy}.log").read_text() for copy in ("first", "second"))
    assert "taken over by recovery" not in logs
    assert "marked interrupted" not in logs


def test_in_socket_mode_a_port_set_and_taken_stops_start_up(bot_env, slack, tmp_path: Path):
    env = bot_env | {"SLACK_APP_TOKEN": slack.app_token}
    env.pop("SLACK_SIGNING_SECRET")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        bot = BotProcess(env, port=port, log_path=tmp_path / "bot.log")
        with pytest.raises(BotProcessError) as refused:
            bot.start()
    assert f"Configuration error: cannot listen on 127.0.0.1:{port} (" in str(refused.value)


def test_a_thread_reply_over_the_socket_continues_with_that_model_only(
    socket_bot, slack, models, events
):
    events.user_says(CHANNEL, ALICE, f"{MENTION} name a colour", to=[slack.socket_mode])
    _, gpt_answer, _ = wait_for_answers(slack, CHANNEL, 3)

    events.user_says(
        CHANNEL, BOB, "why that one?", thread_ts=gpt_answer["ts"], to=[slack.socket_mode]
    )
    (reply,) = wait_for_answers(slack, CHANNEL, 1, thread_ts=gpt_answer["ts"])

    assert reply["username"] == "GPT-test"
    assert [len(models.requests_for(model_id)) for model_id in MODEL_IDS] == [1, 2, 1]
    assert models.requests_for("gpt-test")[-1].turns() == [
        ("user", "Alice: name a colour"),
        ("assistant", body(gpt_answer)),
        ("user", "Bob: why that one?"),
    ]


def test_a_redelivered_envelope_makes_no_second_round(socket_bot, slack, models, events):
    for model_id in MODEL_IDS:
        models.script(model_id, ModelScript(chunk_chars=4, chunk_delay=0.05))
    events.user_says(CHANNEL, ALICE, f"{MENTION} only once", to=[slack.socket_mode])
    # Slack redelivers while the answers are still streaming, with the same event_id.
    for envelope in events.last_envelopes:
        redelivery = slack.socket_mode.deliver(envelope, retry_attempt=1, retry_reason="timeout")
        assert redelivery.acked and redelivery.retry_attempt == 1
    wait_for_answers(slack, CHANNEL, 3)
    said_again = re.findall(
        r"Slack delivered event (\w+) again \(retry 1, timeout\)", socket_bot.logs()
    )
    assert said_again == [envelope["event_id"] for envelope in events.last_envelopes]

    # Each repeat was dropped before its ack; a later mention shows the bot still listens.
    events.user_says(CHANNEL, ALICE, f"{MENTION} a later question", to=[slack.socket_mode])
    wait_for_answers(slack, CHANNEL, 6)
    assert [len(models.requests_for(model_id)) for model_id in MODEL_IDS] == [2, 2, 2]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_mention_while_the_database_is_away_is_left_unacked_and_answered_once_slack_retries(
    start_socket_bot, slack, models, events, proxied_database_url, database_proxy
):
    """Acknowledged, the mention would be lost: Slack sends again only an envelope it had no
    acknowledgement for. Each refusal is one line, and only Slack's retries are called so."""
    bot = start_socket_bot(DATABASE_URL=proxied_database_url, LOG_LEVEL="INFO")
    bot.wait_until_idle()
    database_proxy.cut()
    message = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} anyone there?")
    envelopes = [events.envelope(event) for event in events.events_for(CHANNEL, message)]
    refused = [slack.socket_mode.deliver(e, timeout=ACK_DEADLINE_SECONDS) for e in envelopes]

    assert not any(delivery.acked for delivery in refused)
    database_proxy.reopen()
    assert all(slack.socket_mode.redeliver(delivery).acked for delivery in refused)
    wait_for_answers(slack, CHANNEL, 3)
    bot.wait_until_idle()
    assert len(answers_in(slack, CHANNEL)) == 3
    assert [len(models.requests_for(model_id)) for model_id in MODEL_IDS] == [1, 1, 1]
    logs = bot.logs()
    failures = [line for line in logs.splitlines() if "Failed to run listener" in line]
    assert len(failures) == 2
    assert all(re.search(r": the database can't be reached \(\w+\)$", f) for f in failures)
    assert "Traceback" not in logs
    said_again = re.findall(r"Slack delivered event (\w+) again \((.*)\)", logs)
    assert said_again == [(e["event_id"], "retry 1, timeout") for e in envelopes]


@pytest.mark.parametrize("how", ["disconnect_message", "connection_dropped"])
def test_the_bot_reconnects_and_keeps_answering(how, socket_bot, slack, models, events):
    (first,) = slack.socket_mode.open_connections()
    since = time.monotonic()
    if how == "disconnect_message":
        slack.socket_mode.request_reconnect()
    else:
        slack.socket_mode.close_connections()

    fresh = slack.socket_mode.wait_for_connection(since=since)
    wait_until(
        lambda: [c.ticket for c in slack.socket_mode.open_connections()] == [fresh.ticket],
        message="the old connection closed",
    )
    assert fresh.ticket != first.ticket
    assert len(slack.calls_for("apps.connections.open")) == 2, "a fresh ticket per connection"

    events.user_says(CHANNEL, ALICE, f"{MENTION} still there?", to=[slack.socket_mode])
    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [body(m) for m in answers] == [
        f"{model_id} answers: Alice: still there?" for model_id in MODEL_IDS
    ]
    assert {d.ticket for d in slack.socket_mode.deliveries()} == {fresh.ticket}


@pytest.mark.parametrize("when", ["at_start_up", "on_reconnect"])
def test_an_unreachable_websocket_is_tried_again_with_a_fresh_url_one_line_a_try(
    when, start_socket_bot, slack, events
):
    if when == "at_start_up":
        slack.socket_mode.make_urls_unreachable(2)
        socket_bot = start_socket_bot()
    else:
        socket_bot = start_socket_bot()
        since = time.monotonic()
        slack.socket_mode.make_urls_unreachable(2)
        slack.socket_mode.close_connections()
        slack.socket_mode.wait_for_connection(since=since)

    urls = [call.response["url"] for call in slack.calls_for("apps.connections.open")]
    tickets = [parse_qs(urlsplit(url).query)["ticket"][0] for url in urls]
    assert len(tickets) == (3 if when == "at_start_up" else 4), "a fresh URL for each try"
    assert [c.ticket for c in slack.socket_mode.open_connections()] == tickets[-1:]
    events.user_says(CHANNEL, ALICE, f"{MENTION} through at last?", to=[slack.socket_mode])
    wait_for_answers(slack, CHANNEL, 3)

    logs = socket_bot.logs()
    failures = [line for line in logs.splitlines() if "Socket Mode WebSocket to" in line]
    assert len(failures) == 2, logs
    for failure, wait in zip(failures, ("2 s", "4 s"), strict=True):
        assert " WARNING bot.slack.socket_mode: " in failure
        assert "outbound WebSocket connections (wss://, port 443)" in failure
        assert f"trying again in {wait} with a new URL" in failure
    assert "Traceback" not in logs and "Retrying" not in logs
    assert not [ticket for ticket in tickets if ticket in logs]


def test_health_is_served_but_no_request_url(start_socket_bot, slack, models, events):
    # Set as for HTTP mode too, by someone moving between the two: the app token wins.
    socket_bot = start_socket_bot(SLACK_SIGNING_SECRET=SIGNING_SECRET)
    health = httpx.get(f"{socket_bot.base_url}/healthz", timeout=5, trust_env=False)
    assert health.status_code == 200
    assert health.json() == {
        "ok": True,
        "answering": 0,
        "database": "up",
        "socket_mode": "connected",
    }

    message = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} over HTTP?")
    envelopes = [events.envelope(event) for event in events.events_for(CHANNEL, message)]
    responses = events.deliver_all(envelopes, to=[socket_bot.events_url], check=False)
    assert [response.status_code for response in responses] == [404, 404]
    logs = socket_bot.logs()
    assert "connected in Socket Mode" in logs
    assert (
        "SLACK_SIGNING_SECRET is not used: SLACK_APP_TOKEN is set (unset it for HTTP mode)" in logs
    )


def test_chorus_command_over_the_socket_is_answered_in_its_ack(socket_bot, slack, models, events):
    delivery = events.user_runs_command(
        CHANNEL, ALICE, "models gemini claude", to=slack.socket_mode
    )
    assert delivery.ack_seconds is not None and delivery.ack_seconds < ACK_DEADLINE_SECONDS
    assert delivery.ack_payload == {
        "response_type": "in_channel",
        "text": (
            f"<@{ALICE}> set this channel's models: Gemini Test (`+gemini`), "
            "Claude Test (`+claude`). No longer answering here: GPT-test (`+gpt`)."
        ),
    }

    events.user_says(CHANNEL, ALICE, f"{MENTION} who answers?", to=[slack.socket_mode])
    answers = wait_for_answers(slack, CHANNEL, 2)
    assert [m["username"] for m in answers] == ["Gemini Test", "Claude Test"]


def assert_click_acked(
    slack: SlackEmulator, click: SocketDelivery, action_id: str, message_ts: str
) -> None:
    """`click` went over the socket as Slack sends a button press (an `interactive` envelope
    carrying `block_actions`) and the bot acked it in time, with nothing to show."""
    assert slack.socket_mode.deliveries()[-1] == click
    assert click.envelope_type == "interactive"
    assert click.payload["type"] == "block_actions"
    assert click.payload["container"]["message_ts"] == message_ts
    assert [action["action_id"] for action in click.payload["actions"]] == [action_id]
    assert click.ack_seconds is not None and click.ack_seconds < ACK_DEADLINE_SECONDS
    assert click.ack_payload is None


def test_stop_pressed_over_the_socket_stops_the_streaming_answer(socket_bot, slack, models, events):
    stream_slowly(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} a long story please", to=[slack.socket_mode])
    streaming = streaming_first_answer(slack, CHANNEL)
    assert buttons(streaming) == [STOP]

    click = events.user_clicks(CHANNEL, streaming["ts"], STOP, BOB, to=slack.socket_mode)

    assert_click_acked(slack, click, STOP, streaming["ts"])
    claude, _, _ = wait_for_answers(slack, CHANNEL, 3)
    assert claude["ts"] == streaming["ts"]
    assert_stopped_by_bob(claude)


def test_regenerate_pressed_over_the_socket_writes_the_answer_again(
    socket_bot, slack, models, events
):
    numbered_takes(models, "claude-test")
    events.user_says(CHANNEL, ALICE, f"{MENTION} name a bakery", to=[slack.socket_mode])
    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    assert body(claude) == "take 1"
    socket_bot.wait_until_idle()

    click = events.user_clicks(CHANNEL, claude["ts"], REGENERATE, BOB, to=slack.socket_mode)

    assert_click_acked(slack, click, REGENERATE, claude["ts"])
    wait_until(lambda: body(answers_in(slack, CHANNEL)[0]) == "take 2", message="regenerated")
    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [message["ts"] for message in answers] == [claude["ts"], gpt["ts"], gemini["ts"]]
    assert [len(models.requests_for(model_id)) for model_id in MODEL_IDS] == [2, 1, 1]


def test_sigterm_closes_the_connection_and_the_bot_exits_cleanly(socket_bot, slack):
    assert len(slack.socket_mode.open_connections()) == 1
    socket_bot.wait_until_idle()
    socket_bot.stop()
    assert socket_bot.returncode == 0
    wait_until(lambda: slack.socket_mode.open_connections() == [], message="connection closed")
    assert "Traceback" not in socket_bot.logs()
    assert "INFO bot: shutting down: nothing in flight\n" in socket_bot.logs()
    assert "INFO bot: stopped\n" in socket_bot.logs(), "an admin sees the stop was clean"


@contextmanager
def sqlite_held(database_url: str) -> Iterator[None]:
    """Another process holds the SQLite database: the bot's writes wait for the block's end."""
    holder = sqlite3.connect(database_url.removeprefix("sqlite+aiosqlite:///"))
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_mention_being_recorded_as_sigterm_comes_is_answered_before_the_bot_exits(
    socket_bot, slack, models, events, database_url
):
    message = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} said as the bot stops")
    with sqlite_held(database_url):
        mention = events.envelope(events.events_for(CHANNEL, message)[0])
        slack.socket_mode.deliver(mention, timeout=0.5)  # not acknowledged: still recording
        assert socket_bot.pid is not None
        os.kill(socket_bot.pid, signal.SIGTERM)
        time.sleep(1.0)  # the shutdown has begun, the record still waits

    wait_until(lambda: not socket_bot.is_running, timeout=30, message="the bot exits")
    answers = answers_in(slack, CHANNEL)
    assert [body(answer) for answer in answers] == [
        f"{model_id} answers: Alice: said as the bot stops" for model_id in MODEL_IDS
    ]
    assert socket_bot.returncode == 0
    assert "Traceback" not in socket_bot.logs()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_chorus_command_being_carried_out_as_sigterm_comes_is_done_before_the_bot_exits(
    socket_bot, slack, events, database_url
):
    """Shutdown waits for a command held up by the database as for any work in flight: not
    left behind, its connection closed under it, to be cut off as the bot exits."""
    fields = slash_command(
        events.install,
        slack.conversation(CHANNEL),
        slack.user(ALICE),
        "/chorus",
        "new",
        slack.new_response_url(),
    )
    socket_bot.wait_until_idle()  # start-up recovery done: the command is all in flight
    with sqlite_held(database_url):
        held = slack.socket_mode.deliver(fields, envelope_type="slash_commands", timeout=0.5)
        assert not held.acked  # the command waits for the database, within its 2 s
        # Under way: received by the bot, not only sent on its socket (its reply to come, after
        # 2 s, is a task of its own).
        wait_until(lambda: socket_bot.tasks_in_flight() >= 1, message="the command under way")
        assert socket_bot.pid is not None
        os.kill(socket_bot.pid, signal.SIGTERM)
        wait_until(lambda: "shutting down" in socket_bot.logs(), message="shutdown begins")

    wait_until(lambda: not socket_bot.is_running, timeout=30, message="the bot exits")
    logs = socket_bot.logs()
    assert re.search(r"INFO bot: shutting down: finishing [12] task\(s\) in flight", logs)
    assert "INFO bot.channel_commands: new chat started in C0GENERAL by U0ALICE\n" in logs
    assert socket_bot.returncode == 0
    assert "Traceback" not in logs


@pytest.mark.parametrize(
    ("token", "said"),
    [
        ("xapp-1-A0CHORUS-1-revoked", "Slack rejected SLACK_APP_TOKEN (invalid_auth)"),
        ("xoxb-test-token", "SLACK_APP_TOKEN: holds a bot or user token (xox…)"),
    ],
    ids=["revoked-app-token", "bot-token"],
)
def test_an_app_token_slack_refuses_stops_start_up_clearly(
    token, said, start_socket_bot, database_url
):
    with pytest.raises(BotProcessError) as failed:
        start_socket_bot(SLACK_APP_TOKEN=token)
    output = str(failed.value)
    assert "exited with code 2" in output
    assert f"Configuration error: {said}" in output
    assert "Traceback" not in output
    assert token not in output
    assert not schema_made(database_url), "the token is checked before the database is opened"


@pytest.mark.parametrize("event", UNUSED_EVENTS, ids=lambda event: event["type"])
def test_an_event_the_bot_has_no_use_for_is_acknowledged_over_the_socket(
    socket_bot, slack, events, event
):
    assert slack.socket_mode.deliver(events.envelope(event), timeout=5).acked
