"""On SQLite the bot goes by this machine's clock, read once and counted on by the monotonic
clock: a step of the wall clock (a laptop waking, NTP's first correction on a small VM) does
not make the bot's own streaming answers look stale to its sweeper."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from storage.database import Database, connect
from tests.storage.test_conversation_store import claim, start, stores_over

TWO_MINUTES = 120.0
STALE_SECONDS = 60.0  # CHORUS_STALE_ANSWER_SECONDS's default


class SteppedClock:
    """This machine's wall clock, stepped by `step` seconds (and the step can change)."""

    def __init__(self) -> None:
        self.step = 0.0

    def __call__(self) -> float:
        return time.time() + self.step


@asynccontextmanager
async def sqlite_by(clock: SteppedClock, tmp_path: Path) -> AsyncIterator[Database]:
    database = await connect(f"sqlite+aiosqlite:///{tmp_path}/chorus.db", local_clock=clock)
    try:
        yield database
    finally:
        await database.close()


async def test_a_wall_clock_step_does_not_make_the_bots_own_streaming_answer_stale(tmp_path):
    clock = SteppedClock()
    async with sqlite_by(clock, tmp_path) as database:
        stores = stores_over(database)
        started = await start(stores, claim("1.0"))
        assert started is not None
        streaming = started.answers[0].answer_id
        with stores.answers.in_hand([answer.answer_id for answer in started.answers]):
            assert await stores.answers.progress(streaming, "partial", None)
            await stores.answers.heartbeat()
            clock.step = TWO_MINUTES  # while the process itself ran on
            assert abs(database.now() - time.time()) < 1.0
            # What the sweeper does next, should it wake before the heartbeat loop:
            taken = await stores.answers.take_over_interrupted(
                stale_before=database.now() - STALE_SECONDS, error="restarted"
            )
            assert not taken
            assert await stores.answers.progress(streaming, "partial, more", None)


async def test_the_heartbeat_loop_takes_up_the_stepped_clock_and_its_heartbeats_with_it(tmp_path):
    clock = SteppedClock()
    async with sqlite_by(clock, tmp_path) as database:
        stores = stores_over(database)
        started = await start(stores, claim("1.0"))
        assert started is not None
        streaming = started.answers[0].answer_id
        with stores.answers.in_hand([answer.answer_id for answer in started.answers]):
            assert await stores.answers.progress(streaming, "partial", None)
            clock.step = TWO_MINUTES
            # What the heartbeat loop does: agree on the time, then send the heartbeats.
            await database.agree_on_time()
            await stores.answers.heartbeat()
            # Now by the machine's clock again, as another process opening the file would be.
            assert abs(database.now() - clock()) < 1.0
            taken = await stores.answers.take_over_interrupted(
                stale_before=database.now() - STALE_SECONDS, error="restarted"
            )
            assert not taken
            assert await stores.answers.progress(streaming, "partial, more", None)
