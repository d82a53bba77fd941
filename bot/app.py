"""Wiring: settings → storage → Slack client → providers → conversations → Bolt app."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.answering import AnswerRunner
from bot.background import BackgroundWork
from bot.chat.catalog import ModelCatalog
from bot.chat.context import ContextWindow, compose_system_prompt
from bot.conversation import Conversations, ConversationSettings
from bot.providers.registry import make_http_client, make_providers
from bot.providers.retry import RetryPolicy
from bot.recovery import InterruptedAnswers
from bot.settings import Settings
from bot.slack.listeners import register_listeners
from bot.slack.web import SlackWeb, make_web_client
from storage.answers import AnswerStore
from storage.conversations import ConversationStore
from storage.database import create_engine, migrate, session_factory


@dataclass
class ChorusBot:
    """Everything the running bot holds; `close()` releases it."""

    app: AsyncApp
    conversations: Conversations
    recovery: InterruptedAnswers
    work: BackgroundWork
    engine: AsyncEngine
    http: httpx.AsyncClient
    team_id: str

    async def close(self) -> None:
        await self.http.aclose()
        await self.engine.dispose()


async def build_bot(settings: Settings, catalog: ModelCatalog) -> ChorusBot:
    """Migrate the database, check the Slack token, and assemble the bot."""
    assert settings.slack_bot_token is not None
    engine = create_engine(settings.database_url)
    await migrate(engine)
    sessions = session_factory(engine)
    web_client = make_web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_url
    )
    slack = SlackWeb(web_client)
    team_id, bot_user_id = await slack.bot_user_id()
    http = make_http_client(settings)
    answers = AnswerStore(sessions)
    runner = AnswerRunner(
        answers,
        make_providers(settings, http),
        RetryPolicy(
            max_attempts=settings.chorus_provider_max_attempts,
            base_delay=settings.chorus_provider_retry_base_delay,
        ),
        save_interval=max(settings.chorus_stream_update_seconds, 0.5),
    )
    conversations = Conversations(
        catalog=catalog,
        store=ConversationStore(sessions),
        answers=answers,
        runner=runner,
        web=slack,
        settings=ConversationSettings(
            system_prompt=compose_system_prompt(settings.chorus_system_prompt),
            window=ContextWindow(
                max_rounds=settings.chorus_context_max_rounds,
                max_tokens=settings.chorus_context_max_tokens,
            ),
            update_interval=settings.chorus_stream_update_seconds,
            replica_id=settings.replica_id,
        ),
        bot_user_id=bot_user_id,
    )
    recovery = InterruptedAnswers(
        answers,
        slack,
        catalog,
        replica_id=settings.replica_id,
        stale_seconds=settings.chorus_stale_answer_seconds,
    )
    signing_secret = settings.slack_signing_secret
    app = AsyncApp(
        client=web_client,
        signing_secret=signing_secret.get_secret_value() if signing_secret else "",
        request_verification_enabled=not settings.socket_mode,
    )
    work = BackgroundWork()
    register_listeners(app, conversations, work)
    return ChorusBot(app, conversations, recovery, work, engine, http, team_id)


def http_routes(bot: ChorusBot, *, events: bool) -> web.Application:
    """`POST /slack/events` (HTTP mode; Bolt verifies Slack's signature) and `GET /healthz`."""
    application = web.Application()

    async def slack_events(request: web.Request) -> web.Response:
        bolt_response = await bot.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "answering": bot.work.running})

    application.router.add_get("/healthz", health)
    if events:
        application.router.add_post("/slack/events", slack_events)
    return application
