"""Where the end-to-end tests play: the emulator's channel and people, the bot's mention, the
fake models (see the `models` fixture), and a person asking the bot something."""

from __future__ import annotations

from tests.doubles.bot_process import BotProcess
from tests.doubles.slack_events import SlackEventSender

CHANNEL, DM = "C0GENERAL", "D0ALICE"
ALICE, BOB = "U0ALICE", "U0BOB"
MENTION = "<@U0BOT>"
MODEL_IDS = ("claude-test", "gpt-test", "gemini-test")
# A replica that is restarted: what its previous life left is taken over 3 s after the start
# (an interval of heartbeats and a half, by which a live twin's would show), not 22.5 s.
REPLICA_A = {"CHORUS_REPLICA_ID": "replica-a", "CHORUS_STALE_ANSWER_SECONDS": "8"}


def ask(bot: BotProcess, events: SlackEventSender, text: str = "go") -> None:
    """Alice mentions the bot in CHANNEL."""
    events.user_says(CHANNEL, ALICE, f"{MENTION} {text}", to=[bot.events_url])


# Events an admin may subscribe the app to beyond the manifest, which the bot has no use for.
UNUSED_EVENTS = [
    {"type": "member_joined_channel", "user": ALICE, "channel": CHANNEL, "event_ts": "1.1"},
    {"type": "app_uninstalled", "event_ts": "1.2"},
    {"type": "tokens_revoked", "tokens": {"bot": ["U0BOT"]}, "event_ts": "1.3"},
]
