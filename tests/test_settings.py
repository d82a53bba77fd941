"""The configuration contract (SPEC §5) as the bot reads it."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.chat.catalog import CatalogError
from bot.settings import (
    Settings,
    describe_validation_error,
    dotenv_lines_ignored,
    keys_set_under_other_names,
)


def test_keys_are_read_without_surrounding_space_and_a_blank_one_is_unset():
    settings = Settings(
        slack_bot_token=" xoxb-1\n",
        slack_signing_secret="s",
        openai_api_key="  ",
        anthropic_api_key="sk-ant-1\n",
    )
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1"
    assert settings.provider_keys()["openai"] is None
    assert settings.provider_keys()["anthropic"] == "sk-ant-1"


@pytest.mark.parametrize(
    ("variable", "field", "default"),
    [
        ("LOG_LEVEL", "log_level", "INFO"),
        ("PORT", "port", 3000),
        ("DATABASE_URL", "database_url", "sqlite+aiosqlite:///./chorus.db"),
        ("OPENAI_BASE_URL", "openai_base_url", "https://api.openai.com/v1"),
        ("CHORUS_FORGET_AFTER_DAYS", "chorus_forget_after_days", None),
    ],
)
def test_a_variable_set_empty_takes_its_default(monkeypatch, variable, field, default):
    # As a `.env` template line `LOG_LEVEL=`, or docker-compose passing an unset one, gives it.
    monkeypatch.setenv(variable, "")
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s")
    assert getattr(settings, field) == default


def test_addresses_read_from_a_secret_file_lose_their_trailing_newline(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///./chorus.db\n")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", " https://proxy.example/anthropic\n")
    monkeypatch.setenv("HOST", "127.0.0.1\n")
    monkeypatch.setenv("LOG_LEVEL", "warning\n")
    monkeypatch.setenv("OPENAI_API", "responses\n")
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s")
    assert settings.database_url == "sqlite+aiosqlite:///./chorus.db"
    assert settings.anthropic_base_url == "https://proxy.example/anthropic"
    assert settings.host == "127.0.0.1"
    assert (settings.log_level, settings.openai_api) == ("WARNING", "responses")


def test_a_base_url_with_a_space_inside_is_refused():
    with pytest.raises(ValueError, match="without spaces"):
        Settings(
            _env_file=None,
            slack_bot_token="xoxb-1",
            slack_signing_secret="s",
            openai_base_url="https://api.openai.com/ v1",
        )


def test_a_slack_api_url_carrying_a_password_is_refused_without_showing_it():
    with pytest.raises(ValidationError) as refused:
        Settings(
            _env_file=None,
            slack_bot_token="xoxb-1",
            slack_signing_secret="s",
            slack_api_url="https://chorus:hunter2@gateway.example/api/",
        )
    described = describe_validation_error(refused.value)
    assert "SLACK_API_URL" in described and "user name or password" in described
    assert "hunter2" not in described


@pytest.mark.parametrize("provider", ["openai", "openrouter", "ollama"])
def test_a_base_url_whose_user_would_replace_the_providers_key_is_refused(provider):
    with pytest.raises(ValidationError) as refused:
        Settings(
            _env_file=None,
            slack_bot_token="xoxb-1",
            slack_signing_secret="s",
            **{
                f"{provider}_api_key": "sk-1",
                f"{provider}_base_url": "https://me:hunter2@proxy.example/v1",
            },
        )
    described = describe_validation_error(refused.value)
    assert f"{provider.upper()}_BASE_URL carries a user name" in described
    assert "hunter2" not in described and "sk-1" not in described


def test_a_base_url_with_a_user_is_kept_for_a_server_without_a_key():
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        ollama_base_url="https://me:pw@llm.example/v1",
    )
    assert settings.ollama_base_url == "https://me:pw@llm.example/v1"


def test_a_replica_opens_ten_database_connections_at_most_unless_told_otherwise(monkeypatch):
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s")
    assert settings.chorus_database_pool_size == 10
    monkeypatch.setenv("CHORUS_DATABASE_POOL_SIZE", "4")
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s")
    assert settings.chorus_database_pool_size == 4


@pytest.mark.parametrize("size", ["0", "-3", "ten"])
def test_a_pool_size_that_is_no_positive_whole_number_names_the_variable(monkeypatch, size):
    monkeypatch.setenv("CHORUS_DATABASE_POOL_SIZE", size)
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s")
    assert describe_validation_error(error.value).startswith(
        "Configuration error: CHORUS_DATABASE_POOL_SIZE: Input should be"
    )


@pytest.mark.parametrize(
    "variable",
    ["CHORUS_FORGET_AFTER_DAYS", "CHORUS_PROVIDER_READ_TIMEOUT", "CHORUS_STREAM_UPDATE_SECONDS"],
)
@pytest.mark.parametrize("value", ["inf", "Infinity", "nan"])
def test_a_number_that_is_not_finite_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s")
    assert describe_validation_error(error.value).startswith(f"Configuration error: {variable}: ")


def test_the_readme_documents_every_variable_the_bot_reads_with_its_default():
    """The README's configuration tables are what an admin sets the bot up from: a variable
    added, renamed or given another default without them fails here."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    documented: dict[str, str] = {}
    for row in readme.splitlines():
        if row.startswith("| `"):
            cells = [cell.strip() for cell in row.strip("|").split("|")]
            for variable in re.findall(r"`([A-Z_]+)`", cells[0]):
                documented[variable] = cells[-1]
    read = {name.upper(): field.default for name, field in Settings.model_fields.items()}
    assert set(documented) == set(read)
    for variable, default in read.items():
        if default is None or default == "":
            continue  # required, unset, or a default the README words (CHORUS_MODELS)
        shown = [f"`{default}`"] + ([f"`{default:g}`"] if isinstance(default, float) else [])
        assert any(way in documented[variable] for way in shown), variable


