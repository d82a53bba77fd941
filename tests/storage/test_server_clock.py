"""Heartbeats are written and judged by the database server's clock: a replica whose own
clock is off is neither taken for dead nor keeps a dead replica's work from being taken over.
(Replicas on SQLite share one machine, and its clock.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from storage.database import Database, connect
from storage.retention import RetentionStore
from tests.storage.test_conversation_store import claim, start, stores_over

FIVE_MINUTES = 300.0


@pytest.fixture
def database_url(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        pytest.skip("replicas on SQLite share one machine's clock: nothing to agree on")
    return database_url


class SkewedClock:
    """A replica's own clock, `skew` seconds off (and the skew can change: a clock stepped)."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def __call__(self) -> float:
        return time.time() + self.skew


@asynccontextmanager
async def replica_clock(database_url: str, clock: SkewedClock) -> AsyncIterator[Database]:
    """The database as a replica with this clock of its own sees it."""
    database = await connect(database_url, local_clock=clock)
    try:
        yield database
    finally:
        await database.close()


async def test_the_time_is_the_servers_and_steps_of_the_replicas_clock_do_not_move_it(
    database_url,
):
    clock = SkewedClock(-FIVE_MINUTES)
    async with replica_clock(database_url, clock) as behind:
        assert abs(behind.now() - time.time()) < 1.0  # the server is on this machine
        clock.skew += 2 * FIVE_MINUTES  # the replica's clock is stepped forward
        assert abs(behind.now() - time.time()) < 1.0
        await behind.agree_on_time()
        assert abs(behind.now() - time.time()) < 1.0


async def test_a_live_replica_is_not_taken_for_dead_whatever_either_clock_says(database_url):
    recovering_clock = SkewedClock(0.0)
    async with (
        replica_clock(database_url, SkewedClock(-FIVE_MINUTES)) as behind,
        replica_clock(database_url, recovering_clock) as other,
    ):
        started = await start(stores_over(behind), claim("1.0"))
        assert started is not None
        streaming = started.answers[0].answer_id
        assert await stores_over(behind).answers.progress(streaming, "partial", None)

        recovering_clock.skew = FIVE_MINUTES  # stepped forward since it last read the server's
        recovering = stores_over(other).replica("replica-b")
        silent_since = other.now() - 60
        assert not await recovering.take_over_interrupted(stale_before=silent_since, error="x")
        assert await stores_over(behind).answers.progress(streaming, "partial, more", None)


async def test_a_dead_replica_whose_clock_was_ahead_is_taken_over(database_url):
    async with (
        replica_clock(database_url, SkewedClock(FIVE_MINUTES)) as ahead,
        replica_clock(database_url, SkewedClock(0.0)) as on_time,
    ):
        started = await start(stores_over(ahead), claim("1.0"))
        assert started is not None
        await stores_over(ahead).answers.progress(started.answers[0].answer_id, "partial", None)
        await asyncio.sleep(0.1)  # and then it died

        recovering = stores_over(on_time).replica("replica-b")
        silent_since = on_time.now() - 0.05
        taken = await recovering.take_over_interrupted(stale_before=silent_since, error="x")
        assert taken.rounds == (started.round_id,)


async def test_what_was_said_just_now_is_not_forgotten_by_a_replica_whose_clock_is_ahead(
    database_url,
):
    async with replica_clock(database_url, SkewedClock(+FIVE_MINUTES)) as ahead:
        await stores_over(ahead).round("1.0", "said just now")
        forgotten_a_minute_on = await RetentionStore(ahead).forget_said_more_than(60.0)
        forgotten_all = await RetentionStore(ahead).forget_said_more_than(-60.0)

    assert (forgotten_a_minute_on, forgotten_all) == (0, 1)
