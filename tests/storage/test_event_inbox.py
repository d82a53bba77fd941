"""Events are recorded once before Slack is acknowledged, and taken over if their replica dies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.orm import Session

from storage.database import connect
from storage.inbox import EventInbox
from storage.tables import HandledEvent

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


async def test_a_replica_id_holds_its_events_until_they_are_handled(inbox):
    """What a replica starting under this id checks: is there anything to take over, or a
    live twin's work to tell apart, before it waits for the twin's heartbeats?"""
    assert not await inbox.any_unfinished("replica-a")
    await inbox.accept("Ev20", PAYLOAD, "replica-a")
    assert await inbox.any_unfinished("replica-a")
    assert not await inbox.any_unfinished("replica-b")
    await inbox.finish("Ev20")
    assert not await inbox.any_unfinished("replica-a")


async def test_an_unfinished_event_of_a_dead_replica_is_taken_over_once(database_url):
    database = await connect(database_url)
    inbox = EventInbox(database)
    await inbox.accept("Ev4", PAYLOAD, "replica-a")
    await asyncio.sleep(0.01)
    silent_since = database.now()  # by the clock the heartbeats are written by
    results = await asyncio.gather(
        *(inbox.take_over_unfinished(owner=f"r{i}", stale_before=silent_since) for i in range(4))
    )
    await database.close()
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


async def test_a_replica_never_takes_over_an_event_it_is_still_handling(inbox):
    await inbox.accept("Ev13", PAYLOAD, "replica-a")
    await inbox.accept("Ev14", PAYLOAD, "replica-a")
    long_after = time.time() + 600  # its event loop was held up past the heartbeats

    taken = await inbox.take_over_unfinished(
        owner="replica-a", stale_before=long_after, in_hand={"Ev13"}
    )

    assert [event.event_id for event in taken] == ["Ev14"]
    taken = await inbox.take_over_unfinished(owner="replica-b", stale_before=long_after + 1)
    assert sorted(event.event_id for event in taken) == ["Ev13", "Ev14"]


async def test_a_handled_event_keeps_only_its_id(database_url):
    database = await connect(database_url)
    inbox = EventInbox(database)
    await inbox.accept("Ev6", PAYLOAD, "replica-a")
    kept_while_unfinished = await database.run(_payload_of, "Ev6")
    await inbox.finish("Ev6")
    kept_after = await database.run(_payload_of, "Ev6")
    await database.close()

    assert kept_while_unfinished == PAYLOAD
    assert kept_after == {}


async def test_handled_events_are_forgotten_later_and_unfinished_ones_never(inbox):
    for event_id in ("Ev7", "Ev8", "Ev9"):
        await inbox.accept(event_id, PAYLOAD, "replica-a")
    await inbox.finish("Ev7")
    await inbox.finish("Ev8")

    assert await inbox.forget_handled(before=time.time() - 60) == 0
    assert await inbox.forget_handled(before=time.time() + 60) == 2
    assert not await inbox.accept("Ev9", PAYLOAD, "replica-b"), "an unfinished one is kept"
    taken = await inbox.take_over_unfinished(
        owner="replica-b", stale_before=time.time() + 60, previous_life=None
    )
    assert [event.event_id for event in taken] == ["Ev9"]


def _payload_of(session: Session, event_id: str) -> object:
    return session.get_one(HandledEvent, event_id).payload


async def test_a_live_replicas_heartbeat_keeps_only_its_own_events(inbox):
    await inbox.accept("Ev10", PAYLOAD, "replica-a")
    await asyncio.sleep(0.05)
    silent_since = inbox._database.now()  # replica-a dies here
    await inbox.heartbeat("replica-b", ["Ev10"])
    taken = await inbox.take_over_unfinished(owner="replica-b", stale_before=silent_since)
    assert [event.event_id for event in taken] == ["Ev10"]


async def test_a_heartbeat_keeps_only_the_events_its_replica_still_works_on(inbox):
    await inbox.accept("Ev11", PAYLOAD, "replica-a")  # being handled
    await inbox.accept("Ev12", PAYLOAD, "replica-a")  # its handling ended, unrecorded
    await asyncio.sleep(0.05)
    silent_since = inbox._database.now()
    await inbox.heartbeat("replica-a", ["Ev11"])
    taken = await inbox.take_over_unfinished(owner="replica-b", stale_before=silent_since)
    assert [event.event_id for event in taken] == ["Ev12"]
