"""`insert_rows`, registration's INSERTs: straight to the driver's connection inside the
use case's transaction (SQLite's writer, asyncpg), storing what SQLAlchemy would store."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import String, cast, event, insert, select

from app.db import Writer, create_engine, insert_rows, migrate, session_factory, unit_of_work
from dispatch.storage import Hotline, HotlineChange

AT = datetime(2026, 12, 7, 13, 30, 5, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
CHANGES = {"mode": ["central", "external"], "名称": "市长热线"}


@pytest.fixture
async def database(any_db_url):
    engine = create_engine(any_db_url)
    await migrate(engine)
    sessions = session_factory(engine)
    writer = await Writer.start(any_db_url, sessions) if engine.dialect.name == "sqlite" else None
    statements: list[str] = []
    for target in {engine, writer.engine if writer else engine}:
        event.listen(target.sync_engine, "before_cursor_execute", _record(statements))
    async with unit_of_work(sessions) as session:
        session.add(Hotline(number="90001", name="测试", mode="central"))
    yield sessions, statements
    if writer is not None:
        await writer.stop()
    await engine.dispose()


def _record(statements: list[str]):
    def before(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    return before


def _change(by: str, changes: dict | None) -> HotlineChange:
    return HotlineChange(number="90001", at=AT, by=by, changes=changes)


async def test_rows_are_stored_as_sqlalchemy_stores_them_and_roll_back_with_the_use_case(
    database,
):
    sessions, statements = database
    raw = [_change("raw", CHANGES), _change("raw_none", None)]
    async with unit_of_work(sessions) as session:
        core = [
            {"number": "90001", "at": AT, "by": by, "changes": changes}
            for by, changes in (("core", CHANGES), ("core_none", None))
        ]
        await session.execute(insert(HotlineChange), core)
        await insert_rows(session, raw)
    with pytest.raises(ValueError):
        async with unit_of_work(sessions) as session:
            await insert_rows(session, [_change("lost", {})])
            raise ValueError("refused")
    inserts = [sql for sql in statements if sql.startswith("INSERT INTO hotline_changes")]
    assert len(inserts) == 1  # the Core statement's; insert_rows did not go through SQLAlchemy
    assert raw[0].id and raw[1].id == raw[0].id + 1
    async with sessions() as session:
        rows = {r.by: r for r in await session.scalars(select(HotlineChange))}
        # as the database holds them: the time's text, JSON null or SQL NULL
        held = select(
            HotlineChange.by,
            cast(HotlineChange.at, String),
            cast(HotlineChange.changes, String),
            HotlineChange.changes.is_(None),
        )
        stored = {by: rest for by, *rest in await session.execute(held)}
    assert set(rows) == {"core", "core_none", "raw", "raw_none"}
    assert rows["raw"].at == AT and rows["raw"].changes == CHANGES
    assert stored["raw"] == stored["core"] and stored["raw_none"] == stored["core_none"]
    assert stored["raw"][0].startswith("2026-12-07 05:30:05.123456")
