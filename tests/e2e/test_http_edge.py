"""HTTP mode's door to the internet: only what Slack signed gets in, what was said never
reaches the log from a refused request, and health tells a load balancer the truth."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest

from tests.doubles.slack_events import SlackEventSender
from tests.doubles.slack_payloads import app_rate_limited
from tests.doubles.slack_signing import signed_headers
from tests.doubles.waiting import wait_until
from tests.e2e.scene import ALICE, CHANNEL, MENTION, UNUSED_EVENTS, ask
from tests.e2e.slack_views import body as answer_body
from tests.e2e.slack_views import wait_for_answers

# The door is the same whatever the database behind it.
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@ON_SQLITE
@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}, b"{}"),
        ({"X-Slack-Request-Timestamp": "1.5", "X-Slack-Signature": "v0=00"}, b"{}"),
        ({"Content-Type": "application/json"}, b"not json"),
        # What Slack's signature verifier cannot even read: no crash, a refusal.
        ({"X-Slack-Request-Timestamp": "\u00b2".encode(), "X-Slack-Signature": "v0=00"}, b"{}"),
        ({"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": b"v0=\xe9"}, b"{}"),
        ({"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": "v0=" + "0" * 64}, b"\xff"),
    ],
)
def test_a_malformed_unsigned_request_is_refused_like_any_other(bot, models, headers, body):
    now = str(int(time.time()))
    headers = {name: now if value == "NOW" else value for name, value in headers.items()}
    response = httpx.post(bot.events_url, content=body, headers=headers, trust_env=False)

    assert response.status_code == 401
    wait_until(lambda: "refused a request" in bot.logs(), message="the refusal logged")
    assert "Traceback" not in bot.logs()
    assert models.requests == []


@ON_SQLITE
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"not json"),
        ("application/json", b"[]"),
        ("application/json", b'"event_callback"'),
        ("application/x-www-form-urlencoded", b"payload=not-json"),
    ],
)
def test_a_signed_request_whose_body_slack_would_never_send_is_refused_in_one_line(
    bot, events, models, content_type, body
):
    headers = signed_headers(events.signing_secret, body, content_type)
    response = httpx.post(bot.events_url, content=body, headers=headers, trust_env=False)

    assert response.status_code == 400
    wait_until(lambda: "refused a signed request" in bot.logs(), message="the refusal logged")
    assert "Traceback" not in bot.logs()
    assert models.requests == []


@ON_SQLITE
def test_an_event_signed_with_another_secret_is_refused_without_logging_what_was_said(
    bot, slack, models
):
    # As when SLACK_SIGNING_SECRET is wrong, or was rotated in Slack.
    rotated = SlackEventSender(slack, signing_secret="the-rotated-signing-secret")
    said = "my salary is 123456"
    message = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {said}")
    envelopes = [rotated.envelope(event) for event in rotated.events_for(CHANNEL, message)]

    responses = rotated.deliver_all(envelopes, [bot.events_url], check=False)

    assert [response.status_code for response in responses] == [401, 401]
    wait_until(lambda: bot.logs().count("refused a request") == 2, message="refusals logged")
    assert said not in bot.logs()
    assert models.requests == []


@ON_SQLITE
def test_the_check_slack_makes_of_a_new_request_url_is_answered(bot, events, models):
    """Setting the Event Subscriptions request URL (README, HTTP mode): Slack sends a signed
    `url_verification` and saves the URL only if its challenge comes back."""
    response = events.url_verification(bot.events_url, challenge="3eZbrw1aBm2rZgRNFdxV2595E9CY")

    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY"}
    assert "refused a request" not in bot.logs()
    assert models.requests == []


@ON_SQLITE
def test_the_unsigned_check_slack_makes_of_the_certificate_is_answered_and_runs_nothing(
    bot, events, models
):
    """Setting the slash command's request URL, and now and then after, Slack checks the
    certificate there with a form saying `ssl_check=1`, unsigned; it wants a 200. Nothing else
    the form says is run: `/chorus new` here would start a fresh chat."""
    slackbot = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    check = b"ssl_check=1&token=legacy-verification-token"
    piggybacked = check + b"&command=%2Fchorus&text=new&team_id=T0TEST&channel_id=C0GENERAL"
    responses = [
        httpx.post(bot.events_url, content=body, headers=slackbot, trust_env=False)
        for body in (check, piggybacked)
    ]

    assert [(response.status_code, response.text) for response in responses] == [(200, "")] * 2
    assert "refused a request" not in bot.logs()
    assert "new chat started" not in bot.logs()
    assert models.requests == []


def _closed_within(conn: socket.socket, seconds: float, *, trickle: bytes = b"") -> bytes | None:
    """What the bot sent on `conn` until it closed it, within `seconds`, `trickle` sent every
    half second meanwhile; None if the connection was still open then."""
    received = b""
    deadline = time.monotonic() + seconds
    conn.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            if trickle:
                try:
                    conn.sendall(trickle)
                except (BrokenPipeError, ConnectionResetError):
                    return received
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    return None


def _head(content_length: int) -> bytes:
    return (
        "POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    ).encode()


@ON_SQLITE
def test_connections_that_never_send_a_whole_request_are_closed_while_events_are_served(
    start_bot, slack, models, events
):
    """Slow loris: connections opened and left idle, or sending their headers a line at a
    time, would each hold a socket of the bot's for as long as their sender likes."""
    bot = start_bot(CHORUS_HTTP_KEEPALIVE_TIMEOUT="2")
    idle = socket.create_connection(("127.0.0.1", bot.port))
    trickling = socket.create_connection(("127.0.0.1", bot.port))
    trickling.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    ask(bot, events, "+claude still there?")

    with idle, trickling:
        assert _closed_within(trickling, 20, trickle=b"X-Padding: a\r\n") == b""
        assert _closed_within(idle, 20) == b""
    (answer,) = wait_for_answers(slack, CHANNEL, 1)
    assert answer_body(answer) == "claude-test answers: Alice: still there?"


