"""Alembic environment: runs on the connection `storage.database.connect` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.tables import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` command line, e.g. `alembic revision --autogenerate`
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///./chorus.db"
    with create_engine(url).connect() as offline_connection:
        context.configure(
            connection=offline_connection, target_metadata=Base.metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
