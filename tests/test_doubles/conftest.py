"""Fixtures: the doubles running, and the clients that talk to them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from tests.doubles import FakeModelServer, SlackEmulator, SlackEventSender
from tests.test_doubles.scene import SECRET, TOKEN, RecordingEndpoint


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as running:
        yield running


@pytest.fixture
def slack(emulator: SlackEmulator) -> WebClient:
    return WebClient(token=TOKEN, base_url=emulator.api_url)


@pytest.fixture
def endpoint() -> Iterator[RecordingEndpoint]:
    recording = RecordingEndpoint()
    yield recording
    recording.server.stop()


@pytest.fixture
def sender(emulator: SlackEmulator) -> SlackEventSender:
    return SlackEventSender(emulator, signing_secret=SECRET)


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    with FakeModelServer() as running:
        yield running
