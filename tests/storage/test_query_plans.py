"""Queries that run on every replica for months (the sweeper's, every
`CHORUS_STALE_ANSWER_SECONDS / 4` seconds) or on a button press stay indexed as rounds,
answers and claims grow to millions of rows (all are kept). The statements the stores really
execute are captured and EXPLAINed over a long chat of settled, shown answers."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import event, text

from storage.answers import AnswerStore
from storage.conversations import ConversationStore
from storage.database import Database, connect
from storage.inbox import EventInbox
from storage.regeneration import RegenerationStore
from storage.tables import Answer, ClaimedMessage, Round

ANSWERS = 20_000


def _chat_of(n: int) -> int:
    """Round `n`'s chat: two of them, one after the other."""
    return 1 if n <= ANSWERS // 2 else 2


def _seed(session) -> None:
    connection = session.connection()
    now = time.time()
    connection.execute(
        text(
            "INSERT INTO chats (id, team_id, channel_id, thread_ts, generation, created_at) "
            "VALUES (1, 'T', 'C1', '', 0, :now), (2, 'T', 'C2', '', 0, :now)"
        ),
        {"now": now},
    )
    connection.execute(
        text(
            "INSERT INTO rounds (id, chat_id, channel_id, message_ts, user_id, author_name, "
            "text, deleted, created_at) VALUES (:id, :chat, :channel, :ts, 'U1', 'a', 'q', "
            "false, :now)"
        ),
        [
            {"id": i, "chat": _chat_of(i), "channel": f"C{_chat_of(i)}", "ts": f"{1e9 + i:.6f}"}
            | {"now": now}
            for i in range(1, ANSWERS + 1)
        ],
    )
    connection.execute(
        text(
            "INSERT INTO answers (id, round_id, position, model, channel_id, slack_ts, text, "
            "status, deleted, started_at, finished_at, owner, heartbeat_at, shown_at, "
            "continuation_ts) VALUES (:id, :id, 0, 'm:a', :channel, :ts, 'x', 'done', false, "
            ":t, :t, 'r1', :t, :t, '[]')"
        ),
        [
            {"id": i, "channel": f"C{_chat_of(i)}", "ts": f"{2e9 + i:.6f}"}
            | {"t": now - ANSWERS + i}
            for i in range(1, ANSWERS + 1)
        ],
    )
    connection.execute(
        text(
            "INSERT INTO claimed_messages (team_id, channel_id, message_ts, claimed_at, recorded)"
            " SELECT 'T', channel_id, message_ts, created_at - 86400 * 7, true FROM rounds"
        )
    )
    connection.execute(  # one long answer in ten went on in a second message
        text(
            "INSERT INTO answer_continuations (channel_id, slack_ts, answer_id) "
            "SELECT channel_id, CAST(id AS TEXT) || '.9', id FROM answers WHERE id % 10 = 0"
        )
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("ANALYZE"))  # what autovacuum does after such growth


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = await connect(database_url)
    await database.run(_seed)
    yield database
    await database.close()


def _captured(database: Database, table: str) -> tuple[list[tuple[str, object]], object]:
    engine = database._engine  # type: ignore[attr-defined]
    engine = getattr(engine, "sync_engine", engine)
    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT") and table in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    return statements, (engine, capture)


def _literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _plan(session, statement: str, parameters: object) -> list[str]:
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return [row[-1] for row in rows]
    values = list(parameters)  # asyncpg: $1, $2, …
    inlined = re.sub(r"\$(\d+)", lambda m: _literal(values[int(m.group(1)) - 1]), statement)
    return [row[0] for row in connection.exec_driver_sql("EXPLAIN " + inlined)]


def _full_scans(plan: list[str], table: type[Answer | ClaimedMessage | Round]) -> list[str]:
    # A partial index holds only the few rows its condition admits: scanning it is no full scan.
    name = table.__tablename__
    partial = "|".join(
        index.name or ""
        for index in table.__table__.indexes  # type: ignore[attr-defined]
        if index.dialect_options["sqlite"]["where"] is not None
    )
    full_scan = rf"\bSCAN {name}\b(?! USING INDEX (?:{partial})\b)|Seq Scan on {name}\b"
    return [line for line in plan if re.search(full_scan, line)]


async def _full_scans_made(
    database: Database, table: type[Answer | ClaimedMessage | Round], work: Callable[[], Awaitable]
) -> list[str]:
    statements, (engine, capture) = _captured(database, table.__tablename__)
    await work()
    event.remove(engine, "before_cursor_execute", capture)
    assert statements, f"no SELECT on {table.__tablename__} was made"
    scans = []
    for statement, parameters in statements:
        scans += _full_scans(await database.run(_plan, statement, parameters), table)
    return scans


SWEEPS = {
    "owed final edits": lambda store, before: store.take_over_unshown(stale_before=before),
    "interrupted answers": lambda store, before: store.take_over_interrupted(
        stale_before=before, error="x"
    ),
    # Once at each start: anything this replica id holds, and a live twin's answers.
    "held at start-up": lambda store, before: store.any_unshown(),
    "a twin's answers": lambda store, before: store.written_by_a_twin(("r2", before)),
}


@pytest.mark.parametrize("sweep", SWEEPS)
async def test_a_sweep_reads_no_whole_table(database, sweep):
    store = AnswerStore(database, replica_id="r2")
    scans = await _full_scans_made(
        database, Answer, lambda: SWEEPS[sweep](store, database.now() - 60)
    )
    assert not scans, f"every sweep reads all {ANSWERS} answers: {scans}"


async def test_the_sweep_of_claims_reads_no_claim_of_a_recorded_message(database):
    inbox = EventInbox(database)
    scans = await _full_scans_made(
        database, ClaimedMessage, lambda: inbox.forget_handled(before=database.now())
    )
    assert not scans, f"every sweep reads all {ANSWERS} claims: {scans}"


async def test_regenerating_the_latest_answer_of_a_long_chat_reads_no_whole_table(database):
    store = RegenerationStore(database)
    latest_answer_of_chat_1 = f"{2e9 + ANSWERS // 2:.6f}"
    scans = await _full_scans_made(
        database,
        Round,
        lambda: store.restart(
            "C1", latest_answer_of_chat_1, owner="r2", answerable=lambda _model: True
        ),
    )
    assert not scans, f"a press reads all {ANSWERS} rounds: {scans}"


async def test_a_reaction_on_a_message_that_is_no_answer_reads_by_key(database):
    # `answer_continued_at`: is the message a continuation of a long answer?
    store = ConversationStore(database)
    statements, (engine, capture) = _captured(database, "answer")
    assert await store.answer_continued_at("C1", f"{3e9:.6f}") is None
    event.remove(engine, "before_cursor_execute", capture)

    ((statement, parameters),) = statements
    plan = await database.run(_plan, statement, parameters)
    by_key = r"USING (INTEGER )?PRIMARY KEY|USING INDEX sqlite_autoindex|Index Scan using \w+_pkey"
    reads = [line for line in plan if re.search(r"(SEARCH|SCAN|Scan) .*answer", line)]
    assert reads and all(re.search(by_key, line) for line in reads), plan
