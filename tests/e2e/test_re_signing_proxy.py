"""Behind a proxy that re-signs TLS (a network that inspects outbound traffic), the bot trusts
the CAs SSL_CERT_FILE names, for Slack (its Web API, Socket Mode's WebSocket) and the
providers alike."""

from __future__ import annotations

import pytest
import trustme

from tests.e2e.conftest import providers_by_way_of
from tests.e2e.scene import ALICE, CHANNEL, MENTION, ask
from tests.e2e.slack_views import body, status_line, wait_for_answers

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_slack_and_the_providers_are_reached_through_a_proxy_whose_ca_ssl_cert_file_names(
    start_bot, slack, models, events, re_signed, proxy_ca_file
):
    bot = start_bot(
        SLACK_API_URL=re_signed(slack.api_url),
        SSL_CERT_FILE=str(proxy_ca_file),
        **providers_by_way_of(re_signed, models),
    )
    ask(bot, events, "through the proxy?")

    answers = wait_for_answers(slack, CHANNEL, 3)
    assert [body(answer) for answer in answers] == [
        f"{model} answers: Alice: through the proxy?"
        for model in ("claude-test", "gpt-test", "gemini-test")
    ]


def test_a_provider_whose_certificate_is_not_trusted_fails_in_its_own_message_alone(
    start_bot, slack, models, events, re_signed, proxy_ca_file
):
    providers = providers_by_way_of(re_signed, models)
    providers["ANTHROPIC_BASE_URL"] = re_signed(models.env()["ANTHROPIC_BASE_URL"], ca=trustme.CA())
    bot = start_bot(
        SLACK_API_URL=re_signed(slack.api_url),
        SSL_CERT_FILE=str(proxy_ca_file),
        CHORUS_PROVIDER_MAX_ATTEMPTS="1",
        **providers,
    )
    ask(bot, events)

    claude, gpt, gemini = wait_for_answers(slack, CHANNEL, 3)
    assert status_line(claude).endswith("Could not connect to Anthropic.")
    assert not models.requests_for("claude-test")
    assert body(gpt) == "gpt-test answers: Alice: go"
    assert body(gemini) == "gemini-test answers: Alice: go"
    bot.wait_until_idle()
    assert "certificate verify failed: unable to get local issuer certificate" in bot.logs()


def test_socket_mode_opens_its_wss_url_through_a_proxy_whose_ca_ssl_cert_file_names(
    start_socket_bot, slack, events, re_signed, proxy_ca_file
):
    slack.socket_mode.serve_at(re_signed(slack.url))
    start_socket_bot(SLACK_API_URL=re_signed(slack.api_url), SSL_CERT_FILE=str(proxy_ca_file))
    (url,) = [call.response["url"] for call in slack.calls_for("apps.connections.open")]
    assert url.startswith("wss://")

    events.user_says(CHANNEL, ALICE, f"{MENTION} over wss", to=[slack.socket_mode])
    answers = wait_for_answers(slack, CHANNEL, 3)
    assert body(answers[0]) == "claude-test answers: Alice: over wss"


def test_a_websocket_whose_certificate_is_not_trusted_is_told_apart_with_what_to_set(
    start_socket_bot, slack, re_signed
):
    slack.socket_mode.serve_at(re_signed(slack.url, ca=trustme.CA()), times=1)
    bot = start_socket_bot()

    (failure,) = [line for line in bot.logs().splitlines() if "Socket Mode WebSocket" in line]
    assert " WARNING bot.slack.socket_mode: " in failure
    assert (
        "Slack's Socket Mode WebSocket at 127.0.0.1 presented a certificate this machine does "
        "not trust (unable to get local issuer certificate); behind a proxy that re-signs TLS, "
        "set SSL_CERT_FILE" in failure
    )
    assert "trying again in 2 s with a new URL" in failure
