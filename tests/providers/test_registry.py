"""The providers the bot makes from its settings: an HTTP client for each it can ask."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.chat.messages import ChatMessage, ModelRequest
from bot.providers import registry
from bot.providers.anthropic import AnthropicProvider
from bot.providers.base import CONTINUED_CONVERSATION, NotSetUp
from bot.providers.registry import Providers, WithoutKey
from bot.settings import KEY_VARIABLE, Settings
from tests.providers.replay import ReplayServer, run
from tests.providers.test_openai_compatible import ANSWER


@pytest.fixture
def only_anthropic(monkeypatch) -> Settings:
    for variable in KEY_VARIABLE.values():
        monkeypatch.delenv(variable, raising=False)
    return Settings(
        _env_file=None,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        anthropic_api_key="sk-ant-test",
    )


async def test_a_provider_without_its_key_opens_no_http_client(only_anthropic):
    async with Providers(only_anthropic) as providers:
        assert isinstance(providers.by_name["anthropic"], AnthropicProvider)
        for provider in ("openai", "google", "openrouter"):
            assert isinstance(providers.by_name[provider], WithoutKey)
        # Anthropic's, and Ollama's, which needs no key.
        assert len(providers._clients) == 2


async def test_a_provider_without_its_key_answers_at_once_saying_which_key(only_anthropic):
    async with Providers(only_anthropic) as providers:
        answer = await run(providers.by_name["openai"], "gpt-5.1")

    assert isinstance(answer.error, NotSetUp)
    assert "OPENAI_API_KEY is not set" in str(answer.error)


@pytest.mark.parametrize("provider", ["ollama", "openrouter"])
async def test_open_models_are_sent_turns_that_alternate_and_open_with_a_user_turn(
    only_anthropic, monkeypatch, provider
):
    """The chat templates of many open models (Gemma, Mistral) refuse two turns of one role
    in a row, or a model turn first: vLLM, LM Studio, llama.cpp, and OpenRouter's providers
    that serve them, answer 400 "Conversation roles must alternate user/assistant/…". A
    failed answer leaves two user turns in a row."""
    settings = only_anthropic.model_copy(update={"openrouter_api_key": SecretStr("sk-or-1")})
    server = ReplayServer(ANSWER)
    monkeypatch.setattr(registry, "make_http_client", lambda settings: server.client())
    request = ModelRequest(
        "Be brief.",
        (
            ChatMessage("assistant", "4."),
            ChatMessage("user", "Bob: And 3+3?"),
            ChatMessage("user", "Ann: Answer both."),
        ),
    )
    async with Providers(settings) as providers:
        answer = await run(providers.by_name[provider], "google/gemma-3-27b-it", request)

    assert answer.error is None
    assert server.sent_json()["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": CONTINUED_CONVERSATION},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "Bob: And 3+3?\n\nAnn: Answer both."},
    ]


@pytest.mark.parametrize(("key", "sent"), [(None, None), ("vllm-key-1", "Bearer vllm-key-1")])
async def test_a_local_server_is_sent_ollama_api_key_only_when_it_is_set(
    only_anthropic, monkeypatch, key, sent
):
    settings = only_anthropic.model_copy(update={"ollama_api_key": SecretStr(key) if key else None})
    server = ReplayServer(ANSWER)
    monkeypatch.setattr(registry, "make_http_client", lambda settings: server.client())
    async with Providers(settings) as providers:
        answer = await run(providers.by_name["ollama"], "llama3.2")

    assert answer.error is None
    assert server.request.headers.get("authorization") == sent
