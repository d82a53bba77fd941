"""The database: SQLite (default) or PostgreSQL, migrated to the latest schema.

Every transaction is one synchronous function of a SQLAlchemy `Session`, run in one trip:
SQLite's on a thread of its own, PostgreSQL's through asyncpg. Through SQLAlchemy's asyncio
layer and aiosqlite, each statement of a SQLite transaction took its own trips to aiosqlite's
thread and back: a transaction of five statements cost 3.9 ms there and 0.8 ms here.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import ssl
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as create_asyncpg_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from storage.postgres_url import UnusableDatabaseUrl, asyncpg_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed number: replicas starting together take turns to migrate.
_MIGRATION_LOCK_KEY = 0x43686F72

P = ParamSpec("P")
T = TypeVar("T")
Transaction = Callable[Concatenate[Session, P], T]
Clock = Callable[[], float]  # seconds since the epoch
# The most connections one replica opens to PostgreSQL (CHORUS_DATABASE_POOL_SIZE). Each
# transaction holds one for milliseconds, so a few serve many rounds at once.
DEFAULT_POOL_SIZE = 10
# How long a transaction waits its turn for a connection when all of them are in use.
POOL_TIMEOUT_SECONDS = 30.0
# A PostgreSQL transaction left idle this long belongs to a replica stopped mid-way (a paused
# VM, a stalled process): the server ends it, so the rows it locked are free for the replicas
# taking over its work, well within the heartbeats' time. The bot's own transactions are
# never idle for more than moments. `options=-c idle_in_transaction_session_timeout=…` in
# DATABASE_URL says otherwise.
IDLE_TRANSACTION_TIMEOUT = "10s"


class Database(ABC):
    """Runs transactions; `close()` releases the connections; `now()` tells the time every
    replica agrees on."""

    dialect: str  # "sqlite" or "postgresql"

    def __init__(self, local_clock: Clock = time.time) -> None:
        self._local_clock = local_clock  # this machine's wall clock

    @abstractmethod
    def now(self) -> float:
        """The time by the database server's clock. Storage takes the times it records from
        it, so heartbeats are written and judged by one clock: a replica whose own clock is
        off (or stepped) is not taken for dead, nor a dead one kept for alive."""

    @abstractmethod
    async def agree_on_time(self) -> None:
        """Read the server's clock again (now and then: clocks drift)."""

    @abstractmethod
    async def run(self, work: Transaction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(session, *args, **kwargs)` in one transaction, committed when it returns
        and rolled back when it raises (the exception is raised here)."""

    async def reachable(self, *, within: float) -> bool:
        """Whether a transaction goes through within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                await self.run(_ping)
        except Exception:
            return False
        return True

    @abstractmethod
    async def close(self) -> None: ...


async def connect(
    database_url: str, *, local_clock: Clock = time.time, pool_size: int = DEFAULT_POOL_SIZE
) -> Database:
    """The database at `database_url`, its schema brought to the latest migration, its clock
    agreed on."""
    database = database_at(database_url, local_clock=local_clock, pool_size=pool_size)
    try:
        await migrate(database)
        await database.agree_on_time()
    except BaseException:
        await database.close()
        raise
    return database


async def connect_once_up(
    database_url: str,
    *,
    wait_seconds: float,
    on_wait: Callable[[BaseException, float], None],
    pool_size: int = DEFAULT_POOL_SIZE,
) -> Database:
    """`connect`, trying again for up to `wait_seconds` while the database is not up (yet):
    one started beside the bot takes a while. `on_wait(error, seconds_left)` hears of the
    first such failure; any other failure, or the last, is raised."""
    deadline = time.monotonic() + wait_seconds
    pause = 0.5
    waiting = False
    while True:
        try:
            return await connect(database_url, pool_size=pool_size)
        except Exception as error:
            seconds_left = deadline - time.monotonic()
            if seconds_left <= 0 or not not_up_yet(error):
                raise
            if not waiting:
                on_wait(error, seconds_left)
                waiting = True
        await asyncio.sleep(min(pause, seconds_left))
        pause = min(pause * 2, 5.0)


def not_up_yet(error: BaseException) -> bool:
    """Whether the database did not answer, or answered that it is starting up (or shutting
    down, or recovering), rather than refusing what DATABASE_URL asks of it: waiting may help."""
    failure = _driver_failure(error)
    if isinstance(failure, asyncpg.CannotConnectNowError):
        return True
    return unreachable(error) and not _ssl_refused(failure) and not _certificate_rejected(failure)


def connection_failure(error: BaseException) -> str:
    """Why the database could not be used, fit for the log: PostgreSQL's own words when the
    server refused (they name the database or the user, never the password), and asyncpg's
    when it refused the configuration before connecting (an `sslmode` it does not know, a
    root certificate it cannot find: they name the option or the file); otherwise only the
    kind of error, as drivers' messages may quote the URL, password and all."""
    failure = _driver_failure(error)
    if isinstance(failure, asyncpg.PostgresError):
        return f"{type(failure).__name__}: {failure}"
    if isinstance(failure, asyncpg.ClientConfigurationError):
        return f"{type(failure).__name__}: {failure.args[0]}"  # without its HINT line
    if isinstance(error, DBAPIError) and isinstance(error.orig, sqlite3.Error):
        return f"{type(error.orig).__name__}: {error.orig}"  # a file's trouble, no secret
    if isinstance(failure, socket.gaierror):
        return "gaierror: the host name does not resolve"
    if isinstance(failure, OSError) and _certificate_unusable(failure):
        return (
            f"{type(failure).__name__}: a certificate or key file could not be used "
            f"({failure.strerror}): check PGSSLROOTCERT, PGSSLCERT, PGSSLKEY and PGSSLCRL"
        )
    if _ssl_refused(failure):
        return (
            "ConnectionError: the server does not offer SSL, "
            "which sslmode asks for (in DATABASE_URL or PGSSLMODE)"
        )
    if _certificate_rejected(failure):
        # OpenSSL's reason names no secret: an unknown issuer, or the host it is not for.
        reason = getattr(failure, "verify_message", None) or "certificate verify failed"
        return (
            f"{type(failure).__name__}: the server's certificate was not accepted "
            f"({reason.rstrip('.')}): check PGSSLROOTCERT and the host name in DATABASE_URL"
        )
    return type(failure).__name__


def _driver_failure(error: BaseException) -> BaseException:
    """What asyncpg raised, behind SQLAlchemy's wrapping of it; else `error` itself."""
    driver_error = error.orig if isinstance(error, DBAPIError) else None
    return (driver_error.__cause__ if driver_error is not None else None) or error


def _ssl_refused(failure: BaseException) -> bool:
    return type(failure) is ConnectionError and "rejected SSL" in str(failure)


def _certificate_rejected(failure: BaseException) -> bool:
    """Whether the bot did not accept the server's certificate (`sslmode=verify-ca` or
    `verify-full`): signed by a CA it was not given, or for another host."""
    return isinstance(failure, ssl.SSLCertVerificationError)


# How loading a certificate or key file fails: missing, unreadable, or not one.
_CERTIFICATE_FILE_ERRORS = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    ssl.SSLError,
)


def _certificate_unusable(failure: BaseException) -> bool:
    """Whether asyncpg could not load a certificate or key file (those the PGSSL… variables
    name, or ~/.postgresql's) as it read its configuration, before connecting: a file to fix,
    not a database to wait for."""
    if not isinstance(failure, _CERTIFICATE_FILE_ERRORS):
        return False
    frames = list(traceback.walk_tb(failure.__traceback__))
    # A Unix socket not there yet fails in asyncio's code; a file asyncpg loads, in its own.
    return bool(frames) and frames[-1][0].f_code.co_filename.endswith("asyncpg/connect_utils.py")


_DRIVER_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # "connection is closed"
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
)


def unreachable(error: BaseException) -> bool:
    """Whether `error` is the database not answering (a connection refused, dropped or timed
    out, no connection free in time), rather than a fault of the bot's own statements."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error.orig, OSError | TimeoutError)
    if isinstance(error, PoolTimeout):
        return True
    if _certificate_unusable(error):
        return False
    # The driver's own errors opening or setting up a connection (in SQLAlchemy's `connect`
    # hooks and the bot's) pass through SQLAlchemy unwrapped: a connection refused, or one
    # the server ended as soon as it opened (going down, a failover).
    return isinstance(error, _DRIVER_CONNECTION_ERRORS) and any(
        "/sqlalchemy/" in frame.f_code.co_filename or "/asyncpg/" in frame.f_code.co_filename
        for frame, _line in traceback.walk_tb(error.__traceback__)
    )


async def read_through_outages(
    read: Callable[[], Awaitable[T]],
    *,
    until: float,
    warning: str,
    logger: logging.Logger,
    pause: float = 0.25,
) -> T:
    """`read()`, again each `pause` while the database can't be reached (a restart, a
    failover) until `until` (by `time.monotonic()`), then its error is raised. `warning` goes
    to `logger` with the error when the first read fails: once each time reading stops working."""
    waiting = False
    while True:
        try:
            return await read()
        except Exception as error:
            if not unreachable(error) or time.monotonic() >= until:
                raise
            if not waiting:
                logger.warning(warning, exc_info=error)
                waiting = True
        await asyncio.sleep(pause)


def database_at(
    database_url: str, *, local_clock: Clock = time.time, pool_size: int = DEFAULT_POOL_SIZE
) -> Database:
    """The database at `database_url`, as it is.

    `sqlite://…` and `sqlite+aiosqlite://…` are SQLite; `postgres://…`, `postgresql://…` and
    `postgresql+asyncpg://…` are PostgreSQL through asyncpg, at most `pool_size` connections
    (SQLite has one). Another driver is refused with SQLAlchemy's `ArgumentError`.
    """
    try:
        url = make_url(database_url)
    except ValueError:  # what SQLAlchemy raises for a port that is no number
        raise UnusableDatabaseUrl("DATABASE_URL's port must be a number") from None
    if url.get_backend_name() == "sqlite":
        return SQLiteDatabase(url, local_clock)
    if url.host and "@" in url.host:  # the host would be what follows the password's @
        raise UnusableDatabaseUrl(
            "DATABASE_URL's password must have its @ percent-encoded (as %40)"
        )
    return PostgresDatabase(url, local_clock, pool_size=pool_size)


async def migrate(database: Database) -> None:
    """Bring the schema to the latest Alembic revision (safe when replicas start together)."""
    await database.run(_upgrade_to_head)


class SQLiteDatabase(Database):
    """One connection, used by one thread: transactions queue there in the order they come
    (rather than poll SQLite's lock), each one trip from the event loop."""

    dialect = "sqlite"

    def __init__(self, url: URL, local_clock: Clock = time.time) -> None:
        super().__init__(local_clock)
        self._wall_time_read = (local_clock(), time.monotonic())
        if url.drivername not in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
            raise _unsupported(url)
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # `sqlite+aiosqlite://` (SQLAlchemy's async driver name, this setting's documented
        # form) names the same file; the thread here does what aiosqlite's would.
        self._engine = create_sync_engine(
            url.set(drivername="sqlite"),
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=StaticPool,  # the one connection, kept (an in-memory database too)
            hide_parameters=True,  # a failed statement's error is logged: not what was said
        )
        _make_sqlite_transactions_immediate(self._engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chorus-sqlite")

    def now(self) -> float:
        """This machine's wall clock when last read (every process using the file goes by it),
        plus the time elapsed since by this process's monotonic clock: a step of the wall clock
        (a laptop waking, NTP's first correction) moves nothing until `agree_on_time`."""
        return _counted_on(self._wall_time_read)

    async def agree_on_time(self) -> None:
        # As PostgreSQL's path reads the server's clock again: the heartbeat loop calls this
        # just before writing its heartbeats, so its own are fresh by a stepped clock before
        # its sweeper judges anything by it.
        self._wall_time_read = (self._local_clock(), time.monotonic())

    async def run(self, work: Transaction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._thread, partial(self._in_transaction, work, *args, **kwargs)
        )

    def _in_transaction(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._sessions.begin() as session:
            return work(session, *args, **kwargs)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=True)


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(
        self, url: URL, local_clock: Clock = time.time, *, pool_size: int = DEFAULT_POOL_SIZE
    ) -> None:
        super().__init__(local_clock)
        # Until the server is first asked, its time is taken to be this machine's.
        self._server_time_read = (local_clock(), time.monotonic())
        if url.drivername not in ("postgres", "postgresql", "postgresql+asyncpg"):
            raise _unsupported(url)
        url, connect_args = asyncpg_url(url)
        # No overflow: every replica opens at most `pool_size` connections, so replicas times
        # pool size stays under the server's limit; a transaction finding them all in use
        # waits its turn rather than be refused a connection by the server.
        self._engine: AsyncEngine = create_asyncpg_engine(
            url,
            connect_args=connect_args,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            hide_parameters=True,  # a failed statement's error is logged: not what was said
        )
        if "idle_in_transaction_session_timeout" not in connect_args.get("server_settings", {}):
            _end_transactions_left_idle(self._engine.sync_engine)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    def now(self) -> float:
        """The server's time when last read, plus the time elapsed since by this process's
        monotonic clock, which steps of the wall clock do not move."""
        return _counted_on(self._server_time_read)

    async def agree_on_time(self) -> None:
        before = time.monotonic()
        server_time = await self.run(_server_time)
        after = time.monotonic()
        self._server_time_read = (server_time, (before + after) / 2)

    async def run(self, work: Transaction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """As `Database.run`; a transaction whose connection was lost before it committed (the
        server restarted, or ended the connection) runs once more, on a new connection: the
        server rolled it back, so this runs it once. One lost while committing may have
        committed, and is not run again. A WARNING says so once the run again has committed,
        or failed otherwise (the caller's line then says how); lost again, or timed out,
        the database is out of reach, which the caller's one line says."""
        try:
            return await self._run_once(work, *args, **kwargs)
        except _LostBeforeCommit as lost:
            first_loss = lost.error
        try:
            result = await self._run_once(work, *args, **kwargs)
        except _LostBeforeCommit as lost_again:
            raise lost_again.error from None
        except Exception as error:
            if not unreachable(error):
                _log_ran_again(work, first_loss)
            raise
        _log_ran_again(work, first_loss)
        return result

    async def _run_once(self, work: Transaction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        session: AsyncSession
        async with self._sessions.begin() as session:
            try:
                # Its connection taken now, not by a first statement left to the commit: one
                # that cannot be had is no commit that may have been made.
                await session.connection()
                return await session.run_sync(work, *args, **kwargs)
            except Exception as error:
                if _connection_lost(error):
                    raise _LostBeforeCommit(error) from error
                raise

    async def close(self) -> None:
        await self._engine.dispose()


def _log_ran_again(work: Callable[..., object], first_loss: Exception) -> None:
    log.warning(
        "the database connection of a transaction (%s) was lost before it committed "
        "(%s): it ran again on a new one",
        getattr(work, "__name__", "?").lstrip("_"),
        connection_failure(first_loss),
    )


def _connection_lost(error: Exception) -> bool:
    """The connection lost under a statement, or a new one refused or closed as it was opened;
    not a timeout (the database silent, or no connection free: trying again would wait as
    long)."""
    causes = (error, getattr(error, "orig", None), _driver_failure(error))
    timed_out = any(isinstance(cause, TimeoutError | PoolTimeout) for cause in causes)
    return unreachable(error) and not timed_out


class _LostBeforeCommit(Exception):
    """A transaction's connection was lost before it committed (`error` says how)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _counted_on(time_read: tuple[float, float]) -> float:
    """A time read (seconds since the epoch, and `time.monotonic()` when it was read), counted
    on by the monotonic clock, which steps of the wall clock do not move."""
    read, read_at = time_read
    return read + (time.monotonic() - read_at)


def _unsupported(url: URL) -> Exception:
    return ArgumentError(f"unsupported database driver {url.drivername!r}")


def _make_sqlite_transactions_immediate(engine: Engine) -> None:
    # SQLite's default deferred transactions fail at once (no busy wait) when a reader tries to
    # become a writer while another connection writes; BEGIN IMMEDIATE takes the write lock up
    # front and so waits its turn instead.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _end_transactions_left_idle(engine: Engine) -> None:
    # Set on each new connection, outside any transaction (one rolled back would undo it);
    # not as a startup parameter, which poolers such as PgBouncer refuse.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(
            lambda connection: connection.execute(
                f"SET idle_in_transaction_session_timeout = '{IDLE_TRANSACTION_TIMEOUT}'"
            )
        )


_SERVER_TIME = text("SELECT extract(epoch FROM clock_timestamp())")


def _ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


def _server_time(session: Session) -> float:
    return float(session.scalar(_SERVER_TIME))


def _upgrade_to_head(session: Session) -> None:
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
