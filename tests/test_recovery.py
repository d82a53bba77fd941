"""Recovery: on a replica that was only slow, its sweeper never takes over the work it is still
doing itself; what a dead replica left is shown in order. The bot as it is assembled to run
(`build_bot`), on each database, against the Slack emulator and the fake model servers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest

from bot import recovery as recovery_module
from bot.app import ChorusBot, build_bot
from bot.chat.catalog import ModelCatalog, parse_model_list
from bot.chat.routing import ChatKey
from storage.answers import AnswerStore
from storage.conversations import ConversationStore
from storage.database import Database
from storage.rows import MessageClaim, NewAnswer, SettledAnswer
from tests.doubles import FakeModelServer, ModelScript, SlackEmulator
from tests.doubles.slack_payloads import AppInstallation, app_mention_event, event_callback
from tests.providers.replay import bot_settings

INSTALL = AppInstallation("T0CHORUS", "A0CHORUS", "U0BOT")
MENTION = {"user": "U0ALICE", "text": "<@U0BOT> hello", "ts": "1764000000.000100"}
MODELS = "anthropic:claude-sonnet-4-5"
THREE_MODELS = "anthropic:claude-sonnet-4-5,openai:gpt-5.1,google:gemini-2.5-pro"
# The shortest the settings allow: a heartbeat older than this is stale.
STALE_SECONDS = 1.0


async def test_a_sweep_late_after_a_held_up_event_loop_leaves_this_replicas_own_work(
    database_url, caplog
):
    with SlackEmulator() as emulator, FakeModelServer() as models:
        # The model is slow to start: the event and its answer stay in this replica's hands.
        models.script(MODELS, ModelScript(reply="Hello, Alice.", first_token_delay=3.0))
        async with running_bot(database_url, emulator, models, MODELS) as bot:
            asked = emulator.post_user_message("C0GENERAL", "U0ALICE", MENTION["text"])
            mention = {**MENTION, "ts": asked["ts"]}
            await deliver(bot, event_callback(INSTALL, app_mention_event("C0GENERAL", mention)))
            for _ in range(250):  # until the round has started and its model been asked
                if models.requests_for(MODELS):
                    break
                await asyncio.sleep(0.02)

            # The event loop held up (deliberately: a blocking sleep) until every heartbeat
            # of this replica's work is stale.
            time.sleep(STALE_SECONDS + 0.2)  # noqa: ASYNC251
            await bot.recovery.recover(at_start_up=False)
            await bot.work.drain(grace_seconds=10)

        (answer,) = emulator.bot_messages("C0GENERAL")
        assert "Hello, Alice." in answer["text"], "finished by its own replica, not taken over"
        assert len(models.requests_for(MODELS)) == 1
        # Handled again, the event would find its message claimed: only the log tells.
        assert "resuming event" not in caplog.text, "the event in hand was taken over"


async def test_placeholders_a_dead_replica_never_posted_are_posted_in_model_order(database_url):
    with SlackEmulator() as emulator, FakeModelServer() as models:
        emulator.add_channel("C1", "general")
        catalog = ModelCatalog(parse_model_list(THREE_MODELS))
        async with running_bot(database_url, emulator, models, THREE_MODELS) as bot:
            await _unposted_round(bot.database, [spec.name for spec in catalog], owner="r0")  # died
            # Slack makes the first post wait a second: the others must not overtake it.
            emulator.inject("chat.postMessage", retry_after=1)
            await asyncio.sleep(STALE_SECONDS + 0.2)
            await bot.recovery.recover(at_start_up=False)

            posted = [message["username"] for message in emulator.bot_messages("C1")]
            assert posted == [spec.display_name for spec in catalog]


async def test_an_owed_answer_that_fails_to_show_holds_up_none_of_the_others(
    database_url, monkeypatch, caplog
):
    """A fault of the bot's own in showing one answer a dead replica left (here, its rendering)
    costs that answer's showing this time, logged: not the rest of the recovery pass."""
    with SlackEmulator() as emulator, FakeModelServer() as models:
        for channel in ("C1", "C2"):
            emulator.add_channel(channel, channel.lower())
        async with running_bot(database_url, emulator, models, MODELS) as bot:
            (unlucky,) = await _unposted_round(bot.database, [MODELS], owner="r0")  # died
            await _unposted_round(bot.database, [MODELS], owner="r0", channel="C2")
            shown_as = recovery_module.settled_messages

            def crashing_for_the_first(display_name: str, answer: SettledAnswer) -> Any:
                if answer.answer_id == unlucky.answer_id:
                    raise RuntimeError("a rendering fault")
                return shown_as(display_name, answer)

            monkeypatch.setattr(recovery_module, "settled_messages", crashing_for_the_first)
            await asyncio.sleep(STALE_SECONDS + 0.2)
            await bot.recovery.recover(at_start_up=False)

            (shown,) = emulator.bot_messages("C2")
            assert "The bot stopped before this answer was finished" in shown["text"]
            assert emulator.bot_messages("C1") == []
            assert f"showing answer {unlucky.answer_id} failed" in caplog.text
            assert "RuntimeError: a rendering fault" in caplog.text

            monkeypatch.setattr(recovery_module, "settled_messages", shown_as)
            await asyncio.sleep(STALE_SECONDS + 0.2)  # its grace past: owed still, shown now
            await bot.recovery.recover(at_start_up=False)
            assert len(emulator.bot_messages("C1")) == 1


