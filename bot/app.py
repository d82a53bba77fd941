"""Wiring: settings → storage → Slack client → providers → conversations → Bolt app."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError, NoSuchModuleError

from bot.answering import AnswerRunner
from bot.background import BackgroundWork
from bot.channel_commands import ChorusCommands
from bot.chat.catalog import ModelCatalog
from bot.chat.context import BASE_SYSTEM_PROMPT, ContextWindow, compose_system_prompt
from bot.conversation import Conversations, ConversationSettings
from bot.fan_out import FanOut
from bot.in_chat_marks import InChatMarks
from bot.model_requests import ModelRequests
from bot.providers.registry import Providers
from bot.providers.retry import RetryPolicy
from bot.recovery import Recovery
from bot.regenerating import Regenerating
from bot.retention import kept_seconds
from bot.settings import ConfigurationError, Settings
from bot.slack.app_home import HomeSettings, HomeTab
from bot.slack.event_intake import EventIntake
from bot.slack.files import SlackFiles
from bot.slack.listeners import register_listeners
from bot.slack.notices import Notices
from bot.slack.pacing import UpdateBudget
from bot.slack.scopes import missing_scopes
from bot.slack.slack_errors import (
    answered_as_slack,
    http_status,
    slack_error_code,
    untrusted_certificate,
)
from bot.slack.socket_mode import keep_trying_to_connect
from bot.slack.web import SlackWeb
from bot.slack.web_client import make_web_client, open_web_session
from bot.stopping import AnswerStops
from storage.answers import AnswerStore
from storage.channels import ChannelStore
from storage.conversations import ConversationStore
from storage.database import Database, connect_once_up, connection_failure, not_up_yet
from storage.inbox import EventInbox
from storage.postgres_url import UnusableDatabaseUrl
from storage.regeneration import RegenerationStore
from storage.usage import UsageStore

log = logging.getLogger(__name__)

# How long a health check waits for the database before it reports it down.
HEALTH_CHECK_SECONDS = 2.0
# Slack sends a request's body at once (and gives up on it after 3 s): a body that trickles
# in would hold its connection open as long as its sender likes.
REQUEST_BODY_SECONDS = 10.0
# aiohttp's default, made a choice: Slack's requests are a few KB, but an interactivity
# payload carries the whole message pressed, blocks and all, URL-encoded.
REQUEST_MAX_BYTES = 1024**2
# A Socket Mode URL is a ticket for one connection, good for a short while (Slack does not say
# how long): the one got as start-up checks SLACK_APP_TOKEN serves the first connection only
# if it is this fresh (no long wait for the database came between).
FIRST_SOCKET_URL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class SocketModeUrl:
    """A Socket Mode connection URL (`apps.connections.open`) and when it was got (monotonic)."""

    url: str
    got_at: float


@dataclass
class ChorusBot:
    """Everything the running bot holds; `close()` releases it."""

    app: AsyncApp
    slack: SlackWeb
    recovery: Recovery
    stops: AnswerStops
    work: BackgroundWork
    database: Database
    providers: Providers
    web_session: aiohttp.ClientSession
    signature: SignatureVerifier | None  # HTTP mode's check that a request comes from Slack
    first_socket_url: SocketModeUrl | None = None  # got as SLACK_APP_TOKEN was checked

    async def close(self) -> None:
        await self.providers.aclose()
        await self.web_session.close()
        await self.database.close()


async def build_bot(settings: Settings, catalog: ModelCatalog) -> ChorusBot:
    """Check the Slack token, migrate the database, and assemble the bot."""
    assert settings.slack_bot_token is not None
    web_session = open_web_session()
    web_client = make_web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_url, session=web_session
    )
    # The tokens first: one Slack refuses leaves no database behind (a first try's chorus.db).
    try:
        checking = SlackWeb(web_client)
        bot_user_id = await identify_bot(checking)
        first_socket_url = await check_app_token(checking, settings)
        database = await open_database(
            settings.database_url,
            pool_size=settings.chorus_database_pool_size,
            wait_seconds=settings.chorus_database_wait_seconds,
        )
    except BaseException:
        await web_session.close()
        raise
    slack = SlackWeb(web_client, clock=database.now)
    providers = Providers(settings)
    answers = AnswerStore(database, replica_id=settings.replica_id)
    channels = ChannelStore(database)
    notices = Notices(slack)
    stops = AnswerStops(answers, slack, notices)
    marks = InChatMarks(answers, slack, catalog)
    runner = AnswerRunner(
        answers,
        providers.by_name,
        RetryPolicy(
            max_attempts=settings.chorus_provider_max_attempts,
            base_delay=settings.chorus_provider_retry_base_delay,
        ),
        save_interval=max(settings.chorus_stream_update_seconds, 0.5),
        stops=stops,
        marks=marks,
        max_answer_chars=settings.chorus_max_answer_chars,
        edit_lease=settings.chorus_stale_answer_seconds / 2,
    )
    system_prompt = compose_system_prompt(BASE_SYSTEM_PROMPT, settings.chorus_system_prompt)
    window = ContextWindow(
        max_rounds=settings.chorus_context_max_rounds,
        max_tokens=settings.chorus_context_max_tokens,
    )
    forget_after_seconds = kept_seconds(settings.chorus_forget_after_days)
    chats = ConversationStore(database, forget_after_seconds=forget_after_seconds)
    fan_out = FanOut(
        catalog=catalog,
        answers=answers,
        runner=runner,
        marks=marks,
        web=slack,
        notices=notices,
        update_interval=settings.chorus_stream_update_seconds,
        update_budget=UpdateBudget(
            settings.chorus_slack_updates_per_minute / 60,
            burst=settings.chorus_slack_update_burst,
        ),
    )
    requests = ModelRequests(chats, channels, system_prompt=system_prompt, window=window)
    regenerating = Regenerating(
        catalog=catalog,
        regenerations=RegenerationStore(database, forget_after_seconds=forget_after_seconds),
        answers=answers,
        runner=runner,
        fan_out=fan_out,
        requests=requests,
        notices=notices,
        replica_id=settings.replica_id,
        set_up_providers=providers.set_up(),
    )
    conversations = Conversations(
        catalog=catalog,
        store=chats,
        fan_out=fan_out,
        requests=requests,
        web=slack,
        notices=notices,
        settings=ConversationSettings(
            replica_id=settings.replica_id, history_limit=settings.chorus_context_max_rounds
        ),
        bot_user_id=bot_user_id,
        files=SlackFiles(
            slack, web_session, settings.slack_bot_token.get_secret_value(), settings.slack_api_url
        ),
        marks=marks,
    )
    work = BackgroundWork()
    inbox = EventInbox(database)
    intake = EventIntake(inbox, conversations, work, replica_id=settings.replica_id)
    recovery = Recovery(
        database,
        answers,
        inbox,
        intake,
        slack,
        catalog,
        marks,
        replica_id=settings.replica_id,
        stale_seconds=settings.chorus_stale_answer_seconds,
    )
    logging.getLogger("slack_bolt.AsyncApp").addFilter(_not_the_token_notice)
    app = AsyncApp(
        client=web_client,
        authorize=authorized_as(bot_user_id, settings.slack_bot_token.get_secret_value()),
        # Requests are verified before Bolt sees them (`http_routes`).
        request_verification_enabled=False,
        # Our listener only records the event and starts the work: the ack follows the record.
        process_before_response=True,
        # Bolt's filter would also drop the deletion of one of our answers by an admin (the
        # deleted message was ours); the intake ignores our own messages and edits itself.
        ignoring_self_events_enabled=False,
        # The name Bolt gives its loggers; unnamed, it finds the caller's file name with
        # inspect.stack(), which reads the source of every frame: 40-170 ms of each start.
        name="app.py",
    )
    home = HomeTab(
        slack,
        catalog,
        HomeSettings(
            system_prompt=system_prompt,
            window=window,
            storage="PostgreSQL" if database.dialect == "postgresql" else "SQLite",
            forget_after_days=settings.chorus_forget_after_days,
        ),
        UsageStore(database),
    )
    register_listeners(
        app, intake, ChorusCommands(catalog, channels, chats), home, stops, regenerating, work
    )
    signature = None
    if not settings.socket_mode:
        assert settings.slack_signing_secret is not None
        signature = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    return ChorusBot(
        app,
        slack,
        recovery,
        stops,
        work,
        database,
        providers,
        web_session,
        signature,
        first_socket_url,
    )


def _not_the_token_notice(record: logging.LogRecord) -> bool:
    """Bolt reads SLACK_BOT_TOKEN itself, then warns at every start that the client and the
    authorization it is given (made with that very token) win over it: nothing an admin needs
    to read."""
    message = record.getMessage()
    return "`token` will be unused" not in message and "will be ignored" not in message


def authorized_as(bot_user_id: str, token: str) -> Callable[..., Awaitable[AuthorizeResult]]:
    """Bolt's authorization of every request, from what start-up learnt (`identify_bot`).
    Left to itself, Bolt asks auth.test on the first request, and answers a Slack blip then
    with a 200 saying to reinstall the app: the event acknowledged, and lost."""

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_user_id=bot_user_id,
            bot_token=token,
        )

    return authorize


async def open_database(database_url: str, *, pool_size: int, wait_seconds: float) -> Database:
    """The migrated database (at most `pool_size` connections to PostgreSQL), waited for up
    to `wait_seconds` while it does not answer, or a `ConfigurationError` that names
    DATABASE_URL."""

    def say_waiting(error: BaseException, seconds_left: float) -> None:
        log.warning(
            "the database at DATABASE_URL is not answering yet (%s); trying again for %.0f s",
            connection_failure(error),
            seconds_left,
        )

    try:
        return await connect_once_up(
            database_url, wait_seconds=wait_seconds, on_wait=say_waiting, pool_size=pool_size
        )
    except (ArgumentError, NoSuchModuleError, InvalidRequestError, ImportError):
        # ArgumentError: a driver the bot does not use; ImportError: one not installed.
        raise ConfigurationError(
            "Configuration error: DATABASE_URL is not a usable SQLAlchemy async URL "
            "(e.g. sqlite+aiosqlite:///./chorus.db or postgresql+asyncpg://user@host/db)"
        ) from None
    except UnusableDatabaseUrl as error:
        raise ConfigurationError(f"Configuration error: {error}") from None
    except (DBAPIError, OSError, TimeoutError, ValueError, TypeError) as error:
        # TypeError: a URL option the driver lacks.
        reason = connection_failure(error)
        if not_up_yet(error):
            waited = f"; waited {wait_seconds:g} s" if wait_seconds else ""
            raise ConfigurationError(
                f"Configuration error: cannot reach the database at DATABASE_URL ({reason}{waited})"
            ) from None
        raise ConfigurationError(
            f"Configuration error: cannot use the database at DATABASE_URL ({reason})"
        ) from None


async def identify_bot(slack: SlackWeb) -> str:
    """The bot's user id from `auth.test`, or a `ConfigurationError` naming what to fix. A
    token granted fewer scopes than the bot needs (an app installed from an older manifest) is
    logged, once: the bot starts all the same, as what needs no missing scope still works."""
    with slack_refusal_stops_start_up(
        slack.api_url, "SLACK_BOT_TOKEN", "check the token and SLACK_API_URL"
    ):
        token = await slack.token_identity()
    missing = missing_scopes(token.scopes) if token.scopes is not None else []
    if missing:
        log.warning(
            "the bot token lacks the Slack scopes %s: add them to the app from manifest.yml "
            "and reinstall it (what needs them fails until then)",
            ", ".join(missing),
        )
    return token.user_id


async def check_app_token(slack: SlackWeb, settings: Settings) -> SocketModeUrl | None:
    """In Socket Mode, a connection URL for SLACK_APP_TOKEN, or a `ConfigurationError` when
    Slack refuses the token (the SDK would retry it forever)."""
    if not settings.socket_mode:
        return None
    assert settings.slack_app_token is not None
    url = await _socket_mode_url(slack, settings.slack_app_token.get_secret_value())
    return SocketModeUrl(url, time.monotonic())


async def _socket_mode_url(slack: SlackWeb, app_token: str) -> str:
    with slack_refusal_stops_start_up(
        slack.api_url,
        "SLACK_APP_TOKEN",
        "set an app-level token (xapp-…) with the connections:write scope",
    ):
        return await slack.socket_mode_url(app_token)


async def open_socket_mode(bot: ChorusBot, app_token: str) -> AsyncSocketModeHandler:
    """A Socket Mode handler for the bot holding its first connection URL: the one got as
    start-up checked the token, if still fresh, or a new one (a `ConfigurationError` if Slack
    refuses the token now)."""
    first = bot.first_socket_url
    if first is not None and time.monotonic() - first.got_at < FIRST_SOCKET_URL_SECONDS:
        url = first.url
    else:
        url = await _socket_mode_url(bot.slack, app_token)
    handler = AsyncSocketModeHandler(bot.app, app_token)
    # The first try uses this URL; each later one, and each reconnection, a new one.
    handler.client.wss_uri = url
    keep_trying_to_connect(handler.client, partial(bot.slack.socket_mode_url, app_token))
    return handler


@contextmanager
def slack_refusal_stops_start_up(api_url: str, token_variable: str, advice: str) -> Iterator[None]:
    """Turn Slack refusing `token_variable`, or not answering at `api_url`, into a
    `ConfigurationError`."""
    try:
        yield
    except SlackApiError as error:
        if not answered_as_slack(error):
            raise ConfigurationError(
                f"Configuration error: SLACK_API_URL answered HTTP {http_status(error)}, "
                "not as Slack's Web API does; check SLACK_API_URL (https://slack.com/api/)"
            ) from None
        raise ConfigurationError(
            f"Configuration error: Slack rejected {token_variable} "
            f"({slack_error_code(error)}); {advice}"
        ) from None
    except aiohttp.ClientConnectorCertificateError as error:
        raise ConfigurationError(
            f"Configuration error: Slack's Web API at {_shown_url(api_url)} presented a "
            f"certificate {untrusted_certificate(error)}"
        ) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise ConfigurationError(
            f"Configuration error: cannot reach Slack's Web API at {_shown_url(api_url)} "
            f"({type(error).__name__}); check SLACK_API_URL and the network"
        ) from None


def _shown_url(url: str) -> str:
    return urlsplit(url)._replace(query="", fragment="").geturl()


def http_routes(
    bot: ChorusBot, *, socket_connected: Callable[[], Awaitable[bool]] | None = None
) -> web.Application:
    """`GET /healthz`, and in HTTP mode `POST /slack/events` for requests Slack signed. Health
    fails while the database can't be reached, and in Socket Mode (`socket_connected` given)
    while the socket is down."""
    application = web.Application(client_max_size=REQUEST_MAX_BYTES)

    async def slack_events(request: web.Request) -> web.Response:
        assert bot.signature is not None
        announced = request.content_length
        try:
            if announced is not None and announced > REQUEST_MAX_BYTES:  # not waited for
                raise web.HTTPRequestEntityTooLarge(REQUEST_MAX_BYTES, announced)
            async with asyncio.timeout(REQUEST_BODY_SECONDS):
                body = await request.read()
        except TimeoutError:
            log.warning("refused a request whose body took over %.0f s", REQUEST_BODY_SECONDS)
            return web.json_response({"error": "request timeout"}, status=408)
        except web.HTTPRequestEntityTooLarge:
            log.warning("refused a request over %d bytes", REQUEST_MAX_BYTES)
            raise
        if is_ssl_check(body, request.content_type):
            # Slack's check of the certificate, sent unsigned: answered, and nothing run.
            log.debug("answered Slack's SSL check")
            return web.Response(status=200)
        if not signed_by_slack(bot.signature, body, request.headers):
            # Neither the body nor the headers: they may hold what someone said.
            log.warning("refused a request not signed with SLACK_SIGNING_SECRET")
            return web.json_response({"error": "invalid request"}, status=401)
        bolt_request = await _as_bolt_request(request)
        if bolt_request is None:
            log.warning("refused a signed request whose body is not what Slack sends")
            return web.json_response({"error": "invalid request"}, status=400)
        bolt_response = await bot.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def health(_request: web.Request) -> web.Response:
        reachable = await bot.database.reachable(within=HEALTH_CHECK_SECONDS)
        report: dict[str, object] = {
            "ok": reachable,
            "answering": bot.work.running,
            "database": "up" if reachable else "down",
        }
        if socket_connected is not None:
            connected = await socket_connected()
            report["ok"] = reachable and connected
            report["socket_mode"] = "connected" if connected else "down"
        return web.json_response(report, status=200 if report["ok"] else 503)

    application.router.add_get("/healthz", health)
    if socket_connected is None:
        application.router.add_post("/slack/events", slack_events)
    return application


async def _as_bolt_request(request: web.Request) -> AsyncBoltRequest | None:
    """The request as Bolt reads it, or None when its body is no JSON object or form."""
    try:
        bolt_request = await to_bolt_request(request)
    except (ValueError, AttributeError):
        # Bolt parses the body as it builds the request, and reads it as a JSON object.
        return None
    return bolt_request if isinstance(bolt_request.body, dict) else None


def is_ssl_check(body: bytes, content_type: str) -> bool:
    """Whether a request is the check Slack makes of the certificate at a slash command's
    request URL (when it is set, and now and then after): a form with `ssl_check=1`, which
    Slack does not sign, and wants answered 200."""
    if content_type != "application/x-www-form-urlencoded":
        return False
    fields = parse_qs(body.decode("utf-8", errors="replace"))
    return fields.get("ssl_check") == ["1"]


def signed_by_slack(signature: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether Slack signed this request, lately: anything else (no signature, a stale or
    malformed timestamp, another secret) is refused."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    claimed = headers.get("X-Slack-Signature", "")
    # What the verifier cannot read (`²` is a digit to Python, not to int()) is not Slack's.
    if not (timestamp.isascii() and timestamp.isdigit() and claimed.isascii()):
        return False
    try:
        return signature.is_valid(body, timestamp, claimed)
    except UnicodeDecodeError:  # Slack sends UTF-8 only
        return False