@ON_SQLITE
def test_a_request_whose_body_trickles_in_is_refused_and_its_connection_closed(bot, models):
    with socket.create_connection(("127.0.0.1", bot.port)) as conn:
        conn.sendall(_head(100) + b'{"type": ')

        received = _closed_within(conn, 40)

    assert received is not None, "the connection was left open"
    assert received.startswith(b"HTTP/1.1 408 ")
    assert "refused a request whose body took over 10 s" in bot.logs()
    assert models.requests == []


@ON_SQLITE
def test_a_body_over_a_mebibyte_is_refused_before_the_rest_of_it_is_sent(bot, models):
    with socket.create_connection(("127.0.0.1", bot.port)) as conn:
        conn.sendall(_head(8 * 1024**2) + b" " * (1024**2 + 1))

        received = _closed_within(conn, 40)

    assert received is not None, "the connection was left open"
    assert received.startswith(b"HTTP/1.1 413 ")
    assert "refused a request over 1048576 bytes" in bot.logs()
    assert models.requests == []


@ON_SQLITE
def test_a_body_announced_over_a_mebibyte_is_refused_without_waiting_for_it(bot, models):
    with socket.create_connection(("127.0.0.1", bot.port)) as conn:
        conn.sendall(_head(8 * 1024**2))

        received = _closed_within(conn, 40)

    assert received is not None, "the connection was left open"
    assert received.startswith(b"HTTP/1.1 413 ")  # not 408, once the body was waited for
    assert "refused a request over 1048576 bytes" in bot.logs()


