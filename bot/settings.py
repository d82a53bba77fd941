"""The whole configuration contract (SPEC §5) in one place, read from the environment and `.env`."""

from __future__ import annotations

import difflib
import os
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.chat.catalog import (
    DEFAULT_MODEL_PER_PROVIDER,
    CatalogError,
    ModelCatalog,
    ModelSpec,
    parse_model_list,
)
from bot.providers.anthropic import DEFAULT_MAX_TOKENS
from storage.database import DEFAULT_POOL_SIZE


class ConfigurationError(Exception):
    """Start-up configuration is missing or wrong; the message says what to set."""


class Settings(BaseSettings):
    """Environment variables (and `.env`) the bot reads. Field names map to upper-case variables."""

    # An empty variable (a `.env` template line, docker-compose passing an unset one through)
    # means unset: its default applies.
    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
        allow_inf_nan=False,  # `inf` seconds or days is no setting: it would mean "never"
    )

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=1, le=65535)
    database_url: str = "sqlite+aiosqlite:///./chorus.db"

    chorus_models: str = ""
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    # Which OpenAI API `openai:` models are asked through; some models exist only on Responses.
    openai_api: Literal["chat", "responses"] = "chat"
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    openrouter_api_key: SecretStr | None = None
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    ollama_base_url: str = "http://localhost:11434/v1"
    ollama_api_key: SecretStr | None = None  # for a server that asks for one (vLLM --api-key)

    chorus_system_prompt: str = ""  # sent after the bot's own base prompt
    log_level: str = "INFO"

    # Tuning beyond SPEC §5; the defaults suit a normal workspace.
    chorus_context_max_rounds: int = Field(default=50, ge=1)
    chorus_context_max_tokens: int = Field(default=100_000, ge=1_000)
    chorus_stream_update_seconds: float = Field(default=1.0, ge=0.0)
    chorus_slack_updates_per_minute: float = Field(default=50.0, gt=0)
    chorus_slack_update_burst: int = Field(default=20, ge=1)
    chorus_provider_connect_timeout: float = Field(default=10.0, gt=0)
    chorus_provider_read_timeout: float = Field(default=120.0, gt=0)
    # Reasoning models can think for minutes before their first answer token.
    chorus_provider_first_token_timeout: float = Field(default=300.0, gt=0)
    chorus_provider_max_attempts: int = Field(default=3, ge=1, le=10)
    chorus_provider_retry_base_delay: float = Field(default=0.5, ge=0)
    chorus_max_output_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    chorus_max_answer_chars: int = Field(default=100_000, ge=1_000)
    chorus_stale_answer_seconds: float = Field(default=60.0, ge=1.0)
    chorus_replica_id: str = ""
    # The most connections this replica opens to PostgreSQL (SQLite has one): replicas times
    # this must stay under the server's connection limit.
    chorus_database_pool_size: int = Field(default=DEFAULT_POOL_SIZE, ge=1)
    # At start-up: a database started beside the bot may take a while to answer.
    chorus_database_wait_seconds: float = Field(default=30.0, ge=0)
    # Unset: kept until deleted. Fractions of a day are allowed (tests use seconds).
    chorus_forget_after_days: float | None = Field(default=None, gt=0)
    # How long an HTTP connection may go without sending a request's headers (idle, or
    # sending them slowly). aiohttp's default outlasts the idle timeout of a proxy in front:
    # closing a connection the proxy is just sending a request on fails that request.
    chorus_http_keepalive_timeout: float = Field(default=3630.0, gt=0)
    # How long a stop (SIGTERM) lets the answers in flight finish; then 10 s to finalise the
    # rest and 3 s to close: inside the 30 s Kubernetes gives by default.
    chorus_shutdown_grace_seconds: float = Field(default=15.0, ge=0)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator(
        "slack_api_url",
        "host",
        "database_url",
        "openai_base_url",
        "anthropic_base_url",
        "gemini_base_url",
        "openrouter_base_url",
        "ollama_base_url",
        "chorus_replica_id",
        "log_level",
        "openai_api",
        mode="before",
    )
    @classmethod
    def _trimmed(cls, value: object) -> object:
        """Values read from a secret file end in a newline: an address with it would be
        another address (a SQLite file named `chorus.db\n`), or none at all, and a choice
        none of the choices."""
        return value.strip() if isinstance(value, str) else value

    @field_validator(
        "slack_api_url",
        "openai_base_url",
        "anthropic_base_url",
        "gemini_base_url",
        "openrouter_base_url",
        "ollama_base_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if any(character.isspace() or not character.isprintable() for character in value):
            raise ValueError("must be an http(s) URL, without spaces")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (reading it checks it)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _without_credentials(cls, value: str) -> str:
        # Slack's client sends the bot token in the Authorization header, which a user and
        # password in the URL would have to replace: every call would fail.
        parts = urlsplit(value)
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry a user name or password (the bot token is sent)")
        return value

    @field_validator(
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "openai_api_key",
        "anthropic_api_key",
        "gemini_api_key",
        "openrouter_api_key",
        "ollama_api_key",
        mode="before",
    )
    @classmethod
    def _without_surrounding_space(cls, value: object) -> object:
        """A key pasted with a space or newline around it would be refused by its provider;
        one that is only spaces counts as unset."""
        return value.strip() or None if isinstance(value, str) else value

    @field_validator(
        "slack_bot_token",
        "slack_app_token",
        "openai_api_key",
        "anthropic_api_key",
        "gemini_api_key",
        "openrouter_api_key",
        "ollama_api_key",
    )
    @classmethod
    def _fit_for_a_header(cls, value: SecretStr | None) -> SecretStr | None:
        """Keys and tokens travel in HTTP headers, which take ASCII only: any other character
        (a placeholder's `…` left in) would fail every request with a traceback instead."""
        text = value.get_secret_value() if value is not None else ""
        if not (text.isascii() and text.isprintable()):
            raise ValueError(
                "must be printable ASCII, as keys and tokens are (a placeholder such as xoxb-… "
                "or sk-… left in?)"
            )
        return value

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _the_right_kind_of_slack_token(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        token = value.get_secret_value() if value is not None else ""
        for field, wrong_prefixes, advice in _MISPLACED_SLACK_TOKENS:
            if field == info.field_name and token.startswith(wrong_prefixes):
                raise ValueError(advice)
        return value

    @model_validator(mode="after")
    def _slack_credentials(self) -> Settings:
        if self.slack_bot_token is None or not self.slack_bot_token.get_secret_value():
            raise ValueError("SLACK_BOT_TOKEN is required (the bot token, xoxb-…)")
        if not self.socket_mode and not _secret(self.slack_signing_secret):
            raise ValueError(
                "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (xapp-…, Socket Mode)"
            )
        return self

    @model_validator(mode="after")
    def _keys_not_replaced_by_url_credentials(self) -> Settings:
        # httpx sends a user and password in the URL as Basic authentication, in the header
        # that carries these providers' key: the key would never be sent.
        for provider, key, url in (
            ("OPENAI", self.openai_api_key, self.openai_base_url),
            ("OPENROUTER", self.openrouter_api_key, self.openrouter_base_url),
            ("OLLAMA", self.ollama_api_key, self.ollama_base_url),
        ):
            if _secret(key) and urlsplit(url).username is not None:
                raise ValueError(
                    f"{provider}_BASE_URL carries a user name, which would be sent instead of "
                    f"{provider}_API_KEY: take it out of the URL"
                )
        return self

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None and bool(self.slack_app_token.get_secret_value())

    @property
    def listen_address_set(self) -> bool:
        """Whether HOST or PORT was set, rather than left at its default."""
        return bool({"host", "port"} & self.model_fields_set)

    @property
    def replica_id(self) -> str:
        return self.chorus_replica_id or f"{socket.gethostname()}:{self.port}"

    def provider_keys(self) -> dict[str, str | None]:
        """The API key of each provider (None when unset; Ollama's is optional)."""
        return {
            "openai": _secret(self.openai_api_key),
            "anthropic": _secret(self.anthropic_api_key),
            "google": _secret(self.gemini_api_key),
            "openrouter": _secret(self.openrouter_api_key),
            "ollama": _secret(self.ollama_api_key),
        }

    def model_catalog(self) -> ModelCatalog:
        """The configured models, checked against the provider keys that are set."""
        keys = self.provider_keys()
        if self.chorus_models.strip():
            specs = parse_model_list(self.chorus_models)
        else:
            # In the defaults' own order: the first is In Chat by default.
            specs = [
                ModelSpec.parse(name)
                for provider, name in DEFAULT_MODEL_PER_PROVIDER.items()
                if keys[provider]
            ]
            if not specs:
                raise CatalogError(
                    "no models configured: set CHORUS_MODELS (e.g. "
                    "'anthropic:claude-sonnet-4-5,openai:gpt-5.1') or a provider key such as "
                    "ANTHROPIC_API_KEY" + _also(keys_set_under_other_names(keys))
                )
        for spec in specs:
            if spec.provider != "ollama" and not keys[spec.provider]:
                raise CatalogError(
                    f"model {spec.name} needs {KEY_VARIABLE[spec.provider]}"
                    + _also(keys_set_under_other_names(keys))
                )
        return ModelCatalog(specs)


# Tokens a Slack variable must not hold, as another kind of Slack token begins: (the
# variable's field, those prefixes, what to say when it does).
_MISPLACED_SLACK_TOKENS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "slack_bot_token",
        ("xapp-",),
        "holds an app-level token (xapp-…): it takes the bot token (xoxb-…, from OAuth & "
        "Permissions); an xapp- token goes in SLACK_APP_TOKEN",
    ),
    (
        "slack_bot_token",
        # `xoxe.xoxp-` is a user token of an app with token rotation on.
        ("xoxp-", "xoxe.xoxp-"),
        "holds a user token (xoxp-…), with which the bot would post as that person: it takes "
        "the bot token (xoxb-…, the Bot User OAuth Token of OAuth & Permissions)",
    ),
    (
        "slack_app_token",
        ("xox",),
        "holds a bot or user token (xox…): it takes an app-level token (xapp-…, from Basic "
        "Information → App-Level Tokens), or stays unset for HTTP mode",
    ),
)


