"""The Alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import Base, create_engine, migrate
from app.models import import_all


def _diff(connection):
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrations_match_models(any_db_url):
    import_all()
    engine = create_engine(any_db_url)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_event_log_is_append_only(any_db_url):
    engine = create_engine(any_db_url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO hotlines (number, name, mode) VALUES ('12345', 'x', 'central')")
            )
            await conn.execute(
                text(
                    "INSERT INTO orders (number, hotline_number, channel, request_type, urgency,"
                    " content, confidential, created_at, created_by, updated_at, tracking_token,"
                    " state, extensions, return_count, reopen_count, version) VALUES ("
                    "'1', '12345', 'phone', 'help', 'normal', 'x', false, '2026-01-01', 'a',"
                    " '2026-01-01', 't', 'registered', 0, 0, 0, 1)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO order_events (order_id, seq, at, actor, actor_role, action,"
                    " to_state, note, data) SELECT id, 1, '2026-01-01', 'a', 'agent', 'register',"
                    " 'registered', '', '{}' FROM orders"
                )
            )
        for statement in ("UPDATE order_events SET note = 'changed'", "DELETE FROM order_events"):
            try:
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
            except DBAPIError as exc:
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{statement!r} was allowed")
    finally:
        await engine.dispose()
