"""Streaming edits share one budget, so many answers at once stay inside Slack's limits."""

from bot.slack.pacing import UpdateBudget


class FakeTime:
    """A clock that moves only when the budget sleeps; it keeps each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def budget(self, rate_per_second: float, burst: int) -> UpdateBudget:
        return UpdateBudget(rate_per_second, burst, clock=self.clock, sleep=self.sleep)


async def test_a_burst_goes_out_at_once_then_edits_are_spread_at_the_rate():
    time = FakeTime()
    budget = time.budget(rate_per_second=2.0, burst=3)
    for _ in range(5):
        await budget.take()
    assert time.slept == [0.5, 0.5]
    assert time.now == 1.0


async def test_final_edits_do_not_wait_but_use_up_the_budget():
    time = FakeTime()
    budget = time.budget(rate_per_second=1.0, burst=1)
    budget.spend()
    budget.spend()
    await budget.take()
    assert time.slept == [2.0]


async def test_an_idle_budget_saves_up_no_more_than_a_burst_final_edits_included():
    time = FakeTime()
    budget = time.budget(rate_per_second=1.0, burst=2)
    time.now = 60.0
    budget.spend()
    await budget.take()
    await budget.take()
    assert time.slept == [1.0]
