"""Start-up waits for a database that is not up yet, and only for one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy.engine import make_url

from storage.database import Database, connect_once_up, connection_failure
from tests.conftest import NO_POSTGRES, POSTGRES_URL
from tests.doubles.bot_process import free_port
from tests.doubles.starting_postgres import StartingPostgres
from tests.doubles.tcp_proxy import TcpProxy


class WaitHeard:
    """What `connect_once_up` said while it waited."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.said = asyncio.Event()

    def __call__(self, error: BaseException, seconds_left: float) -> None:
        self.reasons.append(connection_failure(error))
        self.said.set()


async def connect_after(url: str, come_up: Callable[[], object]) -> tuple[Database, WaitHeard]:
    """Connect with a long wait, calling `come_up()` once the wait has been announced."""
    heard = WaitHeard()
    connecting = asyncio.create_task(connect_once_up(url, wait_seconds=60, on_wait=heard))
    await asyncio.wait_for(heard.said.wait(), 30)
    come_up()
    return await asyncio.wait_for(connecting, 30), heard


ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@ON_POSTGRES
async def test_a_postgres_still_starting_up_is_waited_for(database_url):
    url = make_url(database_url)
    server = StartingPostgres(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        through = url.set(host="127.0.0.1", port=server.port)
        database, heard = await connect_after(
            through.render_as_string(hide_password=False), server.come_up
        )
        assert await database.reachable(within=5)
        await database.close()
    finally:
        server.stop()
    assert heard.reasons == ["CannotConnectNowError: the database system is starting up"]


@ON_POSTGRES
async def test_a_postgres_not_listening_yet_is_waited_for(database_url):
    url = make_url(database_url)
    port = free_port()
    proxies: list[TcpProxy] = []

    def start_listening() -> None:
        proxies.append(TcpProxy(url.host or "127.0.0.1", url.port or 5432, listen_port=port))
        proxies[0].start()

    try:
        through = url.set(host="127.0.0.1", port=port)
        database, heard = await connect_after(
            through.render_as_string(hide_password=False), start_listening
        )
        assert await database.reachable(within=5)
        await database.close()
    finally:
        for proxy in proxies:
            proxy.stop()
    assert heard.reasons == ["ConnectionRefusedError"]


async def test_a_database_that_stays_down_is_given_up_after_the_wait():
    server = StartingPostgres("127.0.0.1", 9).start()  # never comes up
    heard = WaitHeard()
    try:
        with pytest.raises(Exception) as failed:
            await connect_once_up(
                f"postgresql+asyncpg://chorus@127.0.0.1:{server.port}/chorus",
                wait_seconds=1.5,
                on_wait=heard,
            )
    finally:
        server.stop()
    assert connection_failure(failed.value) == (
        "CannotConnectNowError: the database system is starting up"
    )
    assert len(heard.reasons) == 1  # said once, however many tries
    assert server.refused >= 2


async def test_a_database_that_refuses_is_not_waited_for(tmp_path):
    heard = WaitHeard()
    with pytest.raises(Exception) as failed:
        await connect_once_up(
            f"sqlite+aiosqlite:///{tmp_path}",
            wait_seconds=60,
            on_wait=heard,  # a folder
        )
    assert connection_failure(failed.value) == "OperationalError: unable to open database file"

    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    with pytest.raises(Exception) as failed:
        await connect_once_up(f"{POSTGRES_URL}?sslmode=require", wait_seconds=60, on_wait=heard)
    assert "does not offer SSL" in connection_failure(failed.value)
    assert heard.reasons == []
