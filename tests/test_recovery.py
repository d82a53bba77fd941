"""Recovery: on a replica that was only slow, its sweeper never takes over the work it is still
doing itself; what a dead replica left is shown in order. The real stores on each database,
the real Slack client against the emulator; the handler behind the event intake stands where
`Conversations` does."""

from __future__ import annotations

import asyncio

from bot.background import BackgroundWork
from bot.chat.catalog import ModelCatalog, parse_model_list
from bot.chat.routing import ChatKey, IncomingMessage
from bot.recovery import Recovery
from bot.slack.event_intake import EventIntake
from bot.slack.web import SlackWeb, make_web_client
from storage.answers import AnswerStore
from storage.conversations import ConversationStore
from storage.database import Database, connect
from storage.inbox import EventInbox
from storage.rows import MessageClaim, NewAnswer
from tests.doubles.slack_emulator import SlackEmulator
from tests.doubles.slack_payloads import AppInstallation, app_mention_event, event_callback

INSTALL = AppInstallation("T0CHORUS", "A0CHORUS", "U0BOT")
MENTION = {"user": "U0ALICE", "text": "<@U0BOT> hello", "ts": "1764000000.000100"}
MODELS = "anthropic:claude-sonnet-4-5"
THREE_MODELS = "anthropic:claude-sonnet-4-5,openai:gpt-5.1,google:gemini-2.5-pro"


class SlowHandler:
    """Handles a message only when `release` is set, counting how often it is handed one."""

    bot_user_id = "U0BOT"

    def __init__(self) -> None:
        self.handed: list[str] = []
        self.release = asyncio.Event()

    async def handle(self, message: IncomingMessage) -> None:
        self.handed.append(message.ts)
        await self.release.wait()

    async def apologise(self, message: IncomingMessage) -> None:
        raise AssertionError(f"handling {message.ts} failed")

    async def revise(self, message: IncomingMessage, *, rewritten: bool) -> None: ...

    async def forget(self, team_id: str, channel_id: str, message_ts: str) -> None: ...

    async def choose_in_chat(self, channel_id: str, answer_ts: str, user_id: str) -> None: ...


async def test_a_sweep_late_after_a_held_up_event_loop_leaves_this_replicas_own_work(
    database_url,
):
    database = await connect(database_url)
    emulator = SlackEmulator().start()
    answers, inbox = AnswerStore(database, replica_id="r1"), EventInbox(database)
    handler, work = SlowHandler(), BackgroundWork()
    intake = EventIntake(inbox, handler, work, replica_id="r1")
    (answer,) = await _round_in_c1(database, [MODELS], owner="r1")
    # Every heartbeat below is older than its stale time: as after a stall.
    recovery = _recovery_of_r1(database, answers, inbox, intake, emulator, MODELS)
    try:
        with answers.in_hand([answer.answer_id]):
            await answers.progress(answer.answer_id, "so far", database.now())
            await intake.receive(event_callback(INSTALL, app_mention_event("C1", MENTION)))
            await asyncio.sleep(0.05)

            await recovery.recover(at_start_up=False)

            assert await answers.progress(answer.answer_id, "so far, and more", database.now())
            handler.release.set()
            await work.drain(grace_seconds=5)
        assert handler.handed == [MENTION["ts"]]
        assert emulator.calls_for("chat.update") == []
    finally:
        emulator.stop()
        await database.close()


async def test_placeholders_a_dead_replica_never_posted_are_posted_in_model_order(database_url):
    database = await connect(database_url)
    emulator = SlackEmulator().start()
    emulator.add_channel("C1", "general")
    catalog = ModelCatalog(parse_model_list(THREE_MODELS))
    answers, inbox = AnswerStore(database, replica_id="r1"), EventInbox(database)
    intake = EventIntake(inbox, SlowHandler(), BackgroundWork(), replica_id="r1")
    await _round_in_c1(database, [spec.name for spec in catalog], owner="r0")  # r0 died
    recovery = _recovery_of_r1(database, answers, inbox, intake, emulator, THREE_MODELS)
    # Slack makes the first post wait a second: the others must not overtake it.
    emulator.inject("chat.postMessage", retry_after=1)
    try:
        await asyncio.sleep(0.05)
        await recovery.recover(at_start_up=False)

        posted = [message["username"] for message in emulator.bot_messages("C1")]
        assert posted == [spec.display_name for spec in catalog]
    finally:
        emulator.stop()
        await database.close()


async def _round_in_c1(database: Database, models: list[str], *, owner: str) -> list[NewAnswer]:
    """A round in channel C1 whose answers `owner` took on, none of them posted yet."""
    started = await ConversationStore(database).start_round(
        MessageClaim("T1", "C1", "1.0"),
        ChatKey("T1", "C1"),
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


def _recovery_of_r1(
    database: Database,
    answers: AnswerStore,
    inbox: EventInbox,
    intake: EventIntake,
    emulator: SlackEmulator,
    models: str,
) -> Recovery:
    """Recovery on replica r1, for which every heartbeat is stale at once."""
    return Recovery(
        database,
        answers,
        inbox,
        intake,
        SlackWeb(make_web_client(emulator.bot_token, emulator.api_url)),
        ModelCatalog(parse_model_list(models)),
        replica_id="r1",
        stale_seconds=0.01,
    )
