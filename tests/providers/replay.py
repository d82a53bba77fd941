"""A model server double: answers with given wire bytes (written as each provider sends them)
and keeps every request it got."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.chat.messages import ChatMessage, ModelRequest
from bot.providers.base import (
    ModelProvider,
    ProviderError,
    StreamEvent,
    TextDelta,
    TextRetracted,
    Usage,
)
from bot.settings import Settings
from tests.doubles.model_servers import FakeModelServer

SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


# Long enough for any answer here, short enough that one that hangs fails the test quickly.
ANSWER_PATIENCE_SECONDS = 5.0
# What stands for "forever" in a body that never ends: far more than the bot ever reads of one.
ENDLESS_BYTES = 256 * 1024 * 1024


class _Chunks(httpx.AsyncByteStream):
    """A response body sent in pieces, then optionally failing (a dropped connection),
    hanging (a server that keeps the stream open) or repeating a piece for as long as it is
    read (up to `ENDLESS_BYTES`, counted in `server.endless_bytes_sent`)."""

    def __init__(
        self, chunks: Sequence[bytes], then: Exception | None, hang: bool, server: ReplayServer
    ) -> None:
        self._chunks = chunks
        self._then = then
        self._hang = hang
        self._server = server

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
        if self._then is not None:
            raise self._then
        if self._hang:
            await asyncio.Event().wait()
        repeated = self._server.then_repeat
        while repeated and self._server.endless_bytes_sent < ENDLESS_BYTES:
            self._server.endless_bytes_sent += len(repeated)
            yield repeated


@dataclass
class ReplayServer:
    """Every request gets the same answer: `status`, `headers`, and `body` sent in `chunks`."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: dict(SSE))
    chunk_size: int = 0
    fail_after_body: Exception | None = None
    fail_before_response: Exception | None = None
    hang_after_body: bool = False
    then_repeat: bytes = b""  # sent again and again after `body`, as long as it is read
    endless_bytes_sent: int = 0
    read_timeout: float = 5.0  # httpx's default
    requests: list[httpx.Request] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        timeout = httpx.Timeout(5.0, read=self.read_timeout)
        return httpx.AsyncClient(transport=httpx.MockTransport(self._answer), timeout=timeout)

    @property
    def request(self) -> httpx.Request:
        assert len(self.requests) == 1, self.requests
        return self.requests[0]

    def sent_json(self) -> Any:
        return json.loads(self.request.content)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        if self.fail_before_response is not None:
            raise self.fail_before_response
        size = self.chunk_size or max(len(self.body), 1)
        pieces = [self.body[at : at + size] for at in range(0, len(self.body), size)]
        return httpx.Response(
            self.status,
            headers=self.headers,
            stream=_Chunks(pieces, self.fail_after_body, self.hang_after_body, self),
        )


def conversation(system: str = "Be brief.") -> ModelRequest:
    """Two earlier turns (one a double user turn) and the new message."""
    return ModelRequest(
        system=system,
        messages=(
            ChatMessage("user", "Ann: What is 2+2?"),
            ChatMessage("assistant", "4."),
            ChatMessage("user", "Bob: And 3+3?"),
            ChatMessage("user", "Ann: Answer both."),
        ),
    )


@dataclass
class Answer:
    """What a stream produced: its text, the usage events, and the error that ended it."""

    text: str = ""
    usage: list[Usage] = field(default_factory=list)
    error: ProviderError | None = None
    retractions: int = 0  # of the text streamed so far (thoughts found out as they ended)


async def collect(events: AsyncIterator[StreamEvent]) -> Answer:
    answer = Answer()
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                answer.text += event.text
            elif isinstance(event, TextRetracted):
                answer.text = ""
                answer.retractions += 1
            else:
                answer.usage.append(event)
    except ProviderError as error:
        answer.error = error
    return answer


async def run(
    provider: ModelProvider, model_id: str, request: ModelRequest | None = None
) -> Answer:
    return await collect(provider.stream(model_id, request or conversation()))


def bot_settings(models: FakeModelServer, **tuning: str | float) -> Settings:
    """The bot's settings, every provider pointed at `models`, with `tuning` on top."""
    slack = {"slack_bot_token": "xoxb-test", "slack_signing_secret": "test"}
    env = {name.lower(): value for name, value in models.env().items()}
    return Settings(**(slack | env | tuning))
