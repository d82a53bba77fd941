"""Bad configuration stops start-up with one clear line naming what to set, and no secret."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy.engine import make_url

from bot.__main__ import database_shown
from tests.doubles.app_manifest import manifest_bot_scopes
from tests.doubles.slack_emulator import SlackEmulator
from tests.doubles.starting_postgres import StartingPostgres
from tests.doubles.waiting import wait_until
from tests.e2e.slack_views import body, wait_for_answers

ROOT = Path(__file__).resolve().parents[2]
SECRET = "xoxb-very-secret-token-1234"
# The start of each line the bot logs: its time, level and logger.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


def run_until_exit(
    env: dict[str, str], tmp_path: Path, *arguments: str
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
    # Nothing of the machine's own home is read (asyncpg's ~/.postgresql certificates).
    base["HOME"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "bot", *arguments],
        cwd=tmp_path,  # no .env here
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def slack_taking_secret() -> Iterator[SlackEmulator]:
    """A Slack that takes SECRET for the bot's token: start-up checks the token before it opens
    the database, and gets past it to what is wrong there."""
    emulator = SlackEmulator(bot_token=SECRET).start()
    yield emulator
    emulator.stop()


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
                # The README's placeholder left in: no HTTP header can carry it.
                "ANTHROPIC_API_KEY": "sk-ant-s3cr3t-signing…",
            },
            "ANTHROPIC_API_KEY: must be printable ASCII",
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
            {"SLACK_BOT_TOKEN": SECRET, "SLACK_APP_TOKEN": "xapp-1", "CHORUS_MODELS": " , "},
            "CHORUS_MODELS names no model",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_APP_TOKEN": "xapp-1",
                "OPENAI_API_KEY": "sk-test",
                "CHORUS_MODELS": "openai:gpt-5.1 anthropic:claude-sonnet-4-5",
            },
            "CHORUS_MODELS separates models with commas",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_APP_TOKEN": "xapp-1",
                "OPENAI_API_KEY": "sk-test",
                "CHORUS_MODELS": "openai:gpt-5.1;openai:gpt-5-mini",
            },
            "CHORUS_MODELS separates models with commas",
        ),
        (
            {"SLACK_BOT_TOKEN": SECRET, "SLACK_APP_TOKEN": "xapp-1", "PORT": "not-a-port"},
            "PORT",
        ),
        (
            # Port 0 would listen on a port nobody knows, that no request URL can name.
            {"SLACK_BOT_TOKEN": SECRET, "SLACK_APP_TOKEN": "xapp-1", "PORT": "0"},
            "PORT: Input should be greater than or equal to 1",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_APP_TOKEN": "xapp-1",
                "OPENAI_API_KEY": "sk-test",
                "CHORUS_DATABASE_POOL_SIZE": "0",
            },
            "CHORUS_DATABASE_POOL_SIZE: Input should be greater than or equal to 1",
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
                "OPENAI_API": "assistants",
            },
            "OPENAI_API: Input should be 'chat' or 'responses'",
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
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "OPENAI_API_KEY": "sk-test",
                "DATABASE_URL": "postgresql://chorus:s3cr3t-signing@db:notaport/chorus",
            },
            "DATABASE_URL",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "OPENAI_API_KEY": "sk-test",
                "DATABASE_URL": "postgresql://chorus:s3cr3t-signing@db/chorus?sslfoo=1",
            },
            "DATABASE_URL option 'sslfoo' is not one PostgreSQL's driver (asyncpg) takes",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "OPENAI_API_KEY": "sk-test",
                # libpq's value is `require`; asyncpg refuses the URL before connecting.
                "DATABASE_URL": "postgres://chorus:s3cr3t-signing@127.0.0.1:9/chorus?sslmode=required",
            },
            "`sslmode` parameter must be one of: disable, allow, prefer, require, verify-ca",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "OPENAI_API_KEY": "sk-test",
                # Neither PGSSLROOTCERT nor ~/.postgresql/root.crt (HOME is the empty tmp_path).
                "DATABASE_URL": "postgres://chorus:s3cr3t-signing@127.0.0.1:9/chorus?sslmode=verify-full",
            },
            "root certificate file",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "OPENAI_API_KEY": "sk-test",
                # A file that is missing is no database still starting up: not waited for.
                "PGSSLROOTCERT": "/nonexistent/root.crt",
                "DATABASE_URL": "postgres://chorus:s3cr3t-signing@127.0.0.1:9/chorus?sslmode=verify-full",
            },
            "(FileNotFoundError: a certificate or key file could not be used (No such file or "
            "directory): check PGSSLROOTCERT, PGSSLCERT, PGSSLKEY and PGSSLCRL)",
        ),
        (
            {
                "SLACK_BOT_TOKEN": SECRET,
                "SLACK_SIGNING_SECRET": "s3cr3t-signing",
                "OPENAI_API_KEY": "sk-test",
                "SLACK_API_URL": "http://[bad/api/",
            },
            "SLACK_API_URL",
        ),
    ],
)
def test_bad_configuration_stops_start_up_with_one_clear_line(
    env, names, slack_taking_secret, tmp_path
):
    result = run_until_exit({"SLACK_API_URL": slack_taking_secret.api_url} | env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error")
    assert names in lines[0]
    assert SECRET not in result.stderr + result.stdout
    assert "s3cr3t-signing" not in result.stderr + result.stdout


def test_a_dot_env_not_in_utf8_stops_start_up_with_one_clear_line(tmp_path):
    (tmp_path / ".env").write_bytes(
        f"SLACK_BOT_TOKEN={SECRET}\nSLACK_APP_TOKEN=xapp-1\n".encode()
        + "CHORUS_SYSTEM_PROMPT=Réponds en français.\n".encode("latin-1")
    )
    result = run_until_exit({}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "Configuration error: .env is not UTF-8 text; save it as UTF-8"


def test_a_dot_env_line_the_bot_ignores_is_named_at_start_up_without_its_value(tmp_path):
    """PGSSLMODE in .env would otherwise pass for the verified connection it does not ask for."""
    (tmp_path / ".env").write_text(
        "PGSSLMODE=verify-full\nSLACK_BOT_TOKN=xoxb-misspelt-secret\n", encoding="utf-8"
    )
    env = {
        "SLACK_BOT_TOKEN": SECRET,
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # start-up ends there, after the warning
        "OPENAI_API_KEY": "sk-secret-openai",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
    }
    result = run_until_exit(env, tmp_path)
    (warning,) = [line for line in result.stderr.splitlines() if ".env" in line]
    assert LOG_LINE.match(warning) and " WARNING " in warning
    assert warning.endswith(
        ".env lines the bot ignores: PGSSLMODE (read from the environment only: set it there); "
        "SLACK_BOT_TOKN (no setting of the bot's: SLACK_BOT_TOKEN?)"
    )
    assert "verify-full" not in result.stderr and "misspelt-secret" not in result.stderr
    assert last_line_of_failed_start(result).startswith("Configuration error: cannot reach Slack")


GOOGLE_KEY = "AIza-secret-google-key"
ELSEWHERE = "GOOGLE_API_KEY is set, but the bot reads the key of google: models from GEMINI_API_KEY"


def test_a_gemini_key_set_under_googles_name_is_pointed_out_at_start_up(tmp_path):
    """Google's own SDKs read GOOGLE_API_KEY: without a word, Gemini would just be missing."""
    env = {
        "SLACK_BOT_TOKEN": SECRET,
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # start-up ends there, after the warning
        "OPENAI_API_KEY": "sk-secret-openai",
        "GOOGLE_API_KEY": GOOGLE_KEY,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
    }
    result = run_until_exit(env, tmp_path)
    (warning,) = [line for line in result.stderr.splitlines() if "GOOGLE_API_KEY" in line]
    assert LOG_LINE.match(warning) and " WARNING " in warning
    assert warning.endswith(f"{ELSEWHERE}: those models are not set up")
    assert GOOGLE_KEY not in result.stderr
    assert last_line_of_failed_start(result).startswith("Configuration error: cannot reach Slack")


