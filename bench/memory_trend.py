"""The bot's resident memory over a long run, sampled as it goes, and how fast it grows once
warmed up: a leak shows as growth that goes on; caches filling, as growth that levels off."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from bench.harness import resident_kib

WARM_UP_SHARE = 0.25  # the first quarter of a run fills caches and pools: not counted as growth
MIN_SAMPLES_FOR_TREND = 3
LINES_SHOWN = 12


@dataclass(frozen=True)
class MemorySample:
    seconds: float  # since sampling started
    rounds: int  # rounds sent by then
    pid: int
    kib: int  # VmRSS


class MemorySampler:
    """Samples one bot process's resident memory every `every` seconds, on a thread of its own,
    while the run goes on: `pid()` says which process (None while it is down)."""

    def __init__(
        self, pid: Callable[[], int | None], rounds: Callable[[], int], *, every: float
    ) -> None:
        self._pid, self._rounds, self._every = pid, rounds, every
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, name="memory")
        self.samples: list[MemorySample] = []

    def __enter__(self) -> MemorySampler:
        self._started = time.monotonic()
        self.sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        try:
            kib = resident_kib(pid)
        except (OSError, RuntimeError):  # it ended between the two reads
            return
        elapsed = time.monotonic() - self._started
        self.samples.append(MemorySample(elapsed, self._rounds(), pid, kib))

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()


def after_warm_up(samples: Sequence[MemorySample]) -> list[MemorySample]:
    """The last process's samples, without the first `WARM_UP_SHARE` of its time."""
    if not samples:
        return []
    last = [sample for sample in samples if sample.pid == samples[-1].pid]
    begun = last[0].seconds + WARM_UP_SHARE * (last[-1].seconds - last[0].seconds)
    return [sample for sample in last if sample.seconds >= begun]


def growth_per_hour(samples: Sequence[MemorySample]) -> float | None:
    """MiB an hour the last process sampled grew by after its warm-up (a least-squares line
    through its samples), or None with too few samples to tell."""
    warm = after_warm_up(samples)
    if len(warm) < MIN_SAMPLES_FOR_TREND or warm[-1].seconds == warm[0].seconds:
        return None
    hours = [sample.seconds / 3600 for sample in warm]
    mib = [sample.kib / 1024 for sample in warm]
    return statistics.linear_regression(hours, mib).slope


def memory_lines(samples: Sequence[MemorySample]) -> list[str]:
    """A few samples spread over the run, and the growth after warm-up."""
    if not samples:
        return ["bot memory: not sampled (the bot was not running)"]
    step = max(1, round(len(samples) / LINES_SHOWN))
    shown = [*samples[:-1:step], samples[-1]]
    lines = ["bot memory (resident), as the run went:"]
    lines += [
        f"  {sample.seconds / 60:6.1f} min  {sample.rounds:6d} rounds  {sample.kib / 1024:7.1f} MiB"
        + ("  (restarted)" if index and sample.pid != shown[index - 1].pid else "")
        for index, sample in enumerate(shown)
    ]
    growth, warm = growth_per_hour(samples), after_warm_up(samples)
    if growth is None:
        lines.append("  after warm-up: too few samples to tell")
        return lines
    minutes = (warm[-1].seconds - warm[0].seconds) / 60
    lines.append(
        f"  after warm-up (the last {minutes:.1f} min): {warm[0].kib / 1024:.1f} → "
        f"{warm[-1].kib / 1024:.1f} MiB, a trend of {growth:+.1f} MiB an hour"
    )
    return lines