def test_without_chorus_models_the_defaults_come_in_the_readmes_order(monkeypatch):
    """The first listed model's answer is In Chat by default: with every key set, Claude's,
    as the README lists them."""
    monkeypatch.delenv("CHORUS_MODELS", raising=False)
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        openai_api_key="sk-1",
        anthropic_api_key="sk-ant-1",
        gemini_api_key="g-1",
        openrouter_api_key="sk-or-1",
    )
    assert [spec.name for spec in settings.model_catalog()] == [
        "anthropic:claude-sonnet-4-5",
        "openai:gpt-5.1",
        "google:gemini-2.5-pro",
        "openrouter:meta-llama/llama-4-maverick",
    ]


@pytest.mark.parametrize(
    "variable",
    [
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "OPENROUTER_API_KEY",
        "OLLAMA_API_KEY",
    ],
)
def test_a_key_no_http_header_can_carry_names_its_variable_and_not_its_value(monkeypatch, variable):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv(variable, "sk-secret-…")
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None)
    line = describe_validation_error(error.value)
    assert line.startswith(f"Configuration error: {variable}: must be printable ASCII")
    assert "sk-secret" not in line


@pytest.mark.parametrize(
    ("bot_token", "app_token", "variable", "advice"),
    [
        ("xapp-1-A1-secret", None, "SLACK_BOT_TOKEN", "it takes the bot token (xoxb-…"),
        ("xoxb-1", "xoxb-secret", "SLACK_APP_TOKEN", "it takes an app-level token (xapp-…"),
        ("xapp-1-A1-secret", "xoxb-secret", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN: holds a bot"),
        ("xoxp-1-secret", None, "SLACK_BOT_TOKEN", "would post as that person"),
        ("xoxe.xoxp-1-secret", None, "SLACK_BOT_TOKEN", "it takes the bot token (xoxb-…"),
    ],
)
def test_slack_tokens_swapped_or_misplaced_say_which_goes_where(
    monkeypatch, bot_token, app_token, variable, advice
):
    monkeypatch.setenv("SLACK_BOT_TOKEN", bot_token)
    if app_token:
        monkeypatch.setenv("SLACK_APP_TOKEN", app_token)
    with pytest.raises(ValidationError) as error:
        Settings(_env_file=None, slack_signing_secret="s")
    line = describe_validation_error(error.value)
    assert line.startswith(f"Configuration error: {variable}: holds ")
    assert advice in line
    assert "secret" not in line.replace("SLACK_SIGNING_SECRET", "")


def test_a_dot_env_line_meant_for_the_environment_or_misspelt_is_named_without_its_value(
    tmp_path,
):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "SLACK_BOT_TOKEN=xoxb-1\n"
        "log_level=debug\n"  # the bot's own, in any case
        "PGSSLMODE=verify-full\n"
        "export https_proxy=http://proxy.internal:3128\n"
        "SSL_CERT_FILE=/etc/ssl/certs/corporate-ca.pem\n"
        "ANTHROPC_API_KEY=sk-ant-secret\n"
        "POSTGRES_PASSWORD=for-the-database-container\n",  # another program's: left alone
        encoding="utf-8",
    )
    assert dotenv_lines_ignored(dotenv) == [
        "ANTHROPC_API_KEY (no setting of the bot's: ANTHROPIC_API_KEY?)",
        "PGSSLMODE (read from the environment only: set it there)",
        "SSL_CERT_FILE (read from the environment only: set it there)",
        "https_proxy (read from the environment only: set it there)",
    ]


def test_no_dot_env_or_one_of_the_bots_own_settings_only_is_nothing_to_say(tmp_path):
    assert dotenv_lines_ignored(tmp_path / ".env") == []
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-1\nDATABASE_URL=\n", encoding="utf-8")
    assert dotenv_lines_ignored(tmp_path / ".env") == []


def test_a_gemini_key_under_googles_name_is_pointed_out_only_while_gemini_has_none(
    monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-1")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("CHORUS_MODELS", raising=False)
    keys = {"google": None}
    with pytest.raises(CatalogError) as refused:
        Settings(_env_file=None, slack_bot_token="xoxb-1", slack_signing_secret="s").model_catalog()
    hint = "GOOGLE_API_KEY is set, but the bot reads the key of google: models from GEMINI_API_KEY"
    assert str(refused.value).endswith(f"ANTHROPIC_API_KEY ({hint})")
    assert "AIza-1" not in str(refused.value)
    assert keys_set_under_other_names(keys) == [hint]
    assert keys_set_under_other_names({"google": "AIza-2"}) == []
    monkeypatch.setenv("GOOGLE_API_KEY", " ")
    assert keys_set_under_other_names(keys) == []
    monkeypatch.delenv("GOOGLE_API_KEY")
    (tmp_path / ".env").write_text("google_api_key=AIza-1\n", encoding="utf-8")
    assert keys_set_under_other_names(keys) == [hint]
