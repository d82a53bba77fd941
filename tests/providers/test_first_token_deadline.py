"""The first-token deadline: a model that only sends keep-alives fails in time instead of never;
the bot's own settings, registry and HTTP client against the fake model servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.chat.messages import ModelRequest
from bot.providers import anthropic, gemini
from bot.providers.base import ModelProvider, ProviderTimeout, StreamEvent, ThoughtTooLong
from bot.providers.http import SseEndpoint
from bot.providers.registry import Providers, make_http_client
from bot.providers.retry import RetryPolicy, stream_with_retries
from tests.doubles.model_servers import (
    ANTHROPIC_API_KEY,
    GEMINI_API_KEY,
    FakeModelServer,
    ModelFault,
    ModelScript,
)
from tests.providers.replay import Answer, bot_settings, collect, conversation, run

# Long enough to wait out a deadline of 0.6 s, short enough that a missing one fails quickly.
PATIENCE_SECONDS = 4.0


async def ask(models: FakeModelServer, provider: str, **tuning: float) -> Answer:
    """Ask `provider:slow` through providers made from settings as the bot makes them."""
    async with Providers(bot_settings(models, **tuning)) as provider_for:
        return await asyncio.wait_for(run(provider_for.by_name[provider], "slow"), PATIENCE_SECONDS)


@pytest.mark.parametrize(
    ("provider", "name"), [("anthropic", "Anthropic"), ("openrouter", "OpenRouter")]
)
async def test_keep_alives_do_not_hold_off_the_first_token_deadline(
    models: FakeModelServer, provider: str, name: str
):
    models.script(f"{provider}:slow", ModelScript(error=ModelFault(keep_alive_only=True)))
    answer = await ask(
        models,
        provider,
        chorus_provider_read_timeout=3.0,
        chorus_provider_first_token_timeout=0.6,
    )

    assert isinstance(answer.error, ProviderTimeout), "retried like a read timeout"
    assert str(answer.error) == (f"{name} took too long to start answering (no text within 0.6 s).")


@pytest.mark.parametrize(
    ("provider", "name"), [("anthropic", "Anthropic"), ("openrouter", "OpenRouter")]
)
async def test_keep_alives_after_some_text_do_not_keep_the_answer_open_forever(
    models: FakeModelServer, provider: str, name: str
):
    stalled = ModelScript(
        reply="Hello, world", chunk_chars=5, error=ModelFault(keep_alive_after_chunks=1)
    )
    models.script(f"{provider}:slow", stalled)

    # Keep-alives come every 0.2 s: well inside the read timeout, even on a busy machine.
    answer = await ask(models, provider, chorus_provider_read_timeout=1.2)

    assert answer.text == "Hello"
    assert isinstance(answer.error, ProviderTimeout)
    assert str(answer.error) == f"{name} stopped sending text (none for 1.2 s)."


async def test_the_deadline_ends_with_the_first_token(models: FakeModelServer):
    slow_after_the_start = ModelScript(
        reply="x" * 50, chunk_chars=10, first_token_delay=0.05, chunk_delay=0.5
    )  # 2.5 s of streaming in all, past the deadline
    models.script("anthropic:slow", slow_after_the_start)

    answer = await ask(models, "anthropic", chorus_provider_first_token_timeout=1.5)

    assert answer.error is None
    assert answer.text == "x" * 50


@pytest.mark.parametrize("provider", ["openai", "google", "anthropic"])
async def test_a_model_silent_while_it_thinks_is_waited_for_until_the_deadline(
    models: FakeModelServer, provider: str
):
    # Nothing at all comes for 1.5 s: longer than the read timeout, within the deadline.
    models.script(f"{provider}:slow", ModelScript(reply="Done thinking.", first_token_delay=1.5))

    answer = await ask(
        models,
        provider,
        chorus_provider_read_timeout=0.5,
        chorus_provider_first_token_timeout=3.0,
    )

    assert answer.error is None
    assert answer.text == "Done thinking."


# Each a bot provider slot and the fake server behind it: OpenRouter's `reasoning`, a vLLM
# server's `reasoning_content` (where OLLAMA_BASE_URL may point), Anthropic's thinking block
# and Gemini's thought parts. The bot asks Anthropic and Gemini for no thoughts, so they think
# in silence; their readers' handling of thoughts is tested with requests that ask for them.
THINKING_SERVERS = [
    ("openrouter", "openrouter"),
    ("ollama", "vllm"),
    ("anthropic", "anthropic"),
    ("google", "google"),
]
THOUGHT = "Two and two make four; three and three make six. " * 3  # 20 pieces of 8 characters
# About 1.6 s of thoughts, a piece every 0.08 s, then the answer.
THINKING_THEN_ANSWERING = ModelScript(
    reply="4 and 6.", reasoning=THOUGHT, chunk_chars=8, chunk_delay=0.08
)


@dataclass(frozen=True)
class AskingForThoughts:
    """Anthropic's or Gemini's endpoint as the bot sets it up, asked for the model's thoughts
    (extended thinking, `includeThoughts`), which the bot itself never asks for."""

    endpoint: SseEndpoint
    base_url: str
    slot: str

    def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        if self.slot == "anthropic":
            body: dict[str, Any] = anthropic.request_body(model_id, request, max_tokens=4096)
            body["thinking"] = {"type": "enabled", "budget_tokens": 2048}
            return self.endpoint.stream(f"{self.base_url}/anthropic/v1/messages", body)
        body = gemini.request_body(model_id, request)
        body["generationConfig"] = {"thinkingConfig": {"includeThoughts": True}}
        url = f"{self.base_url}/gemini/v1beta/models/{model_id}:streamGenerateContent?alt=sse"
        return self.endpoint.stream(url, body)


def asking_for_thoughts(
    models: FakeModelServer, slot: str, client: httpx.AsyncClient, first_token_timeout: float
) -> AskingForThoughts:
    if slot == "anthropic":
        headers = {"anthropic-version": anthropic.API_VERSION, "x-api-key": ANTHROPIC_API_KEY}
        read_event = anthropic.read_event
        name = anthropic.NAME
    else:
        headers, read_event, name = (
            {"x-goog-api-key": GEMINI_API_KEY},
            gemini.read_event,
            gemini.NAME,
        )
    endpoint = SseEndpoint(
        client, name, headers, read_event, first_token_timeout, bare_json_events=slot == "google"
    )
    return AskingForThoughts(endpoint, models.url, slot)


async def ask_with_retries(models: FakeModelServer, slot: str, **tuning: float) -> Answer:
    """Ask `slot`'s provider for `slow` as the bot does, retrying before the first token."""
    urls = {"ollama_base_url": f"{models.url}/vllm/v1"} if slot == "ollama" else {}
    async with Providers(bot_settings(models, **urls, **tuning)) as provider_for:
        return await ask_slow(provider_for.by_name[slot])


