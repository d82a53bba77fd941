"""One provider instance per configured provider, sharing one HTTP client."""

from __future__ import annotations

import httpx

from bot.providers.anthropic import AnthropicProvider
from bot.providers.base import ModelProvider
from bot.providers.gemini import GeminiProvider
from bot.providers.openai_compatible import OpenAICompatibleProvider
from bot.providers.openai_responses import OpenAIResponsesProvider
from bot.settings import Settings


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The client every provider streams through. The read timeout bounds the wait for each
    next chunk, so a stream that hangs (before or after the first token) fails cleanly; the
    providers' own first-token deadline catches one that sends only keep-alives."""
    timeout = httpx.Timeout(
        connect=settings.chorus_provider_connect_timeout,
        read=settings.chorus_provider_read_timeout,
        write=30.0,
        pool=30.0,
    )
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)


def make_providers(settings: Settings, client: httpx.AsyncClient) -> dict[str, ModelProvider]:
    """Providers by the name used in `provider:model-id`."""
    keys = settings.provider_keys()
    first_token_timeout = settings.chorus_provider_first_token_timeout
    return {
        "openai": _openai(settings, client, keys["openai"]),
        "openrouter": OpenAICompatibleProvider(
            client,
            settings.openrouter_base_url,
            keys["openrouter"],
            extra_headers={"X-Title": "chorus-slack"},
            name="OpenRouter",
            first_token_timeout=first_token_timeout,
        ),
        # Named after its address unless it is Ollama's: it may be LM Studio, vLLM…
        "ollama": OpenAICompatibleProvider(
            client, settings.ollama_base_url, None, first_token_timeout=first_token_timeout
        ),
        "anthropic": AnthropicProvider(
            client,
            settings.anthropic_base_url,
            keys["anthropic"],
            max_tokens=settings.chorus_max_output_tokens,
            first_token_timeout=first_token_timeout,
        ),
        "google": GeminiProvider(
            client,
            settings.gemini_base_url,
            keys["google"],
            first_token_timeout=first_token_timeout,
        ),
    }


def _openai(settings: Settings, client: httpx.AsyncClient, key: str | None) -> ModelProvider:
    """OpenAI through the API `OPENAI_API` names: Chat Completions or Responses."""
    timeout = settings.chorus_provider_first_token_timeout
    base_url = settings.openai_base_url
    if settings.openai_api == "responses":
        return OpenAIResponsesProvider(client, base_url, key, first_token_timeout=timeout)
    return OpenAICompatibleProvider(
        client, base_url, key, name="OpenAI", first_token_timeout=timeout
    )
