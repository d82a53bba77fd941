"""Per-channel choices: the channel's model list and its prompt."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from storage.database import Database
from storage.tables import ChannelModels, ChannelPrompt


class ChannelStore:
    """The one place that writes a channel's own models and prompt."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def models(self, team_id: str, channel_id: str) -> list[str] | None:
        """The channel's model names, or None when it uses the workspace default."""
        return await self._database.run(_channel_models, team_id, channel_id)

    async def set_models(
        self, team_id: str, channel_id: str, models: Sequence[str], *, set_by: str
    ) -> None:
        await self._database.run(
            _set_models, team_id, channel_id, list(models), set_by, self._database.now()
        )

    async def prompt(self, channel_id: str) -> str | None:
        """The channel's own system prompt, if one is set."""
        return await self._database.run(_channel_prompt, channel_id)

    async def set_prompt(self, channel_id: str, prompt: str | None, *, set_by: str) -> None:
        """Set the channel's prompt (None removes it)."""
        await self._database.run(_set_prompt, channel_id, prompt, set_by, self._database.now())


def _channel_models(session: Session, team_id: str, channel_id: str) -> list[str] | None:
    row = session.get(ChannelModels, (team_id, channel_id))
    return list(row.models) if row is not None else None


def _channel_prompt(session: Session, channel_id: str) -> str | None:
    row = session.get(ChannelPrompt, channel_id)
    return row.prompt if row is not None else None


def _set_models(
    session: Session, team_id: str, channel_id: str, models: list[str], set_by: str, now: float
) -> None:
    row = session.get(ChannelModels, (team_id, channel_id))
    if row is None:
        session.add(
            ChannelModels(
                team_id=team_id,
                channel_id=channel_id,
                models=models,
                set_by=set_by,
                updated_at=now,
            )
        )
    else:
        row.models, row.set_by, row.updated_at = models, set_by, now


def _set_prompt(
    session: Session, channel_id: str, prompt: str | None, set_by: str, now: float
) -> None:
    row = session.get(ChannelPrompt, channel_id)
    if prompt is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(
            ChannelPrompt(channel_id=channel_id, prompt=prompt, set_by=set_by, updated_at=now)
        )
    else:
        row.prompt, row.set_by, row.updated_at = prompt, set_by, now
