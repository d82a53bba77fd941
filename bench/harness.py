"""The real bot, in HTTP mode, against the Slack emulator and fake model servers, for measuring."""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.slack_timeline import MeasuredRound, count_final_updates, measured_rounds
from bench.table import median
from tests.doubles import (
    BotProcess,
    FakeModelServer,
    ModelScript,
    SlackEmulator,
    SlackEventSender,
    wait_until,
)
from tests.doubles.model_servers import OPENAI_API_KEY
from tests.doubles.slack_signing import signed_headers

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
POLL_SECONDS = 0.01
DELIVERY_CONNECTIONS = 100
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class BenchBot:
    """A running bot and the doubles around it, with the few actions the figures need."""

    slack: SlackEmulator
    models: FakeModelServer
    events: SlackEventSender
    bot: BotProcess
    delivery: httpx.Client
    _channel_numbers: Iterator[int]

    def new_channel(self) -> str:
        """A fresh public channel, so each round starts its own chat and is easy to find."""
        channel = f"C0BENCH{next(self._channel_numbers):05d}"
        self.slack.add_channel(channel, channel.lower())
        return channel

    def mention(self, channel: str, text: str) -> float:
        """A person mentions the bot and Slack delivers the `message` and `app_mention` events,
        signed, over a kept-alive connection (so no client set-up is timed). Returns when the
        first delivery started (time.monotonic), once the bot has acknowledged both."""
        message = self.slack.post_user_message(channel, PERSON, f"{MENTION} {text}")
        events = self.events.events_for(channel, message)
        bodies = [json.dumps(self.events.envelope(event)).encode() for event in events]
        delivered_at = time.monotonic()
        for body in bodies:
            headers = signed_headers(SIGNING_SECRET, body, "application/json")
            response = self.delivery.post(self.bot.events_url, content=body, headers=headers)
            response.raise_for_status()
        return delivered_at

    def rounds_at_once(
        self, texts: Sequence[str], *, answers_each: int, timeout: float = 60.0
    ) -> list[MeasuredRound]:
        """Mention the bot once per text, each in a new channel, all at once (from threads),
        and wait for every answer's final edit."""
        channels = [self.new_channel() for _ in texts]
        self.slack.reset_calls()
        with ThreadPoolExecutor(max_workers=len(texts)) as pool:
            delivered = list(pool.map(self.mention, channels, texts))
        self.wait_for_final_updates(answers_each * len(texts), timeout)
        self.wait_until_idle(timeout)
        return measured_rounds(self.slack.calls, dict(zip(channels, delivered, strict=True)))

    def one_round(self, text: str, *, answers: int, timeout: float = 60.0) -> MeasuredRound:
        """One mention in a new channel, measured until its answers are final."""
        channel = self.new_channel()
        self.slack.reset_calls()
        delivered = self.mention(channel, text)
        self.wait_for_final_updates(answers, timeout)
        self.wait_until_idle(timeout)
        (measured,) = measured_rounds(self.slack.calls, {channel: delivered})
        return measured

    def wait_until_idle(self, timeout: float = 60.0) -> None:
        """Wait until the bot has finished its work on the events (recording what it showed,
        settling rounds), so the next round does not start into the last one's tail."""
        self.bot.wait_until_idle(timeout, interval=POLL_SECONDS, client=self.delivery)

    def slack_round_trip(self, calls: int = 20) -> float:
        """Seconds one Web API call takes as a client with a kept-alive connection sees it: the
        emulator's latency plus its own work (median of `calls` chat.postMessage)."""
        channel = self.new_channel()
        url = f"{self.slack.api_url}chat.postMessage"
        headers = {"Authorization": f"Bearer {self.slack.bot_token}"}
        seconds = []
        for _ in range(calls):
            started = time.monotonic()
            response = self.delivery.post(
                url, data={"channel": channel, "text": "hi"}, headers=headers
            )
            response.raise_for_status()
            seconds.append(time.monotonic() - started)
        return median(seconds)

    def wait_for_final_updates(self, count: int, timeout: float = 60.0) -> None:
        """Wait until Slack has received `count` final answer edits since the last reset."""
        wait_until(
            lambda: count_final_updates(self.slack.calls_for("chat.update")) >= count,
            timeout=timeout,
            interval=POLL_SECONDS,
            message=f"{count} final answers within {timeout} s",
        )

    @property
    def pid(self) -> int:
        pid = self.bot.pid
        if pid is None:
            raise RuntimeError("the bot is not running")
        return pid

    def resident_kib(self) -> int:
        """The bot process's resident memory (VmRSS), in KiB."""
        return resident_kib(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time the bot process has used so far (user + system)."""
        return cpu_seconds(self.pid)


@contextmanager
def running_bot(
    *,
    slack_latency: float,
    scripts: Mapping[str, ModelScript],
    settings: Mapping[str, str] | None = None,
    launcher: Sequence[str] = (),
) -> Iterator[BenchBot]:
    """Start the emulator, the fake models (scripted) and `python -m bot` on a fresh SQLite file
    (`launcher` goes before `-m bot`, e.g. a profiler)."""
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
        bot = BotProcess(env, log_path=workdir / "bot.log", launcher=launcher)
        limits = httpx.Limits(max_connections=DELIVERY_CONNECTIONS)
        with bot, httpx.Client(limits=limits, timeout=30.0, trust_env=False) as delivery:
            events = SlackEventSender(slack, signing_secret=SIGNING_SECRET)
            yield BenchBot(slack, models, events, bot, delivery, itertools.count(1))


def resident_kib(pid: int) -> int:
    """VmRSS of `pid` from /proc, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` from /proc, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The fields after the parenthesised command name; utime and stime are the 12th and 13th.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


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
