"""Figure 5: how long the bot takes to build a model's context as a chat grows, for a new round
and for a turn in a reply thread, on SQLite and PostgreSQL.

Measured in-process on the bot's own storage queries and context builder. Each size has a
database of its own holding one chat (10, 1,000 or 10,000 rounds of three answers), so a query
that scanned the chat's whole history, or a whole table, would show as growth; the builds take
turns across the sizes, so a moment of noise on the machine falls on every size alike."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from bench.table import Line, Note, Row, median
from bot.chat.context import ContextWindow, authored, build_round_context, build_thread_context
from bot.chat.history import context_round, thread_turn
from bot.chat.in_chat import AnswerStatus
from storage.answers import AnswerStore, FinishedAnswer
from storage.conversations import ConversationStore
from storage.database import Database, connect
from storage.rows import MessageClaim
from storage.tables import Answer, Chat, Round
from tests.databases import fresh_postgres_database

SIZES = (10, 1_000, 10_000)
FLAT = 1.5  # the largest chat may take at most this many times the 1,000-round chat's time
TEAM, CHANNEL, PERSON, OWNER = "T0BENCH", "C0BENCH", "U0ALICE", "bench"
MODELS = ("anthropic:claude-test", "openai:gpt-test", "google:gemini-test")
QUESTION = "What would you change in this plan, and what would you keep exactly as it is? " * 2
ANSWER = "Here is a considered answer with a few paragraphs of reasoning and a list. " * 12
THREAD_TURNS = 10
INSERT_BATCH = 1_000
LAST_ID = 2**31 - 1  # stands for the id of the round or turn being answered
WINDOW = ContextWindow()  # the bot's defaults: 50 earlier rounds, 100,000 tokens
SYSTEM = "You are one of several models answering side by side in Slack."


@dataclass(frozen=True)
class BuildTimes:
    """Seconds per context build, by (kind, chat size): kind is "round" or "thread"."""

    database: str
    seconds: dict[tuple[str, int], tuple[float, ...]]


def measure_context_cost(
    databases: Callable[[], AbstractContextManager[str]], name: str, *, builds: int
) -> BuildTimes:
    """Context build times in a new database from `databases()` for each chat size."""
    with ExitStack() as stack:
        urls = [stack.enter_context(databases()) for _ in SIZES]
        return asyncio.run(_measure(urls, name, builds))


@contextmanager
def sqlite_database() -> Iterator[str]:
    yield f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='chorus-bench-')) / 'chat.db'}"


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A throwaway database on the server, dropped afterwards."""
    with fresh_postgres_database(server_url) as url:
        yield url


async def _measure(urls: Sequence[str], name: str, builds: int) -> BuildTimes:
    async with AsyncExitStack() as stack:
        builders: dict[tuple[str, int], Callable[[], Awaitable[None]]] = {}
        for size, url in zip(SIZES, urls, strict=True):
            database = await connect(url)
            stack.push_async_callback(database.close)
            store = ConversationStore(database)
            chat_id = await database.run(_new_chat)
            await _add_rounds(database, chat_id, first=0, count=size)
            await _analyze(database)
            anchor = await _reply_thread_under_latest_round(
                store, AnswerStore(database, replica_id=OWNER), size
            )
            builders["round", size] = partial(_round_context, store, chat_id, WINDOW)
            builders["thread", size] = partial(_thread_context, store, anchor, WINDOW)
        return BuildTimes(name, await _timed_in_turn(builders, builds))


async def _round_context(store: ConversationStore, chat_id: int, window: ContextWindow) -> None:
    """What the bot does for a new round (`Conversations._start_round`) once it is recorded."""
    history = await store.round_records(chat_id, before_round_id=LAST_ID, limit=window.max_rounds)
    request = build_round_context(
        SYSTEM, [context_round(record) for record in history], authored("Alice", "next?"), window
    )
    assert request.messages


async def _thread_context(
    store: ConversationStore, anchor: tuple[str, int], window: ContextWindow
) -> None:
    """What the bot does for a turn in the reply thread `anchor` (the ts of the answer it hangs
    under, the thread's id): find the answer, and read the history it records the turn with."""
    anchor_ts, thread_id = anchor
    parent = await store.parent_answer(CHANNEL, anchor_ts)
    assert parent is not None
    history = await store.thread_history(thread_id, before_turn_id=LAST_ID, limit=window.max_rounds)
    request = build_thread_context(
        SYSTEM,
        history.snapshot,
        history.anchor_message,
        history.anchor_answer,
        [thread_turn(record) for record in history.turns],
        authored("Bob", "and then?"),
        window,
    )
    assert request.messages


