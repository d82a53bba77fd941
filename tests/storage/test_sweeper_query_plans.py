"""The sweeper runs every `CHORUS_STALE_ANSWER_SECONDS / 4` seconds on every replica for
months: its queries stay indexed as `answers` grows to millions of rows (answers are kept).
The statements the store really executes are captured and EXPLAINed over a table of
settled, shown answers."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, text

from storage.answers import AnswerStore
from storage.database import Database, connect
from storage.tables import Answer

ANSWERS = 20_000


def _seed(session) -> None:
    connection = session.connection()
    now = time.time()
    connection.execute(
        text(
            "INSERT INTO chats (id, team_id, channel_id, thread_ts, generation, created_at) "
            "VALUES (1, 'T', 'C1', '', 0, :now)"
        ),
        {"now": now},
    )
    connection.execute(
        text(
            "INSERT INTO rounds (id, chat_id, channel_id, message_ts, user_id, author_name, "
            "text, deleted, created_at) VALUES (:id, 1, 'C1', :ts, 'U1', 'a', 'q', false, :now)"
        ),
        [{"id": i, "ts": f"{1e9 + i:.6f}", "now": now} for i in range(1, ANSWERS + 1)],
    )
    connection.execute(
        text(
            "INSERT INTO answers (id, round_id, position, model, channel_id, slack_ts, text, "
            "status, deleted, started_at, finished_at, owner, heartbeat_at, shown_at, "
            "continuation_ts) VALUES (:id, :id, 0, 'm:a', 'C1', :ts, 'x', 'done', false, "
            ":t, :t, 'r1', :t, :t, '[]')"
        ),
        [{"id": i, "ts": f"{2e9 + i:.6f}", "t": now - ANSWERS + i} for i in range(1, ANSWERS + 1)],
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("ANALYZE"))  # what autovacuum does after such growth


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = await connect(database_url)
    await database.run(_seed)
    yield database
    await database.close()


def _captured(database: Database) -> tuple[list[tuple[str, object]], object]:
    engine = database._engine  # type: ignore[attr-defined]
    engine = getattr(engine, "sync_engine", engine)
    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT") and "answers" in statement:
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


# A partial index holds only the few rows its condition admits: scanning it is no full scan.
PARTIAL_INDEXES = "|".join(
    index.name or ""
    for index in Answer.__table__.indexes
    if index.dialect_options["sqlite"]["where"] is not None
)


def _full_scans(plan: list[str]) -> list[str]:
    full_scan = rf"\bSCAN answers\b(?! USING INDEX (?:{PARTIAL_INDEXES})\b)|Seq Scan on answers"
    return [line for line in plan if re.search(full_scan, line)]


SWEEPS = {
    "owed final edits": lambda store, before: store.take_over_unshown(stale_before=before),
    "interrupted answers": lambda store, before: store.take_over_interrupted(
        stale_before=before, error="x"
    ),
}


@pytest.mark.parametrize("sweep", SWEEPS)
async def test_a_sweep_reads_no_whole_table(database, sweep):
    statements, (engine, capture) = _captured(database)
    await SWEEPS[sweep](AnswerStore(database, replica_id="r2"), database.now() - 60)
    event.remove(engine, "before_cursor_execute", capture)
    assert statements, "the sweep ran no SELECT on answers"

    scans = []
    for statement, parameters in statements:
        scans += _full_scans(await database.run(_plan, statement, parameters))
    assert not scans, f"every sweep reads all {ANSWERS} answers: {scans}"
