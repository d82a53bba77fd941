"""Throwaway PostgreSQL databases for tests, created from `CHORUS_TEST_POSTGRES_URL`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """Create an empty database on the server of `server_url`; yield its async URL; drop it."""
    url = make_url(server_url).set(drivername="postgresql+asyncpg")
    name = f"chorus_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    asyncio.run(_execute(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
