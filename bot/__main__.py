"""Start-up: settings → storage → app → Socket Mode or HTTP server (`python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from sqlalchemy.engine import make_url

from bot.app import ChorusBot, build_bot, http_routes, open_socket_mode
from bot.chat.catalog import ModelCatalog
from bot.retention import forget_forever, kept_seconds
from bot.settings import (
    ConfigurationError,
    Settings,
    dotenv_lines_ignored,
    keys_set_under_other_names,
    load_settings,
)
from bot.slack.log_secrets import slack_secrets_redacted
from storage.database import connection_failure, unreachable
from storage.retention import RetentionStore

log = logging.getLogger("bot")

CLOSE_SECONDS = 3.0


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_database_outage_in_one_line)
        handler.addFilter(_closing_socket_in_one_line)
        handler.addFilter(slack_secrets_redacted)
    logging.getLogger("alembic.runtime.migration").addFilter(_migration_in_one_line)
    # Request lines of our own HTTP clients are noise at INFO.
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # slack_sdk writes out every request and response in full for its debug line whenever its
    # own logger's level is unset, whatever the level in force; set, it spares that work.
    logging.getLogger("slack_sdk.web.async_base_client").setLevel(logging.getLogger().level)


def _migration_in_one_line(record: logging.LogRecord) -> bool:
    """Alembic names its SQL dialect at every start; only the migrations it runs matter, each
    in one line (a migration's description may run over several), as log collectors take
    each line for a record."""
    message = record.getMessage()
    if message.startswith(("Context impl", "Will assume")):
        return False
    if "\n" in message:
        record.msg, record.args = " ".join(message.split()), None
    return True


def _database_outage_in_one_line(record: logging.LogRecord) -> bool:
    """A database outage fails the heartbeats, the sweeper and every event every few seconds:
    each says so in one line, not with a traceback of the driver's internals."""
    error = record.exc_info[1] if record.exc_info else None
    if error is not None and unreachable(error):
        reason = f"the database can't be reached ({connection_failure(error)})"
        record.msg, record.args = f"{record.getMessage()}: {reason}", None
        record.exc_info = record.exc_text = None
    return True


def _closing_socket_in_one_line(record: logging.LogRecord) -> bool:
    """A request handled as the Socket Mode connection closes (at shutdown, say) cannot be
    acknowledged on it: Slack sends an event again, and it is recognised as handled; a slash
    command or a button press is not sent again, but it was carried out. That is no error with
    a traceback."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, ConnectionResetError) and record.getMessage().startswith(
        "Failed to run a request listener"
    ):
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = (
            (
                "handled a Socket Mode request but could not acknowledge it: the connection was "
                "closing (Slack sends an event again, and it is not handled twice; a command or "
                "button press was carried out, though Slack may show its person an error)"
            ),
            None,
        )
        record.exc_info = record.exc_text = None
    return True


async def serve(settings: Settings, catalog: ModelCatalog) -> None:
    _cancel_start_up_on_signal()
    if ignored := dotenv_lines_ignored():
        log.warning(".env lines the bot ignores: %s", "; ".join(ignored))
    for hint in keys_set_under_other_names(settings.provider_keys()):
        log.warning("%s: those models are not set up", hint)
    running = _Running(await build_bot(settings, catalog))
    try:
        await _start(running, settings, catalog)
    except asyncio.CancelledError:  # a signal during start-up: nothing is in flight yet
        await _shut_down(running, grace_seconds=0)
        raise
    hurry = await _stop_asked()
    in_flight = running.bot.work.running
    grace_seconds = settings.chorus_shutdown_grace_seconds
    if in_flight:
        log.info(
            "shutting down: finishing %d task(s) in flight, for %g s at most "
            "(a second Ctrl-C or SIGTERM stops them now)",
            in_flight,
            grace_seconds,
        )
    else:
        log.info("shutting down: nothing in flight")
    await _shut_down(running, grace_seconds=grace_seconds, hurry=hurry)
    log.info("stopped")


@dataclass
class _Running:
    """The bot, and what start-up has started of it so far."""

    bot: ChorusBot
    socket_mode: AsyncSocketModeHandler | None = None
    runner: web.AppRunner | None = None
    loops: _Loops | None = None


async def _start(running: _Running, settings: Settings, catalog: ModelCatalog) -> None:
    bot = running.bot
    running.socket_mode = await _socket_mode(bot, settings)
    running.runner = await _listen(bot, settings, running.socket_mode)
    # Listen first: what stopped replicas left is taken over in the background, and what
    # this replica's previous life left once a live process under the same id (a "twin")
    # would have shown its own work alive. With the default port taken and no
    # CHORUS_REPLICA_ID, another copy of the bot on this host surely holds this replica id:
    # only work whose heartbeats stopped is taken over then (a previous life's too, later).
    own_id = running.runner is not None or bool(settings.chorus_replica_id)
    bot.work.start(bot.recovery.start_up(previous_life=own_id), name="start-up recovery")
    running.loops = _background_loops(bot, settings)
    if running.socket_mode is not None:
        await running.socket_mode.connect_async()
        health = f"health at http://{settings.host}:{settings.port}/healthz"
        log.info("connected in Socket Mode; %s", health if running.runner else "no health check")
        if settings.slack_signing_secret and settings.slack_signing_secret.get_secret_value():
            log.info(
                "SLACK_SIGNING_SECRET is not used: SLACK_APP_TOKEN is set (unset it for HTTP mode)"
            )
    else:
        log.info("listening on http://%s:%d/slack/events", settings.host, settings.port)
    log.info("models: %s", ", ".join(spec.name for spec in catalog))
    log.info("replica %s, database: %s", settings.replica_id, database_shown(settings.database_url))


async def _shut_down(
    running: _Running, *, grace_seconds: float, hurry: asyncio.Event | None = None
) -> None:
    if running.socket_mode is not None:
        await running.socket_mode.close_async()
    if running.runner is not None:
        await running.runner.cleanup()
    loops = running.loops or _Loops([], [])
    # What they would take over could not be finished.
    running.bot.recovery.stop_taking_over()
    await _stopped(loops.taking_on_work)
    await running.bot.work.drain(grace_seconds, hurry)
    await _stopped(loops.keeping_work_alive)
    try:
        async with asyncio.timeout(CLOSE_SECONDS):
            await running.bot.close()
    except TimeoutError:
        log.warning("the database or a provider did not close its connections in time")


async def _stopped(loops: list[asyncio.Task[None]]) -> None:
    for loop_task in loops:
        loop_task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)


async def _socket_mode(bot: ChorusBot, settings: Settings) -> AsyncSocketModeHandler | None:
    """The Socket Mode handler when SLACK_APP_TOKEN is set (the bot closed if Slack refuses
    the token)."""
    if not settings.socket_mode:
        return None
    assert settings.slack_app_token is not None
    try:
        return await open_socket_mode(bot, settings.slack_app_token.get_secret_value())
    except ConfigurationError:
        await bot.close()
        raise


async def _listen(
    bot: ChorusBot, settings: Settings, socket_mode: AsyncSocketModeHandler | None
) -> web.AppRunner | None:
    """Serve events (HTTP mode) and the health check on HOST:PORT; None when Socket Mode,
    which needs no port, goes on without a health check on an address it cannot use."""
    socket_connected = socket_mode.client.is_connected if socket_mode is not None else None
    runner = web.AppRunner(
        http_routes(bot, socket_connected=socket_connected),
        access_log=None,
        keepalive_timeout=settings.chorus_http_keepalive_timeout,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except OSError as error:
        await runner.cleanup()
        unusable = f"cannot listen on {settings.host}:{settings.port} ({error.strerror or error})"
        if socket_mode is not None and not settings.listen_address_set:
            # A first try beside a dev server on 3000 still starts.
            log.warning("health check not served: %s; set PORT to serve GET /healthz", unusable)
            return None
        if socket_mode is not None:
            await socket_mode.close_async()
        await bot.close()
        raise ConfigurationError(
            f"Configuration error: {unusable}; set HOST and PORT to a free address"
        ) from None
    return runner


@dataclass(frozen=True, slots=True)
class _Loops:
    taking_on_work: list[asyncio.Task[None]]  # stopped as shutdown starts
    keeping_work_alive: list[asyncio.Task[None]]  # stopped once the work in flight is done


def _background_loops(bot: ChorusBot, settings: Settings) -> _Loops:
    taking_on_work = [asyncio.create_task(bot.recovery.sweep_forever(), name="sweeper")]
    if (keep_seconds := kept_seconds(settings.chorus_forget_after_days)) is not None:
        forgetting = forget_forever(RetentionStore(bot.database), keep_seconds)
        taking_on_work.append(asyncio.create_task(forgetting, name="forgetting"))
    keeping_work_alive = [
        asyncio.create_task(bot.recovery.heartbeat_forever(), name="heartbeat"),
        asyncio.create_task(bot.stops.watch_forever(), name="stop watcher"),
    ]
    return _Loops(taking_on_work, keeping_work_alive)


def _cancel_start_up_on_signal() -> None:
    """Until start-up is done (`_stop_asked` then takes the signals over), SIGTERM or SIGINT
    cancels it: what it opened is closed, and `main` says so in one line."""
    start_up = asyncio.current_task()
    assert start_up is not None
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        start_up.cancel(msg=signal.Signals(signum).name)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def _stop_asked() -> asyncio.Event:
    """Wait for SIGTERM or SIGINT; the event returned is set by a second one, asking that
    what is in flight be stopped now rather than finished."""
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            log.info("stopping now: what is in flight is finalised as interrupted")
            hurry.set()
        stop.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    await stop.wait()
    return hurry


def database_shown(database_url: str) -> str:
    """Where the database is, for the log; never a password, nor the URL's options (libpq's
    `password=` may be one)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {Path(url.database or '').resolve()}"
    in_query = url.query.get("host")  # libpq's: a socket's folder (Cloud SQL), or hosts
    if url.host:
        server = f"{url.host}:{url.port or 5432}"
    elif in_query:
        server = in_query if isinstance(in_query, str) else ",".join(in_query)
    else:
        server = "its local socket"
    return f"PostgreSQL at {server}/{url.database}"


USAGE = """\
Multi-model chat in Slack. Takes no arguments: the configuration is read from the
environment and from .env in the working directory (README.md, Configuration, lists it all).

A first try needs SLACK_BOT_TOKEN (xoxb-...), SLACK_APP_TOKEN (xapp-..., Socket Mode) or
SLACK_SIGNING_SECRET (HTTP mode), and a provider key: ANTHROPIC_API_KEY, OPENAI_API_KEY,
GEMINI_API_KEY or OPENROUTER_API_KEY (or, for a local server, CHORUS_MODELS naming its
ollama: models, which need no key)."""


def main() -> None:
    """The `chorus-slack` command."""
    argparse.ArgumentParser(
        prog="chorus-slack",
        description=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args()
    # What the imports made lives as long as the bot: the collector need not go through it
    # again and again, nor at exit (a third of a second of each stop).
    gc.freeze()
    try:
        settings, catalog = load_settings()
        configure_logging(settings.log_level)
        asyncio.run(serve(settings, catalog))
    except ConfigurationError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    except asyncio.CancelledError as cancelled:  # a signal before start-up was done
        print(f"stopped during start-up ({cancelled})", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
