"""A Slack Web API emulator: stateful, strict, with injectable faults and a record of calls."""

from tests.doubles.slack_emulator.emulator import (
    OTHER_BOT_ID,
    OTHER_BOT_USER_ID,
    ApiCall,
    SlackEmulator,
)
from tests.doubles.slack_emulator.errors import SlackError
from tests.doubles.slack_emulator.workspace import SharedFile, UploadedFile

__all__ = [
    "OTHER_BOT_ID",
    "OTHER_BOT_USER_ID",
    "ApiCall",
    "SharedFile",
    "SlackEmulator",
    "SlackError",
    "UploadedFile",
]
