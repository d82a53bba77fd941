"""Test doubles for end-to-end tests and benchmarks: a Slack emulator, Slack's event delivery,
fake model providers and the bot as a process. Each server runs in a background thread."""

from tests.doubles.bot_process import BotProcess, BotProcessError, free_port
from tests.doubles.model_servers import FakeModelServer, ModelFault, ModelScript, RecordedRequest
from tests.doubles.server_thread import ServerThread
from tests.doubles.slack_emulator import ApiCall, SlackEmulator, SlackError, UploadedFile
from tests.doubles.slack_events import SlackEventSender
from tests.doubles.waiting import wait_until

__all__ = [
    "ApiCall",
    "BotProcess",
    "BotProcessError",
    "FakeModelServer",
    "ModelFault",
    "ModelScript",
    "RecordedRequest",
    "ServerThread",
    "SlackEmulator",
    "SlackError",
    "SlackEventSender",
    "UploadedFile",
    "free_port",
    "wait_until",
]
