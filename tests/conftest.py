"""Shared fixtures: a fresh database on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy.engine import make_url

from tests.databases import fresh_postgres_database
from tests.doubles.tls_postgres import TlsPostgres

POSTGRES_URL = os.environ.get("CHORUS_TEST_POSTGRES_URL", "")
NO_POSTGRES = "CHORUS_TEST_POSTGRES_URL is not set: PostgreSQL variant skipped (.ci/run sets it)"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/chorus.db"
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    with fresh_postgres_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture
def postgres_ca() -> trustme.CA:
    """The certificate authority the test PostgreSQL speaking SSL has its certificate from."""
    return trustme.CA()


@pytest.fixture
def postgres_ca_file(postgres_ca: trustme.CA, tmp_path: Path) -> Path:
    """`postgres_ca`'s certificate, in a file as PGSSLROOTCERT names one."""
    path = tmp_path / "postgres-ca.pem"
    postgres_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def tls_postgres(database_url: str, postgres_ca: trustme.CA) -> Iterator[TlsPostgres]:
    """The PostgreSQL of `database_url`, speaking SSL on 127.0.0.1 with a certificate for
    that address from `postgres_ca`."""
    url = make_url(database_url)
    server = TlsPostgres.signed_by(postgres_ca, url.host or "127.0.0.1", url.port or 5432)
    yield server.start()
    server.stop()
