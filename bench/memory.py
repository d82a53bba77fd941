"""Figure 6: the bot's resident memory idle, and while 50 answers stream at once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.harness import MODEL_IDS, BenchBot, running_bot
from bench.table import Row
from tests.doubles import ModelScript, wait_until

STREAMING_ANSWERS = 50
SAMPLES = 10
SAMPLE_SECONDS = 0.2
# Long enough that all 50 are still streaming while memory is sampled.
SLOW_STREAM = ModelScript(reply="A long and patient answer. " * 40, chunk_delay=0.1)
ALIASES = ("claude", "gpt", "gemini")


@dataclass(frozen=True)
class Memory:
    idle_kib: tuple[int, ...]
    streaming_kib: tuple[int, ...]


def measure_memory(*, slack_latency: float) -> Memory:
    """Idle after one round; then 50 single-model rounds at once (the three models in turn),
    sampled while every one of them streams. Default settings throughout."""
    scripts = dict.fromkeys(MODEL_IDS, SLOW_STREAM)
    with running_bot(slack_latency=slack_latency, scripts=scripts) as bench:
        bench.one_round(f"+{ALIASES[0]} warm up", answers=1, timeout=120)
        idle = _samples(bench)
        channels = [bench.new_channel() for _ in range(STREAMING_ANSWERS)]
        bench.slack.reset_calls()
        for number, channel in enumerate(channels):
            bench.mention(channel, f"+{ALIASES[number % len(ALIASES)]} tell me a long story")
        wait_until(
            lambda: bench.models.in_flight >= STREAMING_ANSWERS,
            timeout=30,
            message=f"{STREAMING_ANSWERS} answers streaming",
        )
        streaming = _samples(bench)
        if bench.models.in_flight < STREAMING_ANSWERS:
            raise RuntimeError("answers finished while memory was sampled: make them longer")
        bench.wait_for_final_updates(STREAMING_ANSWERS, timeout=120)
    return Memory(idle, streaming)


def _samples(bench: BenchBot) -> tuple[int, ...]:
    samples = []
    for _ in range(SAMPLES):
        samples.append(bench.resident_kib())
        time.sleep(SAMPLE_SECONDS)
    return tuple(samples)


def memory_rows(memory: Memory) -> list[Row]:
    return [
        Row("6a. resident memory, idle", _mib(memory.idle_kib), "MiB"),
        Row(
            f"6b. resident memory, {STREAMING_ANSWERS} answers streaming",
            _mib(memory.streaming_kib),
            "MiB",
        ),
    ]


def _mib(samples: tuple[int, ...]) -> tuple[float, ...]:
    return tuple(kib / 1024 for kib in samples)
