"""Streaming edits share one budget, so many answers at once stay inside Slack's limits."""

import asyncio

from bot.slack.pacing import UpdateBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_goes_out_at_once_then_edits_are_spread_at_the_rate(monkeypatch):
    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    budget = UpdateBudget(rate_per_second=2.0, burst=3, clock=clock)
    for _ in range(5):
        await budget.take()
    assert slept == [0.5, 0.5]
    assert clock.now == 1.0


async def test_final_edits_do_not_wait_but_use_up_the_budget(monkeypatch):
    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    budget = UpdateBudget(rate_per_second=1.0, burst=1, clock=clock)
    budget.spend()
    budget.spend()
    await budget.take()
    assert slept == [2.0]
