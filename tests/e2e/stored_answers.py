"""What the bot has saved, read straight from its database."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from storage.database import database_at
from storage.tables import Answer, EarlyEdit


def saved_texts(database_url: str) -> list[str]:
    """The answers' text as the bot last saved it in the database (the database as it is)."""
    return _all(database_url, select(Answer.text).order_by(Answer.id))


def kept_edits(database_url: str) -> list[str]:
    """The edits kept for messages not recorded yet."""
    return _all(database_url, select(EarlyEdit.text))


def _all(database_url: str, query: Select[Any]) -> list[Any]:
    def read(session: Session) -> list[Any]:
        return list(session.scalars(query))

    async def read_once() -> list[Any]:
        database = database_at(database_url)
        try:
            return await database.run(read)
        finally:
            await database.close()

    return asyncio.run(read_once())
