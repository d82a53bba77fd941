"""Slack's secrets kept out of the log: slack_sdk and Bolt write out, at DEBUG, what Slack
sends over Socket Mode (each payload carries the app's legacy verification token) and the
WebSocket URL they connect to (a one-use connection ticket). The tokens the bot sends are
already redacted by slack_sdk."""

from __future__ import annotations

import logging
import re

_SLACK_LOGGERS = ("slack_bolt", "slack_sdk")
REDACTED = "(redacted)"
_TOKEN_FIELD = re.compile(r"""(['"]token['"]:\s*['"])[^'"]*""")
_TICKET = re.compile(r"(ticket=)[^&\s'\"]+")


def slack_secrets_redacted(record: logging.LogRecord) -> bool:
    """A logging filter: a Slack library's log line with the secrets it quotes redacted."""
    if not record.name.startswith(_SLACK_LOGGERS):
        return True
    line = record.getMessage()
    redacted = _TICKET.sub(rf"\1{REDACTED}", _TOKEN_FIELD.sub(rf"\1{REDACTED}", line))
    if redacted != line:
        record.msg, record.args = redacted, None
    return True