async def ask_showing_thoughts(models: FakeModelServer, slot: str, **tuning: float) -> Answer:
    """As `ask_with_retries`, but Anthropic and Gemini are asked to show their thoughts."""
    if slot not in ("anthropic", "google"):
        return await ask_with_retries(models, slot, **tuning)
    settings = bot_settings(models, **tuning)
    async with make_http_client(settings) as client:
        first_token_timeout = settings.chorus_provider_first_token_timeout
        return await ask_slow(asking_for_thoughts(models, slot, client, first_token_timeout))


async def ask_slow(provider: ModelProvider) -> Answer:
    events = stream_with_retries(
        provider, "slow", conversation(), RetryPolicy(max_attempts=2, base_delay=0)
    )
    return await asyncio.wait_for(collect(events), 2 * PATIENCE_SECONDS)


@pytest.mark.parametrize(("slot", "name"), [("anthropic", "Anthropic"), ("google", "Gemini")])
async def test_a_model_thinking_in_silence_past_the_deadline_is_taken_for_one_that_hangs(
    models: FakeModelServer, slot: str, name: str
):
    # As a model the bot does not ask to show its thoughts: 1.6 s of them, none sent.
    models.script(f"{slot}:slow", THINKING_THEN_ANSWERING)

    answer = await ask_with_retries(
        models, slot, chorus_provider_first_token_timeout=0.8, chorus_provider_read_timeout=2.0
    )

    assert isinstance(answer.error, ProviderTimeout)
    assert str(answer.error) == f"{name} took too long to start answering (no text within 0.8 s)."
    assert answer.text == ""
    assert len(models.requests_for(f"{slot}:slow")) == 2


@pytest.mark.parametrize(("slot", "server"), THINKING_SERVERS)
async def test_a_model_streaming_its_thoughts_past_the_deadline_is_waited_for(
    models: FakeModelServer, slot: str, server: str
):
    # Thoughts for twice the deadline, never silent long.
    models.script(f"{server}:slow", THINKING_THEN_ANSWERING)

    answer = await ask_showing_thoughts(
        models, slot, chorus_provider_first_token_timeout=0.8, chorus_provider_read_timeout=2.0
    )

    assert answer.error is None
    assert answer.text == "4 and 6.", "the thoughts are never shown"
    assert len(models.requests_for(f"{server}:slow")) == 1, "not taken for a model that hangs"


@pytest.mark.parametrize(("slot", "server"), THINKING_SERVERS)
async def test_a_model_that_stops_sending_thoughts_fails_in_time_and_is_retried(
    models: FakeModelServer, slot: str, server: str
):
    # Thoughts, then silence (or keep-alives): no answer text, so a retry is safe.
    stalls = ModelScript(
        reasoning=THOUGHT[:24], chunk_chars=8, error=ModelFault(keep_alive_after_chunks=0)
    )
    models.script(f"{server}:slow", stalls)

    answer = await ask_showing_thoughts(
        models, slot, chorus_provider_first_token_timeout=1.0, chorus_provider_read_timeout=1.2
    )

    assert isinstance(answer.error, ProviderTimeout)
    assert str(answer.error).endswith(" stopped sending anything while thinking (none for 1.2 s).")
    assert answer.text == ""
    assert len(models.requests_for(f"{server}:slow")) == 2


@pytest.mark.parametrize(("slot", "server"), THINKING_SERVERS[:2])
async def test_reasoning_past_the_longest_answer_is_a_loop_and_ends_the_answer(
    models: FakeModelServer, slot: str, server: str
):
    looping = ModelScript(reply="never reached", reasoning=THOUGHT * 8, chunk_chars=40)
    models.script(f"{server}:slow", looping)

    answer = await ask_with_retries(models, slot, chorus_max_answer_chars=1_000)

    assert isinstance(answer.error, ThoughtTooLong)
    assert answer.text == ""
    assert len(models.requests_for(f"{server}:slow")) == 1, "asking again would loop again"
