"""Shared fixtures: a fresh database on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.databases import fresh_postgres_database

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
