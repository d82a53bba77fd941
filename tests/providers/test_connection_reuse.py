"""A finished answer leaves its connection open for the next request to that provider: over
the internet a new one costs a TLS handshake before the model even sees the question. The
bot's own settings, registry and HTTP client against the fake model servers, over TCP."""

from __future__ import annotations

import asyncio

import pytest

from bot.providers.openai_compatible import OpenAICompatibleProvider
from bot.providers.registry import Providers
from tests.doubles.model_servers import FakeModelServer
from tests.providers.replay import ANSWER_PATIENCE_SECONDS, ReplayServer, bot_settings, run


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_the_next_request_to_a_provider_reuses_the_finished_answers_connection(
    models: FakeModelServer, provider: str
):
    async with Providers(bot_settings(models)) as providers:
        streams = providers.by_name[provider]
        for _ in range(3):
            answer = await run(streams, "steady")
            assert answer.error is None and answer.text

    ports = [request.client_port for request in models.requests_for("steady")]
    assert len(ports) == 3 and None not in ports
    assert len(set(ports)) == 1, f"each answer came on a new connection: {ports}"


async def test_an_answer_is_not_held_up_by_a_server_that_keeps_the_stream_open_after_it():
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Done."},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )
    server = ReplayServer(body, hang_after_body=True)
    async with server.client() as client:
        provider = OpenAICompatibleProvider(client, "https://api.openai.com/v1", "sk-test")
        answer = await asyncio.wait_for(run(provider, "gpt-4o"), ANSWER_PATIENCE_SECONDS)

    assert answer.error is None
    assert answer.text == "Done."
