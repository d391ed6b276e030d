"""SQLite's single writer (app.db.Writer): use cases grouped into one commit, each in a
SAVEPOINT of its own, returning only once durable (issue 11)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, func, insert, select, text

from app.db import (
    Writer,
    after_commit,
    create_engine,
    insert_rows,
    migrate,
    session_factory,
    unit_of_work,
)
from dispatch.storage import Hotline, HotlineChange


@pytest.fixture
async def database(sqlite_url):
    engine = create_engine(sqlite_url)
    await migrate(engine)
    sessions = session_factory(engine)
    writer = await Writer.start(sqlite_url, sessions)
    yield sqlite_url, sessions, writer
    await writer.stop()
    await engine.dispose()


def _count(url: str) -> int:
    """Hotlines as a separate, synchronous connection sees them: committed rows only."""
    engine = create_sync_engine(url.replace("+aiosqlite", ""))
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(Hotline))
    engine.dispose()
    return count


async def test_blocks_are_grouped_and_durable_on_return(database):
    url, sessions, writer = database

    async def add(i: int) -> int:
        async with unit_of_work(sessions) as session:
            session.add(Hotline(number=f"9{i:04d}", name=f"测试{i}", mode="central"))
        return _count(url)  # committed by the time the block returns

    seen = await asyncio.gather(*(add(i) for i in range(40)))
    assert min(seen) >= 1 and _count(url) == 40
    assert writer.blocks == 40 and writer.commits < 40  # one fsync served several


async def test_a_failing_block_rolls_back_alone(database):
    _url, sessions, _writer = database

    async def add(number: str, fail: bool) -> None:
        async with unit_of_work(sessions) as session:
            session.add(Hotline(number=number, name="测试", mode="central"))
            await session.flush()
            if fail:
                raise ValueError("refused")

    results = await asyncio.gather(
        add("90001", False), add("90002", True), add("90003", False), return_exceptions=True
    )
    assert isinstance(results[1], ValueError) and results[0] is None and results[2] is None
    async with sessions() as session:
        numbers = set(await session.scalars(select(Hotline.number)))
    assert numbers == {"90001", "90003"}


async def test_a_nested_write_fails_loudly_instead_of_waiting_for_itself(database):
    _url, sessions, _writer = database
    with pytest.raises(RuntimeError, match="inside another"):
        async with unit_of_work(sessions) as session:
            await session.execute(text("SELECT 1"))
            async with unit_of_work(sessions):
                pass


async def test_after_commit_hooks_run_at_the_group_commit_and_not_for_failed_blocks(database):
    _url, sessions, _writer = database
    ran: list[str] = []

    async def block(name: str, fail: bool) -> None:
        async with unit_of_work(sessions) as session:
            after_commit(session, lambda: ran.append(name))
            session.add(Hotline(number=name, name="测试", mode="central"))
            await session.flush()
            if fail:
                raise ValueError("refused")

    await asyncio.gather(
        block("90001", False), block("90002", True), block("90003", False), return_exceptions=True
    )
    assert sorted(ran) == ["90001", "90003"]


async def test_insert_rows_in_a_writer_block_bypass_sqlalchemy_and_store_the_same_values(database):
    """Registration's INSERTs go straight to the writer's sqlite3 connection; the stored
    values (aware datetime as naive UTC text, JSON) equal what the ORM stores, the ids are
    set, and a failing block takes its rows with it."""
    url, sessions, writer = database
    at = datetime(2026, 12, 7, 13, 30, 5, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
    changes = {"mode": ["central", "external"], "名称": "市长热线"}
    async with unit_of_work(sessions) as session:
        session.add(Hotline(number="90001", name="测试", mode="central"))
    seen: list[str] = []
    event.listen(writer.engine.sync_engine, "before_cursor_execute", _record(seen))
    async with unit_of_work(sessions) as session:
        session.add(HotlineChange(number="90001", at=at, by="orm", changes=changes))
    async with unit_of_work(sessions) as session:
        raw = [HotlineChange(number="90001", at=at, by=f"raw{i}", changes=changes) for i in (1, 2)]
        await insert_rows(session, raw)
    async with unit_of_work(sessions) as session:  # None through the JSON type, both ways
        core = {"number": "90001", "at": at, "by": "core_none", "changes": None}
        await session.execute(insert(HotlineChange), [core])
        none = HotlineChange(number="90001", at=at, by="raw_none", changes=None)
        await insert_rows(session, [none])
    with pytest.raises(ValueError):
        async with unit_of_work(sessions) as session:
            await insert_rows(
                session, [HotlineChange(number="90001", at=at, by="lost", changes={})]
            )
            raise ValueError("refused")
    assert sum("INSERT INTO hotline_changes" in sql for sql in seen) == 2  # ORM, Core
    assert raw[0].id and raw[1].id == raw[0].id + 1
    engine = create_sync_engine(url.replace("+aiosqlite", ""))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT by, at, changes FROM hotline_changes ORDER BY id")).all()
    engine.dispose()
    assert [r[0] for r in rows] == ["orm", "raw1", "raw2", "core_none", "raw_none"]
    assert rows[1][1:] == rows[0][1:] == rows[2][1:]
    assert rows[3][1:] == rows[4][1:]
    assert rows[0][1].startswith("2026-12-07 05:30:05.123456")
    async with sessions() as session:
        back = await session.get(HotlineChange, raw[1].id)
    assert back.at == at and back.changes == changes


def _record(seen: list[str]):
    def before(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    return before
