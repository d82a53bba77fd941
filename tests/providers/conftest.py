"""The fake model servers: one, fresh, for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doubles.model_servers import FakeModelServer


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    server = FakeModelServer().start()
    yield server
    server.stop()
