"""Transactions: one function each, committed whole or not at all; the URL forms accepted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from storage.database import Database, connect, connection_failure, unreachable
from storage.tables import HandledEvent
from tests.conftest import NO_POSTGRES, POSTGRES_URL


def _record(session: Session, event_id: str) -> None:
    session.add(HandledEvent(event_id=event_id, payload={}, owner="r", heartbeat_at=time.time()))


def _record_then_fail(session: Session, event_id: str) -> None:
    _record(session, event_id)
    session.flush()
    raise LookupError("the work failed after writing")


def _events(session: Session) -> list[str]:
    return list(session.scalars(select(HandledEvent.event_id).order_by(HandledEvent.event_id)))


def _count_then_record(session: Session, event_id: str) -> int:
    seen = session.scalar(select(func.count()).select_from(HandledEvent)) or 0
    _record(session, event_id)
    return seen


async def test_a_transaction_that_raises_writes_nothing_and_its_error_reaches_the_caller(
    database_url,
):
    database = await connect(database_url)
    await database.run(_record, "kept")
    with pytest.raises(LookupError, match="after writing"):
        await database.run(_record_then_fail, "rolled-back")
    assert await database.run(_events) == ["kept"]
    await database.close()


def _record_twice(session: Session, payload: dict[str, str]) -> None:
    for _ in range(2):
        session.add(HandledEvent(event_id="E1", payload=payload, owner="r", heartbeat_at=0.0))
        session.flush()


async def test_a_failed_statement_s_error_does_not_quote_what_was_said(database_url):
    """Such an error is logged with its traceback: the log keeps nothing people said."""
    database = await connect(database_url)
    with pytest.raises(DBAPIError) as failed:
        await database.run(_record_twice, {"text": "my salary is 93k"})
    await database.close()

    assert "93k" not in str(failed.value)


async def test_concurrent_transactions_all_commit_and_on_sqlite_run_one_at_a_time(database_url):
    database = await connect(database_url)
    seen = await asyncio.gather(
        *(database.run(_count_then_record, f"E{number:02d}") for number in range(20))
    )
    # SQLite runs them one at a time on its one connection, so each counts whole earlier
    # transactions only: 0 … 19, once each. PostgreSQL runs them side by side.
    if database.dialect == "sqlite":
        assert sorted(seen) == list(range(20))
    assert len(await database.run(_events)) == 20
    await database.close()


@pytest.mark.parametrize("driver", ["sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"])
async def test_every_spelling_of_a_sqlite_url_opens_the_same_file(tmp_path, driver):
    database = await connect(f"{driver}:///{tmp_path}/chorus.db")
    await database.run(_record, driver)
    await database.close()
    reopened = await connect(f"sqlite:///{tmp_path}/chorus.db")
    assert await reopened.run(_events) == [driver]
    await reopened.close()


async def test_an_in_memory_sqlite_database_lasts_as_long_as_the_bot():
    database = await connect("sqlite://")
    await database.run(_record, "E1")
    assert await database.run(_events) == ["E1"]
    await database.close()


@pytest.mark.parametrize("url", ["mysql://db/chorus", "postgresql+psycopg2://db/chorus"])
async def test_a_driver_the_bot_does_not_use_is_refused(url):
    with pytest.raises(ArgumentError, match="unsupported database driver"):
        await connect(url)


def _connections_in_use_after_a_while(session: Session) -> int:
    """Hold this connection a moment, then count the connections open to this database."""
    session.execute(text("SELECT pg_sleep(0.1)"))
    return session.scalar(
        text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
    )


async def test_on_postgresql_a_replica_never_opens_more_connections_than_its_pool_size(
    database_url,
):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one connection")
    database = await connect(database_url, pool_size=3)
    try:
        seen = await asyncio.gather(
            *(database.run(_connections_in_use_after_a_while) for _ in range(12))
        )
    finally:
        await database.close()
    # All twelve went through, taking turns on three connections rather than opening more.
    assert max(seen) == 3


def _idle_transaction_timeout(session: Session) -> str:
    return str(session.scalar(text("SHOW idle_in_transaction_session_timeout")))


def _lock_then_stand_still(session: Session, seconds: float) -> None:
    _record(session, "held")
    session.flush()
    time.sleep(seconds)  # the process stands still, its transaction open
    session.execute(text("SELECT 1"))


async def test_on_postgresql_a_transaction_left_idle_is_ended_by_the_server(database_url):
    """A replica stopped mid-transaction (a paused VM) would otherwise hold its row locks,
    and every replica taking over its work would wait on them, for as long as it stands."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server to end a transaction")
    database = await connect(database_url)
    try:
        assert await database.run(_idle_transaction_timeout) == "10s"
    finally:
        await database.close()

    separator = "&" if "?" in database_url else "?"
    quick = f"{database_url}{separator}options=-c%20idle_in_transaction_session_timeout%3D500"
    database = await connect(quick)
    try:
        assert await database.run(_idle_transaction_timeout) == "500ms"
        with pytest.raises(DBAPIError, match="idle-in-transaction timeout"):
            await database.run(_lock_then_stand_still, 1.5)
        assert await database.run(_events) == []  # its lock released, its write undone
    finally:
        await database.close()


