"""Slack's secrets kept out of the DEBUG lines slack_sdk and Bolt write over Socket Mode."""

from __future__ import annotations

import json
import logging

from bot.slack.log_secrets import slack_secrets_redacted

# A slash command as it arrives over Socket Mode: Slack writes `/` in JSON as `\/`.
RESPONSE_URL = "https://hooks.slack.com/commands/T0CHORUS/1234567890/s3cr3tPart"
COMMAND = {
    "envelope_id": "e-1",
    "payload": {
        "token": "legacy-verification-token",
        "command": "/chorus",
        "text": "models",
        "response_url": RESPONSE_URL,
    },
}


def logged(message: str, *args: object, logger: str = "slack_bolt.AsyncApp") -> str:
    record = logging.LogRecord(logger, logging.DEBUG, __file__, 1, message, args, None)
    assert slack_secrets_redacted(record)
    return record.getMessage()


def test_a_commands_response_url_is_redacted_as_its_token_is():
    # Anyone holding a response_url can post into the channel as the app, for 30 minutes.
    for data in (json.dumps(COMMAND), json.dumps(COMMAND).replace("/", "\\/")):
        line = logged("Received message (type: TEXT, data: '%s', session: s_1)", data)
        assert "s3cr3tPart" not in line and "legacy-verification-token" not in line
        assert '"response_url": "(redacted)"' in line and '"text": "models"' in line


def test_other_loggers_lines_are_left_as_they_are():
    line = logged("%s", json.dumps(COMMAND), logger="bot.conversation")
    assert RESPONSE_URL in line


def test_the_password_of_a_proxy_slack_sdk_reads_from_the_environment_is_redacted():
    line = logged(
        "HTTP proxy URL has been loaded from an env variable: %s",
        "http://chorus:hunter2@proxy.example:3128",
        logger="slack_sdk.web.async_base_client",
    )
    assert line.endswith("http://chorus:(redacted)@proxy.example:3128")
