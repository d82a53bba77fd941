"""People's and channels' names: looked up once, then refreshed beside the messages that use
them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.slack.web import SlackWeb
from bot.slack.web_client import make_web_client
from tests.doubles.slack_emulator import SlackEmulator


@pytest.fixture
async def stale_at_once() -> AsyncIterator[tuple[SlackWeb, SlackEmulator]]:
    """The bot's Slack client with names stale as soon as they are looked up, and Alice."""
    emulator = SlackEmulator().start()
    emulator.add_user("U0ALICE", "Alice")
    client = make_web_client(emulator.bot_token, emulator.api_url)
    yield SlackWeb(client, names_kept_seconds=0), emulator
    emulator.stop()


def lookups(emulator: SlackEmulator) -> int:
    return len(emulator.calls_for("users.info"))


async def wait_for_lookups(emulator: SlackEmulator, count: int) -> None:
    """Until the emulator has answered `count` lookups and the bot has had their replies."""
    for _ in range(200):
        if lookups(emulator) >= count:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert lookups(emulator) == count


async def test_a_name_is_looked_up_once_while_fresh(web):
    slack, emulator = web
    emulator.add_user("U0ALICE", "Alice")
    assert [await slack.user_name("U0ALICE") for _ in range(3)] == ["Alice"] * 3
    assert lookups(emulator) == 1


async def test_a_stale_name_is_used_at_once_and_refreshed_beside_it(stale_at_once):
    slack, emulator = stale_at_once
    assert await slack.user_name("U0ALICE") == "Alice"
    emulator.add_user("U0ALICE", "Alice Liddell")

    assert await slack.user_name("U0ALICE") == "Alice"  # not waiting for Slack
    assert await slack.user_name("U0ALICE") == "Alice"  # nor looking up twice at once
    await wait_for_lookups(emulator, 2)
    assert await slack.user_name("U0ALICE") == "Alice Liddell"


async def test_a_failed_refresh_keeps_the_name_known_so_far(stale_at_once):
    slack, emulator = stale_at_once
    assert await slack.user_name("U0ALICE") == "Alice"
    emulator.inject("users.info", error="user_not_found", status=200, retry_after=None)
    assert await slack.user_name("U0ALICE") == "Alice"
    await wait_for_lookups(emulator, 2)
    assert [await slack.user_name("U0ALICE") for _ in range(3)] == ["Alice"] * 3
    await wait_for_lookups(emulator, 2)  # not asked again at every use while Slack refuses


async def test_someone_slack_will_not_describe_is_not_asked_about_again_at_once(web):
    slack, emulator = web
    assert [await slack.user_name("U0NOBODY") for _ in range(3)] == ["U0NOBODY"] * 3
    await wait_for_lookups(emulator, 1)  # nor asked about again beside those messages


async def test_the_names_kept_are_bounded_the_least_recently_looked_up_going_first(web):
    unbounded, emulator = web
    slack = SlackWeb(unbounded.client, max_names=2)
    for user, name in (("U0ALICE", "Alice"), ("U0BOB", "Bob"), ("U0CAROL", "Carol")):
        emulator.add_user(user, name)
        await slack.user_name(user)
    assert lookups(emulator) == 3

    assert await slack.user_name("U0CAROL") == "Carol"
    assert await slack.user_name("U0BOB") == "Bob"
    assert lookups(emulator) == 3, "the two latest are kept"
    assert await slack.user_name("U0ALICE") == "Alice"
    assert lookups(emulator) == 4, "the first was let go"


async def test_a_channel_is_named_as_slack_names_it_and_looked_up_once(web):
    slack, emulator = web
    emulator.add_channel("C0RANDOM", "random")
    assert [await slack.channel_name("C0RANDOM") for _ in range(3)] == ["random"] * 3
    assert len(emulator.calls_for("conversations.info")) == 1


async def test_a_channel_slack_will_not_describe_reads_as_its_id(web):
    slack, emulator = web
    assert await slack.channel_name("C0SECRET") == "C0SECRET"
    assert await slack.channel_name("C0SECRET") == "C0SECRET"
    assert len(emulator.calls_for("conversations.info")) == 1
