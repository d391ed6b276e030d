"""Call records in the `calls` table: saved in batches, listed, closed after a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.db import unit_of_work
from callcenter import domain, storage
from callcenter.domain import Outcome

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def test_records_round_trip_and_update_in_place(sessions):
    offered = domain.offer("a" * 32, "12345", "13800138000", T0, "cid-1")
    other = domain.offer("b" * 32, "12319", "13900139000", T0 + timedelta(seconds=1))
    async with unit_of_work(sessions) as session:
        await storage.save(session, [offered, other])
    done = domain.end(domain.answer(offered, T0 + timedelta(seconds=2)), T0 + timedelta(60))
    async with unit_of_work(sessions) as session:
        await storage.save(session, [done])
    async with sessions() as session:
        assert await storage.list_calls(session) == [done, other]
        assert await storage.list_calls(session, hotline="12319") == [other]
        assert await storage.list_calls(session, since=T0 + timedelta(seconds=1)) == [other]
        assert await storage.list_calls(session, until=T0 + timedelta(seconds=1)) == [done]


async def test_records_left_open_by_a_crash_are_closed_per_intake_node(sessions):
    answered = domain.answer(domain.offer("a" * 32, "12345", "1", T0, intake="n1"), T0)
    ringing = domain.offer("b" * 32, "12345", "2", T0, intake="n1")
    elsewhere = domain.offer("c" * 32, "12345", "3", T0, intake="n2")  # still ringing
    queued = domain.enqueue(
        domain.answer(domain.offer("d" * 32, "12345", "4", T0, intake="n1"), T0), "general", T0
    )
    async with unit_of_work(sessions) as session:
        await storage.save(session, [answered, ringing, elsewhere, queued])
    async with unit_of_work(sessions) as session:
        assert await storage.close_unfinished(session, "n1", T0 + timedelta(minutes=5)) == 3
    async with sessions() as session:
        outcomes = [r.outcome for r in await storage.list_calls(session)]
    assert outcomes == [Outcome.COMPLETED, Outcome.FAILED, None, Outcome.FAILED]


async def test_callbacks_after_their_calls_and_pages(sessions):
    calls = [
        domain.end(
            domain.enqueue(
                domain.answer(domain.offer(f"{i:032d}", "12319", "138", T0), T0), "g", T0
            ),
            T0 + timedelta(seconds=30 + i),
        )
        for i in range(3)
    ]
    async with unit_of_work(sessions) as session:
        await storage.save(session, calls)
        await storage.add_callbacks(
            session,
            [
                storage.CallbackEntry(c.id, "12319", "138", "abandoned", c.ended_at, "g", 30.0)
                for c in calls
            ],
        )
    async with sessions() as session:
        rows, total = await storage.page_callbacks(session, page=2, page_size=2)
        assert total == 3 and [r.call_id for r in rows] == [calls[2].id]
        assert rows[0].state == "open" and rows[0].wait_seconds == 30.0
        page, total = await storage.page_calls(session, hotline="12319", page_size=2)
        assert total == 3 and [r.id for r in page] == [calls[2].id, calls[1].id]
        assert page[0].outcome is Outcome.ABANDONED and page[0].queue == "g"
        assert await storage.page_calls(session, hotlines=frozenset({"12345"})) == ([], 0)