def test_a_gemini_model_without_its_key_says_where_the_key_set_under_googles_name_goes(tmp_path):
    (tmp_path / ".env").write_text(f"GOOGLE_API_KEY={GOOGLE_KEY}\n", encoding="utf-8")
    env = {
        "SLACK_BOT_TOKEN": SECRET,
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "CHORUS_MODELS": "google:gemini-2.5-pro",
    }
    result = run_until_exit(env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"Configuration error: model google:gemini-2.5-pro needs GEMINI_API_KEY ({ELSEWHERE})"
    )


# Enough to start: were the arguments ignored, the bot would start (and fail to reach Slack).
STARTABLE = {
    "SLACK_BOT_TOKEN": SECRET,
    "SLACK_APP_TOKEN": "xapp-1",
    "OPENAI_API_KEY": "sk-test",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
}


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help_says_where_the_configuration_comes_from_and_starts_nothing(option, tmp_path):
    result = run_until_exit(STARTABLE, tmp_path, option)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: chorus-slack")
    assert "SLACK_BOT_TOKEN" in result.stdout and "README.md" in result.stdout
    assert not (tmp_path / "chorus.db").exists()


def test_an_argument_the_bot_does_not_take_stops_it_before_it_starts(tmp_path):
    result = run_until_exit(STARTABLE, tmp_path, "--port", "4000")
    assert result.returncode == 2
    assert "unrecognized arguments: --port 4000" in result.stderr
    assert not (tmp_path / "chorus.db").exists()


