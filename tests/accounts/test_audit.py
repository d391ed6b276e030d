"""The audit trail's chain: appended in order, verified, tamper found, append-only."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from accounts import audit
from accounts.audit import AuditEntry, Event, Result, Subject
from app.db import create_engine, migrate, session_factory, unit_of_work
from app.errors import InvalidInput
from tests.conftest import MONDAY_10AM

ADMIN = Subject("admin", "admin", "10.0.0.1")


@pytest.fixture
async def sessions(any_db_url):
    engine = create_engine(any_db_url)
    await migrate(engine)
    yield session_factory(engine)
    await engine.dispose()


async def _append(sessions, n: int) -> None:
    for i in range(n):
        async with unit_of_work(sessions) as session:
            await audit.record(
                session, Event.LOGIN, ADMIN, f"obj{i}", detail={"i": i, "名": "值"}, at=MONDAY_10AM
            )


async def test_chain_links_each_line_to_the_one_before(sessions):
    await _append(sessions, 3)
    async with sessions() as session:
        rows = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        verdict = await audit.verify(session)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == audit.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert verdict.intact and verdict.entries == 3 and verdict.last_hash == rows[-1].hash


async def test_empty_chain_is_intact(sessions):
    async with sessions() as session:
        assert (await audit.verify(session)).as_json()["intact"] is True


async def test_the_database_refuses_update_and_delete(sessions):
    await _append(sessions, 1)
    for statement in ("UPDATE audit_log SET result = 'failure'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with unit_of_work(sessions) as session:
                await session.execute(text(statement))


async def _drop_triggers(session) -> None:
    if session.bind.dialect.name == "sqlite":
        await session.execute(text("DROP TRIGGER audit_log_no_update"))
        await session.execute(text("DROP TRIGGER audit_log_no_delete"))
    else:
        await session.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))


async def test_verify_finds_a_tampered_line(sessions):
    """With the trigger dropped (what an intruder with DDL rights could do), a changed
    line breaks the chain exactly there."""
    await _append(sessions, 5)
    async with unit_of_work(sessions) as session:
        await _drop_triggers(session)
        await session.execute(text("UPDATE audit_log SET result = 'failure' WHERE seq = 3"))
    async with sessions() as session:
        verdict = await audit.verify(session)
    assert not verdict.intact
    assert verdict.broken_at == 3 and verdict.entries == 2
    assert "hash" in verdict.reason


async def test_verify_finds_a_removed_line_and_a_rewritten_hash(sessions):
    await _append(sessions, 4)
    async with unit_of_work(sessions) as session:
        await _drop_triggers(session)
        await session.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    async with sessions() as session:
        verdict = await audit.verify(session)
    assert (verdict.intact, verdict.broken_at) == (False, 3)
    assert "missing" in verdict.reason


async def test_recomputed_hash_still_breaks_at_the_next_line(sessions):
    await _append(sessions, 3)
    async with unit_of_work(sessions) as session:
        await _drop_triggers(session)
        row = await session.get(AuditEntry, 2)
        row.object = "forged"
        row.hash = audit.entry_hash(row)
    async with sessions() as session:
        verdict = await audit.verify(session)
    assert (verdict.intact, verdict.broken_at) == (False, 3)


async def test_trail_act_records_success_in_the_act_and_failure_alone(sessions):
    trail = audit.Trail(sessions, ADMIN, lambda: MONDAY_10AM)
    async with trail.act(Event.USER_CREATE, "alice") as (_session, act):
        act.detail["role"] = "agent"
    with pytest.raises(InvalidInput):
        async with trail.act(Event.USER_CREATE, "bob"):
            raise InvalidInput("bad", code="weak_password")
    async with sessions() as session:
        rows, total = await audit.search(session, audit.AuditFilter(event="user"), 1, 10)
    assert total == 2
    assert [(r.object, r.result) for r in rows] == [("bob", "failure"), ("alice", "success")]
    assert rows[0].detail["error"] == "weak_password" and rows[1].detail == {"role": "agent"}


async def test_concurrent_appends_never_fork(sessions):
    """Many transactions appending at once (PostgreSQL: the advisory lock; SQLite here
    without the app's writer: the busy wait) still give one gapless chain."""

    async def one(i: int) -> None:
        for _attempt in range(20):
            try:
                async with unit_of_work(sessions) as session:
                    await audit.record(session, Event.EXPORT, ADMIN, str(i))
                return
            except DBAPIError:  # SQLite: two deferred transactions raced for the lock
                await asyncio.sleep(0.05)
        raise AssertionError("append never succeeded")

    await asyncio.gather(*(one(i) for i in range(12)))
    async with sessions() as session:
        verdict = await audit.verify(session)
        results = set(await session.scalars(select(AuditEntry.result)))
    assert verdict.intact and verdict.entries == 12
    assert results == {Result.SUCCESS}
