"""Two actions whose transactions overlap on PostgreSQL (READ COMMITTED), one held open at a
chosen point while the other runs. SQLite runs one transaction at a time: nothing there to
interleave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.util import await_only

import storage.retention
import storage.rounds
from bot.chat.in_chat import AnswerStatus, InChatChoice
from storage import regeneration, reply_threads
from storage.answers import STOPPED_BY_DELETION
from storage.database import connect
from storage.regeneration import Regeneration, RegenerationRefused
from storage.retention import RetentionStore
from tests.conftest import NO_POSTGRES, POSTGRES_URL
from tests.databases import fresh_postgres_database
from tests.storage.test_conversation_store import (
    Stores,
    claim,
    make_in_chat,
    restart,
    start,
    start_turn,
    stores_over,
)
from tests.storage.test_retention import everything_kept

# Long enough for the other transaction to finish, unless it waits for a lock held here.
MEANWHILE_SECONDS = 1.0


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    with fresh_postgres_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture
async def stores(postgres_url: str) -> AsyncIterator[Stores]:
    database = await connect(postgres_url)
    yield stores_over(database)
    await database.close()


def meanwhile(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, other: Callable[[], Awaitable[Any]]
) -> Callable[[], Awaitable[Any]]:
    """Run `other` (in transactions of its own) right after the first call of `module.name`,
    that call's transaction still open: until `other` is done, or waits for a lock it holds.
    Returns what awaits `other`'s outcome, once that call was made."""
    original = getattr(module, name)
    started: list[asyncio.Future[Any]] = []

    def held_open(*args: Any, **kwargs: Any) -> Any:
        value = original(*args, **kwargs)
        if not started:
            started.append(asyncio.ensure_future(other()))
            await_only(asyncio.wait(started, timeout=MEANWHILE_SECONDS))
        return value

    async def outcome() -> Any:
        (task,) = started
        return await task

    monkeypatch.setattr(module, name, held_open)
    return outcome


async def asked(stores: Stores):
    """A round answered and shown, and the parent of the thread under its first answer."""
    started = await stores.round("1.0", "q")
    parent = await stores.conversations.parent_answer("C1", f"1.0{started.answers[0].answer_id}")
    assert parent is not None
    return parent


async def overlapping(monkeypatch, held_open, at: tuple[Any, str], other) -> tuple[Any, Any]:
    """`held_open()`, its transaction held open after the first call of `at` (a module and a
    function's name) while `other()` runs: what each came to."""
    outcome = meanwhile(monkeypatch, *at, other)
    return await held_open(), await outcome()


async def race(monkeypatch, held_open: str, turn, regenerate):
    """A thread turn and a regeneration, the transaction of `held_open` held open while the
    other runs: what each came to."""
    if held_open == "regenerate":
        return await overlapping(monkeypatch, regenerate, (regeneration, "_source_if_latest"), turn)
    turn_started, regenerated = await overlapping(
        monkeypatch, turn, (reply_threads, "thread_history"), regenerate
    )
    return regenerated, turn_started


@pytest.mark.parametrize("held_open", ["regenerate", "thread turn"])
async def test_an_answer_is_never_regenerated_under_a_thread_turn_sent_its_text(
    stores, monkeypatch, held_open
):
    parent = await asked(stores)
    regenerated, turn = await race(
        monkeypatch,
        held_open,
        turn=lambda: start_turn(stores, parent, "1.1", "why?", answered=False),
        regenerate=lambda: restart(stores, parent.slack_ts),
    )
    # Either the answer keeps the text the turn was sent, or the turn waits for the new one.
    assert regenerated is RegenerationRefused.HAS_THREAD or not turn.history.settled
    assert isinstance(regenerated, Regeneration) or turn.history.settled


@pytest.mark.parametrize("held_open", ["regenerate", "thread turn"])
async def test_a_thread_reply_is_never_regenerated_under_a_later_turn_sent_its_text(
    stores, monkeypatch, held_open
):
    parent = await asked(stores)
    first = await start_turn(stores, parent, "1.1", "why?")
    await stores.answers.posted(first.answer.answer_id, "reply")
    await stores.answers.shown(first.answer.answer_id)
    regenerated, turn = await race(
        monkeypatch,
        held_open,
        turn=lambda: start_turn(stores, parent, "1.2", "and then?", answered=False),
        regenerate=lambda: restart(stores, "reply"),
    )
    assert regenerated is RegenerationRefused.NOT_LATEST or not turn.history.settled
    assert isinstance(regenerated, Regeneration) or turn.history.settled


