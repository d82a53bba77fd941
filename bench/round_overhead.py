"""Figure 2: what the bot itself adds to a round when every model answers at once, one round at
a time and 50 rounds at once, and how many rounds a second it then sustains."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from bench.harness import MODEL_IDS, BenchBot, running_bot
from bench.slack_timeline import MeasuredRound
from bench.table import Row
from tests.doubles import ModelScript

AT_ONCE = 50
TARGET_MS = 20.0


@dataclass(frozen=True)
class Batch:
    """Rounds delivered together, and the CPU time the bot spent on them."""

    rounds: tuple[MeasuredRound, ...]
    bot_cpu_seconds: float

    @property
    def rounds_per_second(self) -> float:
        started = min(measured.delivered_at for measured in self.rounds)
        ended = max(measured.delivered_at + measured.seconds for measured in self.rounds)
        return len(self.rounds) / (ended - started)


@dataclass(frozen=True)
class Overhead:
    one_at_a_time: Batch
    at_once: tuple[Batch, ...]
    slack_round_trip: float  # seconds, as a client sees it


def measure_overhead(*, sequential_rounds: int, batches: int, slack_latency: float) -> Overhead:
    """Models that send their whole answer at once (the fake servers' default), so all the
    time a round takes is Slack's and the bot's."""
    scripts = {model_id: ModelScript() for model_id in MODEL_IDS}
    answers = len(MODEL_IDS)
    with running_bot(slack_latency=slack_latency, scripts=scripts) as bench:
        bench.one_round("warm up", answers=answers)
        slack_round_trip = bench.slack_round_trip()
        questions = [f"question {number}" for number in range(sequential_rounds)]
        one_at_a_time = _batch(
            bench, lambda: [bench.one_round(text, answers=answers) for text in questions]
        )
        at_once = []
        for batch in range(batches):
            texts = [f"batch {batch} question {number}" for number in range(AT_ONCE)]
            at_once.append(
                _batch(bench, partial(bench.rounds_at_once, texts, answers_each=answers))
            )
    return Overhead(one_at_a_time, tuple(at_once), slack_round_trip)


def _batch(bench: BenchBot, run: Callable[[], Sequence[MeasuredRound]]) -> Batch:
    """Run some rounds, counting the CPU time the bot spends meanwhile."""
    cpu_before = bench.cpu_seconds()
    rounds = tuple(run())
    return Batch(rounds, bench.cpu_seconds() - cpu_before)


def overhead_rows(overhead: Overhead) -> list[Row]:
    # The Slack round trips a round cannot avoid, one after another: each placeholder in model
    # order, then the last answer's final edit.
    answers = len(MODEL_IDS)
    floor = (answers + 1) * overhead.slack_round_trip
    at_once_rounds = [measured for batch in overhead.at_once for measured in batch.rounds]
    return [
        Row(
            f"2a. added per round, one at a time (round - {answers + 1} x "
            f"{overhead.slack_round_trip * 1000:.1f} ms Slack round trip)",
            _milliseconds(overhead.one_at_a_time.rounds, minus=floor),
            "ms",
            target=f"≤ {TARGET_MS:.0f} ms median",
            meets=lambda middle, _high: middle <= TARGET_MS,
        ),
        Row(
            f"2b. event → all final, {AT_ONCE} rounds at once",
            _milliseconds(at_once_rounds, minus=0.0),
            "ms",
        ),
        Row(
            f"2c. rounds a second, {AT_ONCE} at once",
            tuple(batch.rounds_per_second for batch in overhead.at_once),
            "/s",
        ),
        Row(
            "2d. bot CPU per round (one at a time, then each batch)",
            tuple(
                batch.bot_cpu_seconds / len(batch.rounds) * 1000
                for batch in (overhead.one_at_a_time, *overhead.at_once)
            ),
            "ms",
        ),
    ]


def _milliseconds(rounds: Sequence[MeasuredRound], *, minus: float) -> tuple[float, ...]:
    return tuple((measured.seconds - minus) * 1000 for measured in rounds)
