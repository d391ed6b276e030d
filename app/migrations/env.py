"""Alembic environment: the same migrations for SQLite and PostgreSQL.

The service runs them through `app.db.migrate(engine)`, which hands over a connection;
`alembic -c alembic.ini ...` from the shell uses the configured database URL.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.db import Base, create_engine, include_name
from app.models import import_all

import_all()
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from config import load_settings

    async def main() -> None:
        engine = create_engine(load_settings().database.url)
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(main())


run_online()