KEY_VARIABLE = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
}


# Where other programs read a provider's key from (Google's own SDKs: GOOGLE_API_KEY), so a
# person may have set it there for the bot too.
_KEY_VARIABLE_ELSEWHERE = {"google": "GOOGLE_API_KEY"}


def keys_set_under_other_names(keys: dict[str, str | None], path: Path = Path(".env")) -> list[str]:
    """For each provider without its key whose key is set (in the environment or `path`) under
    another program's name: what to tell the person. Names only, never the value."""
    set_names = {name.upper() for name, value in os.environ.items() if value.strip()}
    if path.is_file():
        set_names |= {name.upper() for name, value in dotenv_values(path).items() if value}
    return [
        f"{other} is set, but the bot reads the key of {provider}: models from "
        f"{KEY_VARIABLE[provider]}"
        for provider, other in _KEY_VARIABLE_ELSEWHERE.items()
        if not keys[provider] and other in set_names
    ]


def _also(hints: list[str]) -> str:
    return "".join(f" ({hint})" for hint in hints)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() or None if value is not None else None


def load_settings() -> tuple[Settings, ModelCatalog]:
    """Read and check the configuration; raise `ConfigurationError` with one clear line."""
    try:
        settings = Settings()
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from None
    except UnicodeDecodeError:
        raise ConfigurationError(
            "Configuration error: .env is not UTF-8 text; save it as UTF-8"
        ) from None
    try:
        catalog = settings.model_catalog()
    except CatalogError as error:
        raise ConfigurationError(f"Configuration error: {error}") from None
    return settings, catalog


