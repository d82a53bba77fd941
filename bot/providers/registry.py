"""One provider instance per configured provider, each with an HTTP client of its own."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cache, partial
from types import TracebackType
from typing import Self

import httpx

from bot.chat.messages import ModelRequest
from bot.providers.anthropic import AnthropicProvider
from bot.providers.base import ModelProvider, NotSetUp, StreamEvent
from bot.providers.gemini import GeminiProvider
from bot.providers.openai_compatible import OpenAICompatibleProvider
from bot.providers.openai_responses import OpenAIResponsesProvider
from bot.settings import KEY_VARIABLE, Settings


class Providers:
    """The providers by the name used in `provider:model-id`, and their HTTP clients.

    A client per provider, not one for all: httpcore looks through its whole connection pool
    on every request and every response, so with many answers streaming at once one shared
    pool (as many connections as streams) made that bookkeeping the bot's busiest code."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: list[httpx.AsyncClient] = []
        self.by_name = _providers(settings, self._new_client)

    def set_up(self) -> frozenset[str]:
        """The providers whose models can be asked (their key is set, or they need none)."""
        return frozenset(
            name for name, provider in self.by_name.items() if not isinstance(provider, WithoutKey)
        )

    def _new_client(self) -> httpx.AsyncClient:
        client = make_http_client(self._settings)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """A client for one provider. The read timeout bounds the wait for each next chunk, so a
    stream that hangs (before or after the first token) fails cleanly; the providers' own
    first-token deadline catches one that sends only keep-alives."""
    timeout = httpx.Timeout(
        connect=settings.chorus_provider_connect_timeout,
        read=settings.chorus_provider_read_timeout,
        write=30.0,
        pool=30.0,
    )
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    return httpx.AsyncClient(
        timeout=timeout, limits=limits, follow_redirects=False, verify=_tls_context()
    )


def _tls_context() -> ssl.SSLContext:
    """The TLS settings httpx makes for a client by default (certifi's CAs, or those
    SSL_CERT_FILE or SSL_CERT_DIR name), made once for all the providers' clients: reading
    the CAs takes 20-30 ms a client, a tenth of a second of each start."""
    return _tls_context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@cache
def _tls_context_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads the same variables


@dataclass(frozen=True, slots=True)
class WithoutKey:
    """A provider whose key is not set. Its models are only named by what was configured
    before (a reply thread, a stored round), so it may still be asked: it answers at once,
    and nothing is sent to it, certainly not a conversation without a key."""

    name: str
    key_variable: str

    async def stream(self, model_id: str, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        raise NotSetUp(
            f"{self.name} is not set up on this bot ({self.key_variable} is not set); "
            "to go on, start your message with another model's +alias."
        )
        yield  # an async generator, as every provider's stream is


_NAMES = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Gemini",
    "openrouter": "OpenRouter",
}


def _providers(
    settings: Settings, new_client: Callable[[], httpx.AsyncClient]
) -> dict[str, ModelProvider]:
    """Each provider with its key, and a client of its own; one whose key is not set is a
    `WithoutKey`, and no client is opened for it."""
    keys = settings.provider_keys()
    return {
        provider: (
            make(new_client())
            if keys[provider] or provider not in KEY_VARIABLE
            else WithoutKey(_NAMES[provider], KEY_VARIABLE[provider])
        )
        for provider, make in _makers(settings, keys).items()
    }


def _makers(
    settings: Settings, keys: dict[str, str | None]
) -> dict[str, Callable[[httpx.AsyncClient], ModelProvider]]:
    """How to make each provider, given its HTTP client."""
    first_token_timeout = settings.chorus_provider_first_token_timeout
    return {
        "openai": partial(_openai, settings, key=keys["openai"]),
        "openrouter": lambda client: OpenAICompatibleProvider(
            client,
            settings.openrouter_base_url,
            keys["openrouter"],
            extra_headers={"X-Title": "chorus-slack"},
            name="OpenRouter",
            first_token_timeout=first_token_timeout,
            alternate_turns=True,
            max_thought_chars=settings.chorus_max_answer_chars,
        ),
        # Named after its address unless it is Ollama's: it may be LM Studio, vLLM…
        "ollama": lambda client: OpenAICompatibleProvider(
            client,
            settings.ollama_base_url,
            keys["ollama"],
            first_token_timeout=first_token_timeout,
            alternate_turns=True,
            max_thought_chars=settings.chorus_max_answer_chars,
        ),
        "anthropic": lambda client: AnthropicProvider(
            client,
            settings.anthropic_base_url,
            keys["anthropic"],
            max_tokens=settings.chorus_max_output_tokens,
            first_token_timeout=first_token_timeout,
        ),
        "google": lambda client: GeminiProvider(
            client,
            settings.gemini_base_url,
            keys["google"],
            first_token_timeout=first_token_timeout,
        ),
    }


def _openai(settings: Settings, client: httpx.AsyncClient, *, key: str | None) -> ModelProvider:
    """OpenAI through the API `OPENAI_API` names: Chat Completions or Responses."""
    timeout = settings.chorus_provider_first_token_timeout
    base_url = settings.openai_base_url
    if settings.openai_api == "responses":
        return OpenAIResponsesProvider(client, base_url, key, first_token_timeout=timeout)
    return OpenAICompatibleProvider(
        client,
        base_url,
        key,
        name="OpenAI",
        first_token_timeout=timeout,
        max_thought_chars=settings.chorus_max_answer_chars,
    )