@ON_SQLITE
@pytest.mark.parametrize("event", UNUSED_EVENTS, ids=lambda event: event["type"])
def test_an_event_the_bot_has_no_use_for_is_acknowledged_and_its_retries_noted(
    bot, events, models, event
):
    envelope = events.envelope(event)
    response = events.deliver(bot.events_url, envelope)
    retried = events.deliver(bot.events_url, envelope, retry_num=2, retry_reason="http_error")

    assert response.status_code == retried.status_code == 200
    assert models.requests == []
    assert f"Slack delivered event {envelope['event_id']} again (retry 2, http_error)" in bot.logs()


@ON_SQLITE
def test_slack_holding_back_events_is_acknowledged_and_told_in_one_line(bot, events, models):
    """Past 30,000 events an hour from a workspace, Slack stops delivering them and says so
    to the request URL in an envelope with no event: what is said meanwhile goes unanswered,
    which an admin reading the log should learn, and Slack counts an answer other than 200 as
    a failed delivery."""
    minute = 1518467820  # 2018-02-12 20:37 UTC
    response = events.deliver(bot.events_url, app_rate_limited(events.install, minute))

    assert response.status_code == 200
    said = f"Slack is holding back this app's events from workspace {events.install.team_id}"
    wait_until(lambda: said in bot.logs(), message="the rate limiting logged")
    assert f"{said} since 20:37 UTC (app_rate_limited" in bot.logs()
    assert "Unhandled request" not in bot.logs()
    assert "Traceback" not in bot.logs()
    assert models.requests == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_health_fails_while_the_database_cannot_be_reached(
    start_bot, proxied_database_url, database_proxy
):
    bot = start_bot(DATABASE_URL=proxied_database_url)
    health = f"{bot.base_url}/healthz"
    assert httpx.get(health, timeout=10, trust_env=False).json()["database"] == "up"

    database_proxy.cut()

    response = httpx.get(health, timeout=10, trust_env=False)
    assert response.status_code == 503
    assert response.json() == {"ok": False, "answering": 0, "database": "down"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_outage_is_logged_in_one_line_each_time_not_in_tracebacks(
    start_bot, slack, events, proxied_database_url, database_proxy
):
    """While the database is down, the heartbeats, the sweeper, events and the Home tab each
    fail every few seconds: one line each, saying so, not a traceback of the driver's
    internals (80 lines that repeat and say nothing more)."""
    bot = start_bot(
        DATABASE_URL=proxied_database_url,
        CHORUS_STALE_ANSWER_SECONDS="1",
        LOG_LEVEL="INFO",
    )
    database_proxy.cut()

    events.user_opens_home(ALICE, to=[bot.events_url])
    message = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} anyone there?")
    envelopes = [events.envelope(event) for event in events.events_for(CHANNEL, message)]
    refused = events.deliver_all(envelopes, [bot.events_url], check=False)

    assert {response.status_code for response in refused} == {500}, "Slack will retry them"
    # Refused, or (a pooled connection the cut closed) lost: the kind of error, in brackets.
    unreachable = re.compile(r": the database can't be reached \(\w+\)$")
    for failing in ("sending heartbeats failed", "home tab for U0ALICE crashed", "listener"):
        wait_until(lambda f=failing: f in bot.logs(), message=f"{failing} logged")
        line = next(line for line in bot.logs().splitlines() if failing in line)
        assert unreachable.search(line), line
    assert "Traceback" not in bot.logs()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_that_hangs_does_not_hold_up_the_shutdown(
    start_bot, proxied_database_url, database_proxy
):
    bot = start_bot(DATABASE_URL=proxied_database_url)
    # Start-up recovery done: a transaction of it caught by the freeze would be in flight,
    # waited for (the grace), then cancelled, its connection dropped rather than closed.
    bot.wait_until_idle()
    database_proxy.freeze()  # connections stay open; nothing comes back

    stopping = time.monotonic()
    bot.stop(timeout=60)

    # Closing waits for no answer: well inside the 30 s a platform gives before SIGKILL.
    assert bot.returncode == 0
    assert time.monotonic() - stopping < 20
    assert "did not close its connections in time" in bot.logs()
