"""What the bot has saved of its answers, read straight from its database."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.database import database_at
from storage.tables import Answer


def saved_texts(database_url: str) -> list[str]:
    """The answers' text as the bot last saved it in the database (the database as it is)."""

    def read(session: Session) -> list[str]:
        return list(session.scalars(select(Answer.text).order_by(Answer.id)))

    async def read_once() -> list[str]:
        database = database_at(database_url)
        try:
            return await database.run(read)
        finally:
            await database.close()

    return asyncio.run(read_once())