def last_line_of_failed_start(result: subprocess.CompletedProcess[str]) -> str:
    """The line start-up ended with (after the log lines of what it did before)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_a_token_slack_rejects_stops_start_up_clearly(slack, tmp_path):
    env = {
        "SLACK_BOT_TOKEN": SECRET,  # not the emulator's token
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "SLACK_API_URL": slack.api_url,
        "OPENAI_API_KEY": "sk-secret-openai",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
    }
    line = last_line_of_failed_start(run_until_exit(env, tmp_path))
    assert line == (
        "Configuration error: Slack rejected SLACK_BOT_TOKEN (invalid_auth); "
        "check the token and SLACK_API_URL"
    )
    assert not (tmp_path / "chorus.db").exists(), "a first try with a wrong token leaves no file"


def test_a_slack_api_url_that_is_not_the_web_apis_stops_start_up_clearly(slack, tmp_path):
    env = {
        "SLACK_BOT_TOKEN": SECRET,
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "SLACK_API_URL": slack.api_url.removesuffix("/").removesuffix("/api"),  # a 404 page
        "OPENAI_API_KEY": "sk-secret-openai",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
    }
    line = last_line_of_failed_start(run_until_exit(env, tmp_path))
    assert line == (
        "Configuration error: SLACK_API_URL answered HTTP 404, not as Slack's Web API does; "
        "check SLACK_API_URL (https://slack.com/api/)"
    )


def test_an_unreachable_slack_stops_start_up_clearly(tmp_path):
    env = {
        "SLACK_BOT_TOKEN": SECRET,
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # nothing listens on the discard port
        "OPENAI_API_KEY": "sk-secret-openai",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
    }
    result = run_until_exit(env, tmp_path)
    line = last_line_of_failed_start(result)
    assert line == (
        "Configuration error: cannot reach Slack's Web API at http://127.0.0.1:9/api/ "
        "(ClientConnectorError); check SLACK_API_URL and the network"
    )
    assert SECRET not in result.stderr and "sk-secret-openai" not in result.stderr


def test_a_slack_certificate_not_trusted_stops_start_up_saying_to_set_ssl_cert_file(
    slack, re_signed, tmp_path
):
    """What a proxy that re-signs TLS looks like to a bot not told to trust its CA."""
    api_url = re_signed(slack.api_url)
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "SLACK_API_URL": api_url,
        "OPENAI_API_KEY": "sk-secret-openai",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
    }
    line = last_line_of_failed_start(run_until_exit(env, tmp_path))
    assert line == (
        f"Configuration error: Slack's Web API at {api_url} presented a certificate this "
        "machine does not trust (unable to get local issuer certificate); behind a proxy that "
        "re-signs TLS, set SSL_CERT_FILE in the environment to a file of the CAs to trust"
    )
    assert not slack.calls, "the request never got past the TLS handshake"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_during_start_up_stops_the_bot_in_one_line(how, slack, tmp_path):
    slack.delay("auth.test", 10)
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "SLACK_API_URL": slack.api_url,
        "OPENAI_API_KEY": "sk-secret-openai",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/chorus.db",
    }
    base = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=base | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # While Slack has yet to answer (calls_for would wait for the answer, 10 s on).
    wait_until(lambda: slack.calls_begun("auth.test"), message="start-up asks Slack who it is")
    bot.send_signal(how)
    said, _ = bot.communicate(timeout=30)

    assert bot.returncode == 1, said
    assert said.strip().splitlines()[-1] == f"stopped during start-up ({how.name})"
    assert not slack.calls_for("auth.test"), "stopped while Slack had yet to answer"
    assert "Traceback" not in said and "ERROR" not in said


def test_a_database_that_stays_down_stops_start_up_clearly_after_the_wait(slack, tmp_path):
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": "s3cr3t-signing",
        "SLACK_API_URL": slack.api_url,
        "OPENAI_API_KEY": "sk-secret-openai",
        "DATABASE_URL": "postgresql://chorus:pg-s3cr3t@127.0.0.1:9/chorus",  # nothing listens
        "CHORUS_DATABASE_WAIT_SECONDS": "1",
    }
    result = run_until_exit(env, tmp_path)
    line = last_line_of_failed_start(result)
    assert line == (
        "Configuration error: cannot reach the database at DATABASE_URL "
        "(ConnectionRefusedError; waited 1 s)"
    )
    waiting = [said for said in result.stderr.splitlines() if "not answering yet" in said]
    assert len(waiting) == 1, result.stderr
    assert waiting[0].endswith(
        "WARNING bot.app: the database at DATABASE_URL is not answering yet "
        "(ConnectionRefusedError); trying again for 1 s"
    )
    assert "pg-s3cr3t" not in result.stderr


@pytest.fixture
def starting_postgres(database_url: str) -> Iterator[StartingPostgres]:
    """A PostgreSQL in front of the test's database that says it is starting up until it has
    refused the bot twice."""
    url = make_url(database_url)
    server = StartingPostgres(url.host or "127.0.0.1", url.port or 5432).start()

    def come_up_once_refused_twice() -> None:
        wait_until(lambda: server.refused >= 2, message="the bot tries the database again")
        server.come_up()

    threading.Thread(target=come_up_once_refused_twice, daemon=True).start()
    yield server
    server.stop()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_bot_started_beside_a_postgres_still_starting_up_answers_once_it_is_up(
    starting_postgres, start_bot, slack, events, database_url
):
    through = make_url(database_url).set(host="127.0.0.1", port=starting_postgres.port)
    bot = start_bot(DATABASE_URL=through.render_as_string(hide_password=False))

    events.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> up?", to=[bot.events_url])
    answers = wait_for_answers(slack, "C0GENERAL", 3)
    assert body(answers[0]) == "claude-test answers: Alice: up?"
    assert (
        "the database at DATABASE_URL is not answering yet "
        "(CannotConnectNowError: the database system is starting up); trying again for "
    ) in bot.logs()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_bot_on_a_postgres_speaking_ssl_checks_its_certificate_and_answers(
    tls_postgres, postgres_ca_file, start_bot, slack, events, database_url
):
    bot = start_bot(
        DATABASE_URL=tls_postgres.verified_url(database_url), PGSSLROOTCERT=str(postgres_ca_file)
    )
    events.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> encrypted?", to=[bot.events_url])
    answers = wait_for_answers(slack, "C0GENERAL", 3)
    assert body(answers[0]) == "claude-test answers: Alice: encrypted?"
    assert tls_postgres.encrypted >= 1 and tls_postgres.rejected == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("refusal", ["certificate from another CA", "no SSL offered"])
def test_a_database_refusing_the_ssl_asked_for_stops_start_up_at_once(
    refusal, tls_postgres, bot_env, database_url, tmp_path
):
    """Not waited for as a database not up yet: a certificate or a server's configuration
    is not going to change while the bot waits."""
    if refusal == "no SSL offered":
        url = make_url(database_url).set(query={"sslmode": "require"})
        database = url.render_as_string(hide_password=False)
        said = (
            "ConnectionError: the server does not offer SSL, "
            "which sslmode asks for (in DATABASE_URL or PGSSLMODE)"
        )
    else:
        database = tls_postgres.verified_url(database_url)
        said = (
            "SSLCertVerificationError: the server's certificate was not accepted "
            "(unable to get local issuer certificate): "
            "check PGSSLROOTCERT and the host name in DATABASE_URL"
        )
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    env = bot_env | {
        "DATABASE_URL": database,
        "PGSSLROOTCERT": str(other_ca),
        "CHORUS_DATABASE_WAIT_SECONDS": "600",
    }
    result = run_until_exit(env, tmp_path)
    assert last_line_of_failed_start(result) == (
        f"Configuration error: cannot use the database at DATABASE_URL ({said})"
    )
    assert "not answering yet" not in result.stderr


def test_a_database_url_without_async_driver_gets_one(start_bot, slack, events, database_url):
    """`sqlite:///…` and `postgres://…?sslmode=…`, as hosting platforms hand them out, just
    work."""
    driver, rest = database_url.split("://", 1)
    if driver.startswith("postgresql"):
        plain_url = f"postgres://{rest}?sslmode=disable"  # libpq's name for asyncpg's `ssl`
    else:
        plain_url = f"sqlite://{rest}"
    bot = start_bot(DATABASE_URL=plain_url)
    events.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> stored?", to=[bot.events_url])
    answers = wait_for_answers(slack, "C0GENERAL", 3)
    assert body(answers[0]) == "claude-test answers: Alice: stored?"


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
        result = run_until_exit(env, tmp_path)
    last_line = last_line_of_failed_start(result)
    assert last_line.startswith(f"Configuration error: cannot listen on 127.0.0.1:{port} ")
    assert last_line.endswith("set HOST and PORT to a free address")


def test_start_up_says_which_replica_this_is_and_where_its_database_is(start_bot, database_url):
    """What an admin checks first when replicas misbehave: their ids (two sharing one would
    take each other's work for their own) and the database each uses, never its password."""
    bot = start_bot(CHORUS_REPLICA_ID="web-1", LOG_LEVEL="INFO")

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        where = f"SQLite file {Path(url.database or '').resolve()}"
    else:
        where = f"PostgreSQL at {url.host}:{url.port or 5432}/{url.database}"
    assert f"INFO bot: replica web-1, database: {where}\n" in bot.logs()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://chorus:s3cr3t@db.internal/chorus", "PostgreSQL at db.internal:5432/chorus"),
        ("postgresql://chorus:s3cr3t@/chorus", "PostgreSQL at its local socket/chorus"),
        (
            "postgresql://chorus:s3cr3t@/chorus?host=/cloudsql/project:europe-west1:db",
            "PostgreSQL at /cloudsql/project:europe-west1:db/chorus",
        ),
        (
            "postgresql://chorus:s3cr3t@/chorus?host=db1,db2&port=5432,5433&password=s3cr3t",
            "PostgreSQL at db1,db2/chorus",
        ),
    ],
)
def test_the_database_is_shown_where_the_url_puts_it_without_its_password(url, shown):
    assert database_shown(url) == shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_start_up_logs_the_migrations_it_runs_and_not_alembics_chatter(start_bot):
    first = start_bot(LOG_LEVEL="INFO")
    first.stop()
    again = start_bot(LOG_LEVEL="INFO")

    assert "-> 0001, initial schema" in first.logs()
    assert "Running upgrade" not in again.logs()
    for chatter in ("Context impl", "Will assume"):
        assert chatter not in first.logs() + again.logs()
    # One line per migration, as log collectors take each line for a record of its own: a
    # migration whose description runs over two lines is still logged on one.
    for line in first.logs().splitlines():
        assert LOG_LINE.match(line), f"a line that is no log record: {line!r}"


