"""Start-up waits for a database that is not up yet, and only for one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import trustme
from sqlalchemy.engine import make_url

from storage.database import Database, connect, connect_once_up, connection_failure
from tests.conftest import NO_POSTGRES, POSTGRES_URL
from tests.doubles.bot_process import free_port
from tests.doubles.starting_postgres import StartingPostgres
from tests.doubles.tcp_proxy import TcpProxy
from tests.doubles.tls_postgres import TlsPostgres


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


@ON_POSTGRES
async def test_a_postgres_speaking_ssl_is_connected_to_with_its_certificate_checked(
    database_url, tls_postgres, postgres_ca_file, monkeypatch
):
    monkeypatch.setenv("PGSSLROOTCERT", str(postgres_ca_file))
    database = await connect(tls_postgres.verified_url(database_url))
    try:
        assert await database.reachable(within=5)
    finally:
        await database.close()
    assert tls_postgres.encrypted >= 1
    assert tls_postgres.rejected == 0


@ON_POSTGRES
@pytest.mark.parametrize(
    ("signed_by", "named", "reason"),
    [
        ("another CA", "127.0.0.1", "unable to get local issuer certificate"),
        (
            "the CA",
            "db.example.com",
            "IP address mismatch, certificate is not valid for '127.0.0.1'",
        ),
    ],
)
async def test_a_certificate_the_bot_does_not_accept_is_said_at_once_not_waited_for(
    signed_by, named, reason, database_url, postgres_ca, postgres_ca_file, monkeypatch
):
    monkeypatch.setenv("PGSSLROOTCERT", str(postgres_ca_file))
    ca = postgres_ca if signed_by == "the CA" else trustme.CA()
    url = make_url(database_url)
    server = TlsPostgres.signed_by(ca, url.host or "127.0.0.1", url.port or 5432, named=named)
    server.start()
    heard = WaitHeard()
    try:
        with pytest.raises(Exception) as failed:
            await asyncio.wait_for(
                connect_once_up(server.verified_url(database_url), wait_seconds=60, on_wait=heard),
                30,
            )
    finally:
        server.stop()
    assert connection_failure(failed.value) == (
        f"SSLCertVerificationError: the server's certificate was not accepted ({reason}): "
        "check PGSSLROOTCERT and the host name in DATABASE_URL"
    )
    assert heard.reasons == []
    assert server.rejected >= 1 and server.encrypted == 0