async def _timed_in_turn(
    builders: dict[tuple[str, int], Callable[[], Awaitable[None]]], builds: int
) -> dict[tuple[str, int], tuple[float, ...]]:
    """`builds` timings of each builder, taking turns."""
    for build in builders.values():
        for _ in range(3):  # warm caches and connections
            await build()
    seconds: dict[tuple[str, int], list[float]] = {key: [] for key in builders}
    for _ in range(builds):
        for key, build in builders.items():
            started = time.perf_counter()
            await build()
            seconds[key].append(time.perf_counter() - started)
    return {key: tuple(times) for key, times in seconds.items()}


def _new_chat(session: Session) -> int:
    chat = Chat(team_id=TEAM, channel_id=CHANNEL, thread_ts="", generation=0, created_at=0)
    session.add(chat)
    session.flush()
    return chat.id


async def _add_rounds(database: Database, chat_id: int, *, first: int, count: int) -> None:
    """`count` answered rounds, written in bulk (the bench's shortcut, not the bot's way)."""
    for start in range(first, first + count, INSERT_BATCH):
        numbers = range(start, min(start + INSERT_BATCH, first + count))
        await database.run(_insert_rounds, chat_id, numbers)


def _insert_rounds(session: Session, chat_id: int, numbers: range) -> None:
    round_ids = session.scalars(
        insert(Round).returning(Round.id, sort_by_parameter_order=True),
        [_round_row(chat_id, number) for number in numbers],
    ).all()
    session.execute(
        insert(Answer),
        [
            _answer_row(round_id, number, position, model)
            for round_id, number in zip(round_ids, numbers, strict=True)
            for position, model in enumerate(MODELS)
        ],
    )


def _round_row(chat_id: int, number: int) -> dict[str, object]:
    return {
        "chat_id": chat_id,
        "channel_id": CHANNEL,
        "message_ts": _ts(number, 0),
        "user_id": PERSON,
        "author_name": "Alice",
        "text": f"{number}: {QUESTION}",
        "in_chat_answer_id": None,
        "deleted": False,
        "created_at": float(number),
    }


def _answer_row(round_id: int, number: int, position: int, model: str) -> dict[str, object]:
    return {
        "round_id": round_id,
        "position": position,
        "model": model,
        "channel_id": CHANNEL,
        "slack_ts": _ts(number, position + 1),
        "continuation_ts": [],
        "text": ANSWER,
        "status": AnswerStatus.DONE.value,
        "deleted": False,
        "started_at": float(number),
        "finished_at": float(number) + 1,
        "shown_at": float(number) + 1,
        "owner": OWNER,
        "heartbeat_at": float(number) + 1,
    }


def _ts(number: int, part: int) -> str:
    return f"{1_700_000_000 + number}.{part:06d}"


async def _reply_thread_under_latest_round(
    store: ConversationStore, answers: AnswerStore, size: int
) -> tuple[str, int]:
    """A reply thread of THREAD_TURNS answered turns under the latest round's first answer,
    started the bot's way (with its snapshot of the chat); returns that answer's ts and the
    thread's id."""
    anchor_ts = _ts(size - 1, 1)
    parent = await store.parent_answer(CHANNEL, anchor_ts)
    assert parent is not None
    thread_id = 0
    for turn in range(THREAD_TURNS):
        claim = MessageClaim(TEAM, CHANNEL, f"{anchor_ts}{turn:03d}")
        started = await store.start_thread_turn(
            claim,
            parent,
            user_id=PERSON,
            author="Bob",
            text=f"thread turn {turn}: {QUESTION}",
            switch_to_model=None,
            owner=OWNER,
            history_limit=WINDOW.max_rounds,
        )
        assert started is not None
        thread_id = started.reply_thread_id
        done = FinishedAnswer(status=AnswerStatus.DONE, text=ANSWER)
        await answers.finish(started.answer.answer_id, done)
    return anchor_ts, thread_id


async def _analyze(database: Database) -> None:
    """PostgreSQL's planner statistics, fresh as autovacuum keeps them in a running database
    (SQLite is left as the bot leaves it: never analysed)."""
    if database.dialect == "postgresql":
        await database.run(Session.execute, text("ANALYZE"))


def _within(limit: float, middle: float, _high: float) -> bool:
    return middle <= limit


def context_rows(results: Sequence[BuildTimes], skipped: Sequence[str]) -> list[Line]:
    lines: list[Line] = []
    for kind, label in (("round", "new round"), ("thread", "thread turn")):
        for result in results:
            limit = FLAT * median(result.seconds[kind, SIZES[1]]) * 1000
            for size in SIZES:
                row = Row(
                    f"5. context, {label}, {result.database}, {size:,} rounds",
                    tuple(seconds * 1000 for seconds in result.seconds[kind, size]),
                    "ms",
                    digits=2,
                )
                if size == SIZES[-1]:
                    row = replace(
                        row,
                        target=f"≤ {FLAT} x the 1,000-round median",
                        meets=partial(_within, limit),
                    )
                lines.append(row)
    lines.extend(Note(f"5. {reason}") for reason in skipped)
    return lines
