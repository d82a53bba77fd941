"""Per-channel choices: the channel's model list, its prompt, and starting a fresh chat."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.chat.routing import ChatKey
from storage.conversations import channel_models, channel_prompt, insert_or_ignore
from storage.tables import ChannelModels, ChannelPrompt, Chat


class ChannelStore:
    """The one place that writes channel model lists and new chat generations."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def models(self, team_id: str, channel_id: str) -> list[str] | None:
        """The channel's model names, or None when it uses the workspace default."""
        async with self._sessions() as session:
            return await channel_models(session, team_id, channel_id)

    async def set_models(
        self, team_id: str, channel_id: str, models: Sequence[str], *, set_by: str
    ) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(ChannelModels, (team_id, channel_id))
            if row is None:
                session.add(
                    ChannelModels(
                        team_id=team_id,
                        channel_id=channel_id,
                        models=list(models),
                        set_by=set_by,
                        updated_at=time.time(),
                    )
                )
            else:
                row.models, row.set_by, row.updated_at = list(models), set_by, time.time()

    async def prompt(self, channel_id: str) -> str | None:
        """The channel's own system prompt, if one is set."""
        async with self._sessions() as session:
            return await channel_prompt(session, channel_id)

    async def set_prompt(self, channel_id: str, prompt: str | None, *, set_by: str) -> None:
        """Set the channel's prompt (None removes it)."""
        async with self._sessions.begin() as session:
            row = await session.get(ChannelPrompt, channel_id)
            if prompt is None:
                if row is not None:
                    await session.delete(row)
            elif row is None:
                session.add(
                    ChannelPrompt(
                        channel_id=channel_id, prompt=prompt, set_by=set_by, updated_at=time.time()
                    )
                )
            else:
                row.prompt, row.set_by, row.updated_at = prompt, set_by, time.time()

    async def start_new_chat(self, key: ChatKey) -> None:
        """Later rounds in this channel start from nothing (`/chorus new`)."""
        async with self._sessions.begin() as session:
            latest = await session.scalar(
                select(func.max(Chat.generation)).where(
                    Chat.team_id == key.team_id,
                    Chat.channel_id == key.channel_id,
                    Chat.thread_ts == key.thread_ts,
                )
            )
            await session.execute(
                insert_or_ignore(session, Chat.__table__).values(  # type: ignore[arg-type]
                    team_id=key.team_id,
                    channel_id=key.channel_id,
                    thread_ts=key.thread_ts,
                    generation=0 if latest is None else latest + 1,
                    created_at=time.time(),
                )
            )
