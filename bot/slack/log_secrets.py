"""Slack's secrets kept out of the log: slack_sdk and Bolt write out, at DEBUG, what Slack
sends over Socket Mode (each payload carries the app's legacy verification token; a slash
command's or a button's, its response_url, with which anyone can post into the channel as the
app for half an hour), the WebSocket URL they connect to (a one-use connection ticket) and
the proxy HTTPS_PROXY names (its password, if it has one). The tokens the bot sends are
already redacted by slack_sdk."""

from __future__ import annotations

import logging
import re

_SLACK_LOGGERS = ("slack_bolt", "slack_sdk")
REDACTED = "(redacted)"
_SECRET_FIELD = re.compile(r"""(['"](?:token|response_url)['"]:\s*['"])[^'"]*""")
_TICKET = re.compile(r"(ticket=)[^&\s'\"]+")
_URL_PASSWORD = re.compile(r"(://[^/?#\s:@'\"]*:)[^/?#\s@'\"]+(?=@)")


def slack_secrets_redacted(record: logging.LogRecord) -> bool:
    """A logging filter: a Slack library's log line with the secrets it quotes redacted."""
    if not record.name.startswith(_SLACK_LOGGERS):
        return True
    line = record.getMessage()
    redacted = without_slack_secrets(line)
    if redacted != line:
        record.msg, record.args = redacted, None
    return True


def without_slack_secrets(text: str) -> str:
    """`text` with the Slack secrets it quotes (see above) redacted."""
    for secret in (_SECRET_FIELD, _TICKET, _URL_PASSWORD):
        text = secret.sub(rf"\1{REDACTED}", text)
    return text
