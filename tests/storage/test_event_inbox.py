"""Events are recorded once before Slack is acknowledged, and taken over if their replica dies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from storage.database import connect
from storage.inbox import EventInbox

PAYLOAD = {"team_id": "T1", "event": {"type": "message", "text": "hi"}}


@pytest.fixture
async def inbox(database_url: str) -> AsyncIterator[EventInbox]:
    database = await connect(database_url)
    yield EventInbox(database)
    await database.close()


async def test_a_retried_event_is_accepted_once(inbox):
    assert await inbox.accept("Ev1", PAYLOAD, "replica-a")
    assert not await inbox.accept("Ev1", PAYLOAD, "replica-b")


async def test_concurrent_deliveries_of_one_event_are_accepted_once(inbox):
    accepted = await asyncio.gather(*(inbox.accept("Ev2", PAYLOAD, f"r{i}") for i in range(8)))
    assert accepted.count(True) == 1


async def test_finished_events_are_never_taken_over(inbox):
    await inbox.accept("Ev3", PAYLOAD, "replica-a")
    await inbox.finish("Ev3")
    taken = await inbox.take_over_unfinished(
        owner="replica-b", stale_before=time.time() + 60, previous_life=("replica-a", 9e9)
    )
    assert taken == []


async def test_an_unfinished_event_of_a_dead_replica_is_taken_over_once(inbox):
    await inbox.accept("Ev4", PAYLOAD, "replica-a")
    await asyncio.sleep(0.01)
    silent_since = time.time()
    results = await asyncio.gather(
        *(inbox.take_over_unfinished(owner=f"r{i}", stale_before=silent_since) for i in range(4))
    )
    taken = [event for result in results for event in result]
    assert [(e.event_id, e.payload) for e in taken] == [("Ev4", PAYLOAD)]


async def test_a_restarted_replica_takes_back_its_own_unfinished_events_at_once(inbox):
    await inbox.accept("Ev5", PAYLOAD, "replica-a")
    fresh = time.time() - 60
    assert await inbox.take_over_unfinished(owner="replica-b", stale_before=fresh) == []
    taken = await inbox.take_over_unfinished(
        owner="replica-a", stale_before=fresh, previous_life=("replica-a", time.time())
    )
    assert [e.event_id for e in taken] == ["Ev5"]
