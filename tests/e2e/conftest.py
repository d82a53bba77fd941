"""The real bot process, in HTTP or Socket Mode, against the Slack emulator and the fake model
servers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from sqlalchemy.engine import make_url

from tests.doubles.bot_process import BotProcess
from tests.doubles.model_servers import FakeModelServer
from tests.doubles.slack_emulator import SlackEmulator
from tests.doubles.slack_events import SlackEventSender
from tests.doubles.tcp_proxy import TcpProxy, tls_server_context

MODELS = "anthropic:claude-test,openai:gpt-test,google:gemini-test"
SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    server = FakeModelServer().start()
    yield server
    server.stop()


@pytest.fixture
def events(slack: SlackEmulator) -> SlackEventSender:
    return SlackEventSender(slack, signing_secret=SIGNING_SECRET)


@pytest.fixture
def bot_env(slack: SlackEmulator, models: FakeModelServer, database_url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": database_url,
        "CHORUS_MODELS": MODELS,
        "CHORUS_STREAM_UPDATE_SECONDS": "0.1",
        "CHORUS_PROVIDER_RETRY_BASE_DELAY": "0.05",
        "CHORUS_PROVIDER_READ_TIMEOUT": "3",
        "LOG_LEVEL": "DEBUG",
        **models.env(),
    }


StartBot = Callable[..., BotProcess]
ReSigned = Callable[..., str]


@pytest.fixture
def proxy_ca() -> trustme.CA:
    """The CA of a proxy that re-signs TLS, as networks that inspect outbound traffic have."""
    return trustme.CA()


@pytest.fixture
def proxy_ca_file(proxy_ca: trustme.CA, tmp_path: Path) -> Path:
    """`proxy_ca`'s certificate, in a file as SSL_CERT_FILE names one."""
    path = tmp_path / "proxy-ca.pem"
    proxy_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def re_signed(proxy_ca: trustme.CA) -> Iterator[ReSigned]:
    """`re_signed(url)`: a test double's `http://` URL as an `https://` one, by way of a TLS
    front whose certificate is from `proxy_ca` (or from the `ca=` given)."""
    fronts: list[TcpProxy] = []

    def front(url: str, *, ca: trustme.CA = proxy_ca) -> str:
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname and parts.port
        proxy = TcpProxy(parts.hostname, parts.port, tls=tls_server_context(ca)).start()
        fronts.append(proxy)
        return parts._replace(scheme="https", netloc=f"127.0.0.1:{proxy.port}").geturl()

    yield front
    for proxy in fronts:
        proxy.stop()


def providers_by_way_of(re_signed: ReSigned, models: FakeModelServer) -> dict[str, str]:
    """Every provider's base URL, by way of a TLS front from `re_signed`."""
    return {name: re_signed(url) for name, url in models.env().items() if name.endswith("_URL")}


@pytest.fixture
def database_proxy(database_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy to the PostgreSQL of `database_url`, to cut as a network partition would."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxied_database_url(database_url: str, database_proxy: TcpProxy) -> str:
    """`database_url` by way of `database_proxy`, for the bot's `DATABASE_URL`."""
    proxied = make_url(database_url).set(host="127.0.0.1", port=database_proxy.port)
    return proxied.render_as_string(hide_password=False)


@pytest.fixture
def start_bot(bot_env: dict[str, str], tmp_path: Path) -> Iterator[StartBot]:
    """Start a bot process (extra variables override the defaults, None unsets one); all are
    stopped after."""
    started: list[BotProcess] = []

    def start(**overrides: str | None) -> BotProcess:
        log_path = tmp_path / f"bot-{len(started)}.log"
        env = {name: value for name, value in (bot_env | overrides).items() if value is not None}
        bot = BotProcess(env, log_path=log_path)
        started.append(bot)
        bot.start()
        return bot

    yield start
    for bot in started:
        if bot.is_running:
            bot.stop()


@pytest.fixture
def bot(start_bot: StartBot) -> BotProcess:
    return start_bot()


@pytest.fixture
def start_socket_bot(start_bot: StartBot, slack: SlackEmulator) -> StartBot:
    """Start a bot in Socket Mode (an app-level token, no signing secret) and wait until it
    holds a connection to the emulator."""

    def start(**overrides: str | None) -> BotProcess:
        started_at = time.monotonic()
        socket_mode = {"SLACK_APP_TOKEN": slack.app_token, "SLACK_SIGNING_SECRET": None}
        bot = start_bot(**socket_mode | overrides)
        slack.socket_mode.wait_for_connection(since=started_at)
        return bot

    return start


@pytest.fixture
def socket_bot(start_socket_bot: StartBot) -> BotProcess:
    return start_socket_bot()
