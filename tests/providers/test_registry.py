"""The providers the bot makes from its settings: an HTTP client for each it can ask."""

from __future__ import annotations

import pytest

from bot.providers.anthropic import AnthropicProvider
from bot.providers.base import NotSetUp
from bot.providers.registry import Providers, WithoutKey
from bot.settings import KEY_VARIABLE, Settings
from tests.providers.replay import run


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
