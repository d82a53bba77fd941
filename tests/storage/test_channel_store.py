"""A channel's own models and prompt: set, replaced, removed, and set at once by two replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.channels import ChannelStore
from storage.database import Database, connect
from storage.tables import ChannelModels, ChannelPrompt


@pytest.fixture
async def two_replicas(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two bots' connections to one database (on PostgreSQL, each with a pool of its own)."""
    first = await connect(database_url)
    second = await connect(database_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _who_set(session: Session, channel_id: str) -> tuple[tuple[str, list[str]], tuple[str, str]]:
    models = session.scalars(select(ChannelModels).where(ChannelModels.channel_id == channel_id))
    prompt = session.get(ChannelPrompt, channel_id)
    (row,) = models
    assert prompt is not None
    return (row.set_by, row.models), (prompt.set_by, prompt.prompt)


async def test_a_channels_models_and_prompt_are_replaced_by_the_latest_command(database_url):
    database = await connect(database_url)
    channels = ChannelStore(database)
    await channels.set_models("T1", "C1", ["a:b"], set_by="U1")
    await channels.set_models("T1", "C1", ["c:d", "e:f"], set_by="U2")
    await channels.set_prompt("C1", "Answer in French.", set_by="U1")
    await channels.set_prompt("C1", "Answer in German.", set_by="U2")
    assert await channels.models("T1", "C1") == ["c:d", "e:f"]
    assert await database.run(_who_set, "C1") == (
        ("U2", ["c:d", "e:f"]),
        ("U2", "Answer in German."),
    )
    await database.close()


async def test_removing_a_prompt_a_channel_never_had_is_no_error(database_url):
    database = await connect(database_url)
    channels = ChannelStore(database)
    await channels.set_prompt("C1", None, set_by="U1")
    assert await channels.prompt("C1") is None
    await database.close()


async def test_first_commands_for_a_channel_at_once_on_two_replicas_all_succeed(two_replicas):
    # Each channel's first /chorus models and /chorus prompt, twice each, at the same moment.
    first, second = two_replicas
    for n in range(20):
        channel = f"C{n}"
        results = await asyncio.gather(
            ChannelStore(first).set_models("T1", channel, ["a:b"], set_by="U1"),
            ChannelStore(second).set_models("T1", channel, ["c:d"], set_by="U2"),
            ChannelStore(first).set_prompt(channel, "p1", set_by="U1"),
            ChannelStore(second).set_prompt(channel, "p2", set_by="U2"),
            return_exceptions=True,
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        # One command won each: its columns together, never a mix of the two.
        models, prompt = await first.run(_who_set, channel)
        assert models in (("U1", ["a:b"]), ("U2", ["c:d"]))
        assert prompt in (("U1", "p1"), ("U2", "p2"))