@pytest.fixture
async def postgres_database(database_url: str) -> AsyncIterator[Database]:
    """The database of `database_url`, PostgreSQL only: its server ends connections."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server to end a connection")
    database = await connect(database_url)
    yield database
    await database.close()


def _record_losing_the_connection_once(session: Session, event_id: str, runs: list[str]) -> None:
    """Record `event_id`, its connection ended by the server before the first run commits."""
    runs.append(event_id)
    _record(session, event_id)
    session.flush()
    if len(runs) == 1:
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


async def test_on_postgresql_a_transaction_that_loses_its_connection_runs_again_once(
    postgres_database, caplog
):
    """A server restarted, or every connection ended (a failover, PgBouncer restarting): the
    server rolled back what the transaction did, so running it again on a new connection
    does it once, rather than fail the answer or event it was for."""
    runs: list[str] = []
    await postgres_database.run(_record_losing_the_connection_once, "E1", runs)
    assert await postgres_database.run(_events) == ["E1"]
    assert runs == ["E1", "E1"]
    (retried,) = [record.getMessage() for record in caplog.records if "ran again" in record.msg]
    assert retried.startswith(
        "the database connection of a transaction (record_losing_the_connection_once) was lost"
    )


def _record_losing_the_connection_while_committing(
    session: Session, event_id: str, runs: list[str]
) -> None:
    runs.append(event_id)
    _record(session, event_id)

    @event.listens_for(session, "before_commit", once=True)
    def _lose_the_connection(committing: Session) -> None:
        committing.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


async def test_on_postgresql_a_transaction_cut_off_while_committing_is_not_run_again(
    postgres_database,
):
    """It may have committed (the server's answer is what was lost): run again, a claim would
    find its message claimed by itself, and the message would go unanswered."""
    runs: list[str] = []
    with pytest.raises(DBAPIError) as lost:
        await postgres_database.run(_record_losing_the_connection_while_committing, "E1", runs)
    assert unreachable(lost.value)
    assert runs == ["E1"]


def _lose_the_connection(session: Session, runs: list[str]) -> None:
    runs.append("lost")
    session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


async def test_on_postgresql_a_transaction_that_loses_its_connection_twice_fails_as_unreachable(
    postgres_database,
):
    runs: list[str] = []
    with pytest.raises(DBAPIError) as lost:
        await postgres_database.run(_lose_the_connection, runs)
    assert unreachable(lost.value)
    assert runs == ["lost", "lost"]


def _lose_the_connection_then_fail(session: Session, runs: list[str]) -> None:
    runs.append("ran")
    if len(runs) == 1:
        session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    raise LookupError("the work failed when run again")


async def test_on_postgresql_a_run_again_that_fails_otherwise_still_logs_the_connection_lost(
    postgres_database, caplog
):
    """The caller's line says the run again's error: the WARNING before it says that the
    connection was lost first, and that it ran again."""
    runs: list[str] = []
    with pytest.raises(LookupError, match="when run again"):
        await postgres_database.run(_lose_the_connection_then_fail, runs)
    assert runs == ["ran", "ran"]
    (retried,) = [record.getMessage() for record in caplog.records if "ran again" in record.msg]
    assert retried.startswith(
        "the database connection of a transaction (lose_the_connection_then_fail) was lost"
    )


@contextmanager
def new_connections_ended_at_once(times: int) -> Iterator[None]:
    """The next `times` connections any pool opens are ended by the server as soon as they
    are open, before the bot's own set-up of them (a server going down, a failover)."""
    left = [times]

    def end_it(dbapi_connection: Any, _record: Any) -> None:
        if left[0]:
            left[0] -= 1
            with suppress(Exception):  # the server ends the connection asking it to
                dbapi_connection.run_async(
                    lambda connection: connection.execute(
                        "SELECT pg_terminate_backend(pg_backend_pid())"
                    )
                )

    event.listen(Pool, "connect", end_it, insert=True)
    try:
        yield
    finally:
        event.remove(Pool, "connect", end_it)


async def test_on_postgresql_a_connection_ended_as_it_opens_is_replaced_for_the_transaction(
    postgres_database, caplog
):
    runs: list[str] = []
    await postgres_database.close()  # the pool's connections closed: the next one is new
    with new_connections_ended_at_once(1):
        await postgres_database.run(_record_once, "E1", runs)
    assert await postgres_database.run(_events) == ["E1"]
    assert runs == ["E1"]
    assert "was lost before it committed (InterfaceError)" in caplog.text


def _record_once(session: Session, event_id: str, runs: list[str]) -> None:
    runs.append(event_id)
    _record(session, event_id)


async def test_on_postgresql_a_connection_ended_every_time_it_opens_is_unreachable(
    postgres_database, caplog
):
    """Unreachable is what the caller logs, in one line: no WARNING of a run again before it,
    as every transaction in an outage would have."""
    await postgres_database.close()  # the pool's connections closed: the next one is new
    with new_connections_ended_at_once(2), pytest.raises(Exception) as lost:
        await postgres_database.run(_events)
    assert unreachable(lost.value), repr(lost.value)
    assert "lost before it committed" not in caplog.text


async def test_a_database_that_cannot_be_used_says_why_without_the_password(tmp_path):
    with pytest.raises(Exception) as failed:
        await connect(f"sqlite+aiosqlite:///{tmp_path}")  # a folder, not a file
    assert connection_failure(failed.value) == "OperationalError: unable to open database file"

    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    missing = make_url(POSTGRES_URL).set(
        drivername="postgresql+asyncpg", password="pw-SECRET", database="chorus_no_such_db"
    )
    with pytest.raises(Exception) as failed:
        await connect(missing.render_as_string(hide_password=False))
    assert connection_failure(failed.value) == (
        'InvalidCatalogNameError: database "chorus_no_such_db" does not exist'
    )


SSL_REFUSED = (
    "ConnectionError: the server does not offer SSL, "
    "which sslmode asks for (in DATABASE_URL or PGSSLMODE)"
)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "postgresql+asyncpg://chorus:pw-SECRET@no-such-host.invalid/chorus",
            "gaierror: the host name does not resolve",
        ),
        pytest.param(
            f"{POSTGRES_URL}?sslmode=require",
            SSL_REFUSED,
            marks=pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES),
        ),
    ],
    ids=["unknown host", "ssl refused"],
)
async def test_a_database_that_cannot_be_reached_says_why_in_plain_words(url, said):
    with pytest.raises(Exception) as failed:
        await connect(url)
    assert connection_failure(failed.value) == said


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
async def test_sslmode_set_in_the_environment_is_honoured_as_libpq_does(monkeypatch):
    monkeypatch.setenv("PGSSLMODE", "require")
    with pytest.raises(Exception) as failed:
        await connect(POSTGRES_URL)
    assert connection_failure(failed.value) == SSL_REFUSED