# What the bot's libraries read from the environment, never from `.env`: asyncpg's libpq
# variables, the proxies (httpx's and aiohttp's) and the CAs to trust (httpx's and OpenSSL's).
_ENVIRONMENT_ONLY = frozenset(
    {
        *("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGDATABASE"),
        *("PGSERVICE", "PGSERVICEFILE", "PGTARGETSESSIONATTRS", "PGKRBSRVNAME", "PGGSSLIB"),
        *("PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGSSLCRL", "PGSSLNEGOTIATION"),
        *("PGSSLMINPROTOCOLVERSION", "PGSSLMAXPROTOCOLVERSION"),
        *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"),
    }
)


def dotenv_lines_ignored(path: Path = Path(".env")) -> list[str]:
    """What in `path` the bot ignores and a person likely meant it to read: a variable read
    from the environment only, or a misspelt setting (a variable another program reads from
    the same file is left alone). Names only: the values may be secrets."""
    if not path.is_file():
        return []
    own = [name.upper() for name in Settings.model_fields]
    ignored = []
    for name in sorted(dotenv_values(path)):
        if name.upper() in own:
            continue
        if name.upper() in _ENVIRONMENT_ONLY:
            ignored.append(f"{name} (read from the environment only: set it there)")
        elif meant := difflib.get_close_matches(name.upper(), own, n=1, cutoff=0.8):
            ignored.append(f"{name} (no setting of the bot's: {meant[0]}?)")
    return ignored


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each variable to fix; never echoes the offending value (it may be secret)."""
    problems = []
    for item in error.errors():
        variable = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{variable}: {message}" if variable else message)
    return "Configuration error: " + "; ".join(problems)
