"""Bad configuration stops start-up with one clear line naming what to set, and no secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "xoxb-very-secret-token-1234"


def start_bot(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env here
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": SECRET}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_BOT_TOKEN": SECRET, "SLACK_APP_TOKEN": ""}, "SLACK_SIGNING_SECRET"),
        (
            {"SLACK_BOT_TOKEN": SECRET, "SLACK_SIGNING_SECRET": "s3cr3t-signing"},
            "CHORUS_MODELS",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "CHORUS_MODELS": "anthropic:claude-sonnet-4-5",
            },
            "ANTHROPIC_API_KEY",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "CHORUS_MODELS": "mistral:large",
            },
            "unknown provider 'mistral'",
        ),
        (
            {"SLACK_BOT_TOKEN": SECRET, "SLACK_APP_TOKEN": "xapp-1", "PORT": "not-a-port"},
            "PORT",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "OPENAI_API_KEY": "sk-test",
                "OLLAMA_BASE_URL": "localhost:11434",
            },
            "OLLAMA_BASE_URL",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "OPENAI_API_KEY": "sk-test",
                # A driver that is not installed; the password must not be printed.
                "DATABASE_URL": "mysql://chorus:s3cr3t-signing@127.0.0.1/chorus",
            },
            "DATABASE_URL",
        ),
    ],
)
def test_bad_configuration_stops_start_up_with_one_clear_line(env, names, tmp_path):
    result = start_bot(env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error")
    assert names in lines[0]
    assert SECRET not in result.stderr + result.stdout
    assert "s3cr3t-signing" not in result.stderr + result.stdout


def test_a_token_slack_rejects_stops_start_up_clearly(tmp_path):
    result = start_bot(
        {
            "SLACK_BOT_TOKEN": SECRET,
            "SLACK_SIGNING_SECRET": "s3cr3t-signing",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",  # nothing listens on the discard port
            "OPENAI_API_KEY": "sk-secret-openai",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
        },
        tmp_path,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr and "sk-secret-openai" not in result.stderr
    assert "SLACK_API_URL" in result.stderr or "SLACK_BOT_TOKEN" in result.stderr


def test_a_database_url_without_async_driver_gets_one(start_bot, database_url):
    """`sqlite:///…` and `postgres://…`, as hosting platforms hand them out, just work."""
    driver, rest = database_url.split("://", 1)
    plain_url = ("postgres" if driver.startswith("postgresql") else "sqlite") + "://" + rest
    bot = start_bot(DATABASE_URL=plain_url)
    assert bot.is_running
    assert "DATABASE_URL" not in bot.logs()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_port_in_use_stops_start_up_with_one_clear_line(bot_env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = bot_env | {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
        }
        result = start_bot(env, tmp_path)
    assert result.returncode == 2
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("Configuration error: cannot listen on 127.0.0.1:")
    assert "PORT" in last_line
    assert "Traceback" not in result.stderr
