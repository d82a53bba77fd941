"""PostgreSQL URLs as hosting platforms hand them out: libpq's options made asyncpg's."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage.database import connect, database_at
from storage.postgres_url import UnusableDatabaseUrl, asyncpg_url
from tests.doubles.tcp_proxy import TcpProxy

# Neon's default, and options libpq users often add.
PLATFORM_OPTIONS = (
    "sslmode=disable&channel_binding=prefer&connect_timeout=10&application_name=chorus"
    "&options=-c%20statement_timeout%3D5000%20-c%20lock_timeout%3D2000"
)


def test_libpq_options_become_asyncpg_options_and_server_settings():
    url, connect_args = asyncpg_url(make_url(f"postgres://u:pw@db.example/app?{PLATFORM_OPTIONS}"))

    assert url.drivername == "postgresql+asyncpg"
    assert dict(url.query) == {"ssl": "disable"}
    assert connect_args == {
        "timeout": 10.0,
        "command_timeout": 60.0,
        "server_settings": {
            "application_name": "chorus",
            "statement_timeout": "5000",
            "lock_timeout": "2000",
        },
    }


def test_an_asyncpg_url_is_kept_as_it_is():
    given = make_url("postgresql+asyncpg://u@db/app?ssl=require&command_timeout=30")
    url, connect_args = asyncpg_url(given)
    assert url == given.set(query={"ssl": "require"})
    assert connect_args == {"timeout": 10.0, "command_timeout": 30.0}


def test_asyncpgs_statement_cache_options_are_numbers():
    """As a connection pooler in transaction mode needs them (no statement kept prepared)."""
    given = make_url("postgresql://u@db/app?statement_cache_size=0&prepared_statement_cache_size=0")
    url, connect_args = asyncpg_url(given)
    assert dict(url.query) == {"prepared_statement_cache_size": "0"}  # SQLAlchemy's, it reads it
    assert connect_args["statement_cache_size"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "host=/cloudsql/project:europe-west1:chorus",  # Cloud SQL's Unix socket, on Cloud Run
        "host=db1.internal,db2.internal&port=5432,5433&target_session_attrs=read-write",
    ],
)
def test_where_to_connect_may_be_in_the_query_as_libpq_reads_it(query):
    url, _ = asyncpg_url(make_url(f"postgres://u:pw@/app?{query}"))
    assert dict(url.query) == dict(make_url(f"postgres://u:pw@/app?{query}").query)


def test_connecting_and_each_statement_are_bounded_in_time_unless_the_url_says():
    _, connect_args = asyncpg_url(make_url("postgresql://u@db/app"))
    assert connect_args == {"timeout": 10.0, "command_timeout": 60.0}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("sslfoo=1", "'sslfoo'"),
        ("connect_timeout=soon", "'timeout' must be a number"),
        ("statement_cache_size=none", "'statement_cache_size' must be a whole number"),
        ("options=statement_timeout%3D5", "'options' must read '-c name=value'"),
        ("options=-c%20statement_timeout", "'options' must read '-c name=value'"),
        ("ssl=require&ssl=disable", "'ssl' is given more than once"),
        ("sslmode=verify-full&sslrootcert=/certs/rds.pem", "set PGSSLROOTCERT to the file"),
    ],
)
def test_an_option_the_driver_does_not_take_is_named_without_the_password(query, named):
    with pytest.raises(UnusableDatabaseUrl) as refused:
        asyncpg_url(make_url(f"postgresql://u:s3cr3t@db/app?{query}"))
    assert named in str(refused.value)
    assert "s3cr3t" not in str(refused.value)


def test_a_port_that_is_no_number_is_named_without_the_password():
    with pytest.raises(UnusableDatabaseUrl) as refused:
        database_at("postgresql://u:s3cr3t@db:s3cr3t/app")
    assert str(refused.value) == "DATABASE_URL's port must be a number"


def test_an_unencoded_at_in_the_password_is_named_without_the_password():
    with pytest.raises(UnusableDatabaseUrl) as refused:
        database_at("postgresql://chorus:s3c@r3t@db.internal/app")
    assert str(refused.value) == (
        "DATABASE_URL's password must have its @ percent-encoded (as %40)"
    )
    assert "r3t" not in str(refused.value)


def _settings(session: Session) -> tuple[str, str]:
    row = session.execute(
        text("SELECT current_setting('application_name'), current_setting('statement_timeout')")
    ).one()
    return row[0], row[1]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_platforms_url_connects_with_its_settings(database_url):
    plain = make_url(database_url).set(drivername="postgresql")
    database = await connect(f"{plain.render_as_string(hide_password=False)}?{PLATFORM_OPTIONS}")
    try:
        assert await database.run(_settings) == ("chorus", "5s")
    finally:
        await database.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_url_naming_its_host_in_the_query_connects(database_url):
    url = make_url(database_url)
    in_query = url.set(host=None, port=None, query={"host": url.host or "", "port": str(url.port)})
    database = await connect(in_query.render_as_string(hide_password=False))
    try:
        assert await database.reachable(within=5)
    finally:
        await database.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_url_that_keeps_no_statement_prepared_connects(database_url):
    url = make_url(database_url).render_as_string(hide_password=False)
    database = await connect(f"{url}?statement_cache_size=0&prepared_statement_cache_size=0")
    try:
        for _ in range(2):  # the same statement again: not found prepared
            assert await database.run(_settings) == await database.run(_settings)
    finally:
        await database.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_statement_on_a_connection_gone_silent_ends_in_time(database_url):
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port, query={"command_timeout": "1"})
    database = await connect(proxied.render_as_string(hide_password=False))
    try:
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises((TimeoutError, OSError, DBAPIError)):
            await asyncio.wait_for(database.run(_settings), 10)
        assert time.monotonic() - started < 5, "ended by the statement timeout"
    finally:
        proxy.cut()
        await database.close()
        proxy.stop()