@pytest.mark.parametrize("held_open", ["forgetting", "thread start"])
async def test_a_thread_started_while_old_rounds_are_forgotten_keeps_none_of_their_text(
    stores, monkeypatch, held_open
):
    await stores.round("1.0", "old secret")
    cutoff = stores.database.now()
    await asyncio.sleep(0.01)
    newer = await stores.round("2.0", "new question")
    parent = await stores.conversations.parent_answer("C1", f"2.0{newer.answers[0].answer_id}")
    retention = RetentionStore(stores.database)

    def forget():
        return retention.forget_said_before(cutoff)

    def turn():
        return start_turn(stores, parent, "2.1", "why?")

    if held_open == "forgetting":
        await overlapping(monkeypatch, forget, (storage.retention, "_erase_snapshot_entries"), turn)
    else:
        await overlapping(monkeypatch, turn, (reply_threads, "_reply_thread"), forget)

    kept = await everything_kept(stores)
    assert "secret" not in kept
    assert "new question" in kept


@pytest.mark.parametrize("asked_in", ["round", "thread"])
async def test_an_answer_regenerated_as_its_message_is_deleted_is_stopped(
    stores, monkeypatch, asked_in
):
    parent = await asked(stores)
    message_ts, answer_ts = "1.0", parent.slack_ts
    if asked_in == "thread":
        turn = await start_turn(stores, parent, "1.1", "why?")
        await stores.answers.posted(turn.answer.answer_id, "reply")
        await stores.answers.shown(turn.answer.answer_id)
        message_ts, answer_ts = "1.1", "reply"

    regenerated, _ = await overlapping(
        monkeypatch,
        lambda: restart(stores, answer_ts),
        (regeneration, "_source_if_latest"),
        lambda: stores.conversations.forget_message(claim(message_ts)),
    )

    if regenerated is not RegenerationRefused.QUESTION_GONE:
        stops = await stores.answers.stop_requests([regenerated.answer_id])
        assert stops == {regenerated.answer_id: STOPPED_BY_DELETION}


@pytest.mark.parametrize("held_open", ["regenerate", "new round"])
async def test_an_answer_is_never_regenerated_under_a_later_round_sent_its_text(
    stores, monkeypatch, held_open
):
    parent = await asked(stores)

    def regenerate():
        return restart(stores, parent.slack_ts)

    def new_round():
        return start(stores, claim("2.0"))

    if held_open == "regenerate":
        at = (regeneration, "_source_if_latest")
        regenerated, later = await overlapping(monkeypatch, regenerate, at, new_round)
    else:
        at = (storage.rounds, "round_records")
        later, regenerated = await overlapping(monkeypatch, new_round, at, regenerate)

    sent = later.history[0].answers[0]
    assert sent.answer_id == parent.answer_id
    # Either the answer keeps the text the later round was sent, or that round was sent none.
    assert regenerated is RegenerationRefused.NOT_LATEST or sent.status is AnswerStatus.PENDING
    assert isinstance(regenerated, Regeneration) or sent.status is AnswerStatus.DONE


@pytest.mark.parametrize("held_open", ["in chat pick", "new round"])
async def test_an_answer_made_in_chat_as_a_later_round_starts_is_that_rounds_or_refused(
    stores, monkeypatch, held_open
):
    asked_first = await stores.round("1.0", "q")
    gpt = asked_first.answers[1].answer_id

    def pick():
        return make_in_chat(stores, "1.0", asked_first, 1)

    def new_round():
        return start(stores, claim("2.0"))

    if held_open == "in chat pick":
        at = (storage.rounds, "is_current_chat")
        choice, later = await overlapping(monkeypatch, pick, at, new_round)
    else:
        at = (storage.rounds, "round_records")
        later, choice = await overlapping(monkeypatch, new_round, at, pick)

    (sent,) = later.history
    assert (choice, sent.chosen_answer_id) in {
        (InChatChoice.CHOSEN, gpt),
        (InChatChoice.NOT_LATEST_ROUND, None),
    }