LACKS_SCOPES = "the bot token lacks the Slack scopes"


def test_a_token_granted_fewer_scopes_than_the_manifest_asks_is_named_once_and_still_answers(
    start_bot, slack, events
):
    """An app installed from an older manifest: what its token lacks is said at start-up,
    not first found out when a pin or an attached file fails."""
    slack.grant_scopes(
        [scope for scope in manifest_bot_scopes() if scope not in {"reactions:read", "files:read"}]
    )
    bot = start_bot()

    events.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> still there?", to=[bot.events_url])
    answers = wait_for_answers(slack, "C0GENERAL", 3)
    assert body(answers[0]) == "claude-test answers: Alice: still there?"
    warned = [line for line in bot.logs().splitlines() if LACKS_SCOPES in line]
    assert len(warned) == 1, bot.logs()
    assert warned[0].endswith(
        f"WARNING bot.app: {LACKS_SCOPES} reactions:read, files:read: add them to the app "
        "from manifest.yml and reinstall it (what needs them fails until then)"
    )


@pytest.mark.parametrize(
    "granted", [manifest_bot_scopes(), None], ids=["all-granted", "header-left-out"]
)
def test_a_token_with_every_scope_or_none_listed_starts_without_a_scope_warning(
    granted, start_bot, slack, events
):
    slack.grant_scopes(granted)
    bot = start_bot()

    events.user_says("C0GENERAL", "U0ALICE", "<@U0BOT> hi", to=[bot.events_url])
    wait_for_answers(slack, "C0GENERAL", 3)
    assert LACKS_SCOPES not in bot.logs()
