"""Per-channel choices: the channel's model list and its prompt."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session

from storage.database import Database
from storage.rows import insert_or_update
from storage.tables import ChannelModels, ChannelPrompt

_CHANNEL_MODELS: Table = ChannelModels.__table__  # type: ignore[assignment]
_CHANNEL_PROMPTS: Table = ChannelPrompt.__table__  # type: ignore[assignment]


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
    session.execute(
        insert_or_update(session, _CHANNEL_MODELS),
        {
            "team_id": team_id,
            "channel_id": channel_id,
            "models": models,
            "set_by": set_by,
            "updated_at": now,
        },
    )


def _set_prompt(
    session: Session, channel_id: str, prompt: str | None, set_by: str, now: float
) -> None:
    if prompt is None:  # nothing to remove is no error
        session.execute(delete(ChannelPrompt).where(ChannelPrompt.channel_id == channel_id))
        return
    session.execute(
        insert_or_update(session, _CHANNEL_PROMPTS),
        {"channel_id": channel_id, "prompt": prompt, "set_by": set_by, "updated_at": now},
    )
