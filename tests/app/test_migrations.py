"""The Alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import Base, create_engine, include_name, migrate
from app.models import import_all


def _diff(connection):
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": include_name}
    )
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


async def test_kpi_columns_are_filled_from_the_event_log(any_db_url):
    """0013 fills `answered_at` (first answer), `last_callback_at` (latest 回访 by the centre)."""
    engine = create_engine(any_db_url)
    try:
        await migrate(engine, "0012")
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO hotlines (number, name, mode) VALUES ('12345', 'x', 'central')")
            )
            for number in ("1", "2"):
                await conn.execute(
                    text(
                        "INSERT INTO orders (number, hotline_number, channel, request_type,"
                        " urgency, content, confidential, created_at, created_by, updated_at,"
                        " tracking_token, state, extensions, return_count, reopen_count, version)"
                        f" VALUES ('{number}', '12345', 'phone', 'help', 'normal', 'x', false,"
                        f" '2026-01-01', 'a', '2026-01-01', 't{number}', 'closed', 0, 0, 0, 1)"
                    )
                )
            events = [
                ("1", 1, "2026-01-01 01:00:00", "answer", "agent"),
                ("1", 2, "2026-01-02 01:00:00", "answer", "agent"),
                ("1", 3, "2026-01-03 01:00:00", "callback", "agent"),
                ("1", 4, "2026-01-05 01:00:00", "callback", "supervisor"),
                ("1", 5, "2026-01-06 01:00:00", "callback", "citizen"),  # not a 回访
                ("2", 1, "2026-01-01 02:00:00", "dispatch", "dispatcher"),
            ]
            for n, seq, at, action, role in events:
                await conn.execute(
                    text(
                        "INSERT INTO order_events (order_id, seq, at, actor, actor_role, action,"
                        " to_state, note, data) SELECT id, :seq, :at, 'a', :role, :action,"
                        " 'closed', '', '{}' FROM orders WHERE number = :number"
                    ),
                    {
                        "seq": seq,
                        "at": datetime.fromisoformat(at),
                        "role": role,
                        "action": action,
                        "number": n,
                    },
                )
        await migrate(engine)
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT number, answered_at, last_callback_at FROM orders ORDER BY number")
            )
            # SQLite answers text, PostgreSQL datetimes: compare them as text
            assert [(n, *(str(v)[:19] if v else None for v in at)) for n, *at in rows] == [
                ("1", "2026-01-01 01:00:00", "2026-01-05 01:00:00"),
                ("2", None, None),
            ]
    finally:
        await engine.dispose()


async def test_kpi_daily_sums_start_with_every_day_marked(any_db_url):
    """0034 marks each day from before the first order to after the last time any
    order or event holds: the job computes them, the KPIs read the rows till then."""
    engine = create_engine(any_db_url)
    try:
        await migrate(engine, "0032")
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO hotlines (number, name, mode) VALUES ('12345', 'x', 'central')")
            )
            await conn.execute(
                text(
                    "INSERT INTO orders (number, hotline_number, channel, request_type,"
                    " urgency, content, confidential, created_at, created_by, updated_at,"
                    " tracking_token, state, extensions, return_count, reopen_count, version,"
                    " finish_due) VALUES ('1', '12345', 'phone', 'help', 'normal', 'x', false,"
                    " :at, 'a', :at, 't1', 'dispatched', 0, 0, 0, 1, :due)"
                ),
                {"at": datetime(2026, 1, 1, 3), "due": datetime(2026, 1, 20, 9)},
            )
        await migrate(engine)
        async with engine.connect() as conn:
            days = [str(d)[:10] for (d,) in await conn.execute(text("SELECT day FROM kpi_marks"))]
        assert len(days) == 22 and min(days) == "2025-12-31" and max(days) == "2026-01-21"
    finally:
        await engine.dispose()
