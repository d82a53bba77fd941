"""The soak's memory trend: growth that goes on is reported, caches that fill and level off
are not, and a restarted process is judged on its own samples."""

from __future__ import annotations

import os
import time

import pytest

from bench.memory_trend import MemorySample, MemorySampler, growth_per_hour, memory_lines

MIB = 1024


def samples(
    kib_at_minute: list[int], *, pid: int = 100, start_minute: int = 0
) -> list[MemorySample]:
    return [
        MemorySample((start_minute + minute) * 60.0, 10 * minute, pid, kib)
        for minute, kib in enumerate(kib_at_minute)
    ]


def test_steady_growth_is_reported_per_hour():
    leaking = samples([100 * MIB + minute * MIB for minute in range(21)])  # 1 MiB a minute

    assert growth_per_hour(leaking) == pytest.approx(60.0)


def test_caches_filling_during_warm_up_are_not_growth():
    filling_then_flat = samples([80 * MIB, 95 * MIB, 100 * MIB, *[101 * MIB] * 9])

    assert growth_per_hour(filling_then_flat) == pytest.approx(0.0)


def test_a_restarted_process_is_judged_on_its_own_samples():
    before = samples([100 * MIB + minute * 10 * MIB for minute in range(10)], pid=1)
    after = samples([90 * MIB] * 10, pid=2, start_minute=10)

    assert growth_per_hour([*before, *after]) == pytest.approx(0.0)
    assert "(restarted)" in "\n".join(memory_lines([*before, *after]))


def test_too_few_samples_tell_nothing():
    assert growth_per_hour([]) is None
    assert growth_per_hour(samples([100 * MIB, 200 * MIB])) is None
    assert memory_lines(samples([100 * MIB]))[-1].endswith("too few samples to tell")


def test_the_lines_show_the_first_and_last_sample_and_the_trend():
    lines = memory_lines(samples([100 * MIB + minute * MIB for minute in range(40)]))

    assert "  0.0 min" in lines[1] and "100.0 MiB" in lines[1]
    assert "39.0 min" in lines[-2] and "139.0 MiB" in lines[-2]
    assert lines[-1].endswith(
        "(the last 29.0 min): 110.0 → 139.0 MiB, a trend of +60.0 MiB an hour"
    )
    assert len(lines) <= 2 + 14


def test_the_sampler_reads_a_live_process_and_skips_one_that_is_down():
    rounds = iter(range(1000))
    alive: list[int | None] = [os.getpid()]
    with MemorySampler(lambda: alive[0], lambda: next(rounds), every=0.01) as sampler:
        time.sleep(0.1)
        alive[0] = None
        time.sleep(0.03)  # a sample begun before lets go
        taken = len(sampler.samples)
        time.sleep(0.05)

    assert taken >= 3
    assert len(sampler.samples) == taken
    assert all(sample.pid == os.getpid() and sample.kib > 1000 for sample in sampler.samples)
    assert [sample.rounds for sample in sampler.samples] == sorted(
        sample.rounds for sample in sampler.samples
    )
