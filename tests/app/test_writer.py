"""SQLite's single writer (app.db.Writer): use cases grouped into one commit, each in a
SAVEPOINT of its own, returning only once durable (issue 11)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import func, select, text

from app.db import Writer, after_commit, create_engine, migrate, session_factory, unit_of_work
from dispatch.storage import Hotline


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
