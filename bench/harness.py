"""The real bot, in HTTP mode, against the Slack emulator and fake model servers, for measuring."""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.slack_timeline import count_final_updates
from tests.doubles import (
    BotProcess,
    FakeModelServer,
    ModelScript,
    SlackEmulator,
    SlackEventSender,
    wait_until,
)
from tests.doubles.model_servers import OPENAI_API_KEY

BOT_MODELS = "anthropic:claude-test,openai:gpt-test,google:gemini-test"
MODEL_IDS = ("claude-test", "gpt-test", "gemini-test")
SIGNING_SECRET = "bench-signing-secret"
PERSON = "U0ALICE"
MENTION = "<@U0BOT>"
# Only what the bench must set; every tuning knob keeps its default unless a figure says so.
BOT_SETTINGS = {
    "CHORUS_MODELS": BOT_MODELS,
    "CHORUS_PROVIDER_READ_TIMEOUT": "30",
}
POLL_SECONDS = 0.05


@dataclass
class BenchBot:
    """A running bot and the doubles around it, with the few actions the figures need."""

    slack: SlackEmulator
    models: FakeModelServer
    events: SlackEventSender
    bot: BotProcess
    _channel_numbers: Iterator[int]

    def new_channel(self) -> str:
        """A fresh public channel, so each round starts its own chat and is easy to find."""
        channel = f"C0BENCH{next(self._channel_numbers):05d}"
        self.slack.add_channel(channel, channel.lower())
        return channel

    def mention(self, channel: str, text: str) -> float:
        """A person mentions the bot; returns when Slack started delivering (time.monotonic)."""
        delivered_at = time.monotonic()
        self.events.user_says(channel, PERSON, f"{MENTION} {text}", to=[self.bot.events_url])
        return delivered_at

    def wait_for_final_updates(self, count: int, timeout: float = 60.0) -> None:
        """Wait until Slack has received `count` final answer edits since the last reset."""
        wait_until(
            lambda: count_final_updates(self.slack.calls_for("chat.update")) >= count,
            timeout=timeout,
            interval=POLL_SECONDS,
            message=f"{count} final answers within {timeout} s",
        )

    def resident_kib(self) -> int:
        """The bot process's resident memory (VmRSS), in KiB."""
        return resident_kib(bot_pid())


@contextmanager
def running_bot(
    *,
    slack_latency: float,
    scripts: Mapping[str, ModelScript],
    settings: Mapping[str, str] | None = None,
) -> Iterator[BenchBot]:
    """Start the emulator, the fake models (scripted) and `python -m bot` on a fresh SQLite file."""
    workdir = Path(tempfile.mkdtemp(prefix="chorus-bench-"))
    with SlackEmulator(latency_seconds=slack_latency) as slack, FakeModelServer() as models:
        for model_id, script in scripts.items():
            models.script(model_id, script)
        env = {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'chorus.db'}",
            **BOT_SETTINGS,
            **(settings or {}),
            **models.env(),
        }
        with BotProcess(env, log_path=workdir / "bot.log") as bot:
            events = SlackEventSender(slack, signing_secret=SIGNING_SECRET)
            yield BenchBot(slack, models, events, bot, itertools.count(1))


def bot_pid() -> int:
    """The pid of the one `python -m bot` this process started."""
    children = [pid for pid in _child_pids() if _cmdline(pid) == [sys.executable, "-m", "bot"]]
    if len(children) != 1:
        raise RuntimeError(f"expected one bot process, found {children}")
    return children[0]


def _child_pids() -> list[int]:
    own = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent pid is the second field after the parenthesised command name.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == own:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def resident_kib(pid: int) -> int:
    """VmRSS of `pid` from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def direct_stream_seconds(models: FakeModelServer, model_id: str) -> float:
    """How long one answer of `model_id` takes streamed straight from its fake server, no bot."""
    request = {
        "model": model_id,
        "stream": True,
        "messages": [{"role": "user", "content": "How long do you take?"}],
    }
    headers = {"Authorization": f"Bearer {OPENAI_API_KEY}"}
    started = time.monotonic()
    with httpx.stream(
        "POST",
        f"{models.url}/openai/v1/chat/completions",
        json=request,
        headers=headers,
        timeout=30.0,
        trust_env=False,
    ) as response:
        response.raise_for_status()
        for _ in response.iter_bytes():
            pass
    return time.monotonic() - started