async def test_at_start_up_a_live_twins_answer_is_left_to_it_and_the_twin_named(
    database_url, caplog
):
    """Another live process under this replica id (r1) writes an answer begun before this
    process started: its heartbeat since the start keeps start-up recovery off it, and the
    log says the ids must differ."""
    with SlackEmulator() as emulator, FakeModelServer() as models:
        emulator.add_channel("C1", "general")
        async with running_bot(database_url, emulator, models, MODELS) as twin:
            (answer,) = await _unposted_round(twin.database, [MODELS], owner="r1")
        async with running_bot(database_url, emulator, models, MODELS) as bot:
            twins_answers = AnswerStore(bot.database, replica_id="r1")
            assert await twins_answers.progress(answer.answer_id, "Hello", None)
            await bot.recovery.recover_previous_life()
            await bot.work.drain(grace_seconds=10)

            assert emulator.bot_messages("C1") == []
            assert await twins_answers.progress(answer.answer_id, "Hello, Alice", None)
        (named,) = [r for r in caplog.records if "another live process" in r.getMessage()]
        assert named.levelname == "ERROR"
        assert "replica id (r1)" in named.getMessage()
        assert f"answer {answer.answer_id}," in named.getMessage()
        assert "own CHORUS_REPLICA_ID" in named.getMessage()


async def test_at_start_up_what_the_previous_life_left_is_taken_over(database_url, caplog):
    with SlackEmulator() as emulator, FakeModelServer() as models:
        emulator.add_channel("C1", "general")
        async with running_bot(database_url, emulator, models, MODELS) as previous_life:
            await _unposted_round(previous_life.database, [MODELS], owner="r1")
        async with running_bot(database_url, emulator, models, MODELS) as bot:
            await bot.recovery.recover_previous_life()
            await bot.work.drain(grace_seconds=10)

            (shown,) = emulator.bot_messages("C1")
            assert "The bot stopped before this answer was finished" in shown["text"]
        assert "another live process" not in caplog.text


async def test_a_shutdown_before_the_previous_life_is_taken_over_takes_nothing(database_url):
    with SlackEmulator() as emulator, FakeModelServer() as models:
        emulator.add_channel("C1", "general")
        async with running_bot(database_url, emulator, models, MODELS) as previous_life:
            await _unposted_round(previous_life.database, [MODELS], owner="r1")
        async with running_bot(database_url, emulator, models, MODELS) as bot:
            bot.recovery.stop_taking_over()
            await bot.recovery.recover_previous_life()
            assert emulator.bot_messages("C1") == []
            left = AnswerStore(bot.database, replica_id="r1")
            assert await left.any_unshown(), "left to the next start"


@asynccontextmanager
async def running_bot(
    database_url: str, emulator: SlackEmulator, models: FakeModelServer, model_list: str
) -> AsyncIterator[ChorusBot]:
    """The bot as `__main__` assembles it, replica r1, in this test's event loop; its
    recovery is run by the test, not on a timer."""
    settings = bot_settings(
        models,
        slack_bot_token=emulator.bot_token,
        slack_api_url=emulator.api_url,
        database_url=database_url,
        chorus_models=model_list,
        chorus_replica_id="r1",
        chorus_stale_answer_seconds=STALE_SECONDS,
    )
    bot = await build_bot(settings, ModelCatalog(parse_model_list(model_list)))
    try:
        yield bot
    finally:
        await bot.close()


async def deliver(bot: ChorusBot, envelope: dict[str, Any]) -> None:
    """Hand `envelope` to the bot's Bolt app, as its HTTP route does once the signature holds."""
    request = AsyncBoltRequest(
        body=json.dumps(envelope), headers={"content-type": ["application/json"]}
    )
    response = await bot.app.async_dispatch(request)
    assert response.status == 200, response.body


async def _unposted_round(
    database: Database, models: list[str], *, owner: str, channel: str = "C1"
) -> list[NewAnswer]:
    """A round in channel C1 (or `channel`) whose answers `owner` took on, none of them posted
    yet."""
    started = await ConversationStore(database).start_round(
        MessageClaim("T1", channel, "1.0"),
        ChatKey("T1", channel),
        user_id="U1",
        author="Alice",
        text="hi",
        models=lambda _channel_models: models,
        post_thread_ts=None,
        owner=owner,
        history_limit=50,
    )
    assert started is not None
    return list(started.answers)
