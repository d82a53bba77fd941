"""What the bot has saved, read straight from its database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Select, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from storage.database import database_at
from storage.tables import Answer, EarlyEdit

T = TypeVar("T")


def saved_texts(database_url: str) -> list[str]:
    """The answers' text as the bot last saved it in the database (the database as it is)."""
    return _all(database_url, select(Answer.text).order_by(Answer.id))


def saved_usage(database_url: str) -> list[tuple[int | None, int | None]]:
    """The answers' (input, output) token counts as the bot saved them."""
    query = select(Answer.input_tokens, Answer.output_tokens).order_by(Answer.id)

    def read(session: Session) -> list[tuple[int | None, int | None]]:
        return [(row.input_tokens, row.output_tokens) for row in session.execute(query)]

    return _read(database_url, read)


def kept_edits(database_url: str) -> list[str]:
    """The edits kept for messages not recorded yet."""
    return _all(database_url, select(EarlyEdit.text))


def schema_made(database_url: str) -> bool:
    """Whether the bot has made its schema in the database (for SQLite: made its file)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return Path(url.database or "").exists()
    return _read(database_url, lambda session: inspect(session.connection()).has_table("answers"))


def _all(database_url: str, query: Select[Any]) -> list[Any]:
    def read(session: Session) -> list[Any]:
        return list(session.scalars(query))

    return _read(database_url, read)


def _read(database_url: str, read: Callable[[Session], T]) -> T:
    async def read_once() -> T:
        database = database_at(database_url)
        try:
            return await database.run(read)
        finally:
            await database.close()

    return asyncio.run(read_once())
