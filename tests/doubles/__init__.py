"""Test doubles for end-to-end tests and benchmarks: a Slack emulator, Slack's event delivery,
fake model providers and the bot as a process. Each server runs in a background thread, so tests
are plain synchronous functions:

    with SlackEmulator() as slack, FakeModelServer() as models:
        sender = SlackEventSender(slack)
        env = {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": sender.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "CHORUS_MODELS": "openai:gpt-5.1,anthropic:claude-sonnet-4-5",
            **models.env(),
        }
        models.script("gpt-5.1", ModelScript(error=ModelFault(status=429, retry_after=1)))
        with BotProcess(env) as bot:
            sender.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> hi", to=[bot.events_url])
            wait_until(lambda: len(slack.bot_messages("C0GENERAL")) == 2)

In Socket Mode the bot gets `"SLACK_APP_TOKEN": slack.app_token` instead of the signing secret;
wait for `slack.socket_mode.wait_for_connection()` and deliver with `to=[slack.socket_mode]`.
"""

from tests.doubles.bot_process import BotProcess, BotProcessError, free_port
from tests.doubles.model_servers import FakeModelServer, ModelFault, ModelScript, RecordedRequest
from tests.doubles.server_thread import ServerThread
from tests.doubles.slack_emulator import (
    ApiCall,
    SharedFile,
    SlackEmulator,
    SlackError,
    UploadedFile,
)
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
    "SharedFile",
    "SlackEmulator",
    "SlackError",
    "SlackEventSender",
    "UploadedFile",
    "free_port",
    "wait_until",
]
