"""Daily KPI sums (issue 11): a month's KPI table from ~30 rows per unit, not 10M orders.

`kpi_daily` holds, per local day, unit and hotline, every measure of stats/queries.py
over that day's rows of the measure's source: what the KPI query sums over a period
made of whole days (`queries.daily_plan`). `accept_judged` holds only the accepted
orders: which others count depends on the query's "as of" (their accept deadline has
passed), so the query reads those from the orders not accepted (a small partial index).

The sums are kept current by marks. Every change of an order marks the local days of
its anchor times before and after the change and of the event (`subscriber`, in the
change's transaction: no change is committed without its marks). The leader's job
(`run`, every `ROUND_SECONDS`) reads the marks, computes each marked day again from the
rows, and replaces that day's sums, records it computed (`kpi_days`) and removes the
marks it read in one transaction. A change committed meanwhile leaves a mark the job
did not read: its day is computed again in the next round.

The KPI query reads every computed day from the sums and any other (before the first
round after an upgrade) from the rows. So a change shows in the KPIs within one round
(ROUND_SECONDS plus the round's own time), and after the round the table equals the
query over the rows (tests/stats/test_rollup.py). Reading the marked days from the rows
instead would be exact at every instant, but on a busy centre every day with an order
being handled is marked at any moment: a month query read most of its days from the
rows (10M orders a year, PostgreSQL: +0.5 s per marked day; bench_daily.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import delete, func, insert, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import insert_rows, unit_of_work, utcnow
from app.keys import DISPATCH, SESSIONS
from dispatch.services import Appended, UnitDirectory
from dispatch.storage import Order, OrderEvent
from stats.domain import Period
from stats.queries import DAILY_CONDITIONS, MEASURES, SOURCES, source_facts
from stats.storage import KpiDaily, KpiDay, KpiMark

log = logging.getLogger(__name__)

ROUND_SECONDS = 30  # between the job's rounds
# A busy centre writes ~2 marks per change (400 changes/s: 24,000 a round), most of
# them for today; a round reads up to this many and removes those it read, by id.
MARKS_PER_ROUND = 50_000
DELETE_CHUNK = 5_000  # ids per DELETE statement
# Advisory-lock key (PostgreSQL): two nodes briefly both leaders write a day in turn.
ROLLUP_LOCK = 0x12345_0003


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def subscriber(tz: ZoneInfo) -> Callable:
    """The dispatch subscriber that marks the days an order's change touches."""

    async def on_appended(session: AsyncSession, appended: Appended, units: UnitDirectory) -> None:
        days = sorted({local_day(at, tz) for at in appended.times})
        await insert_rows(session, [KpiMark(day=day) for day in days])

    return on_appended


async def day_rows(session: AsyncSession, day: date, tz: ZoneInfo) -> list[dict]:
    """The `kpi_daily` rows of one local day, computed from the orders and events."""
    period = Period(
        datetime.combine(day, time(), tz), datetime.combine(day + timedelta(days=1), time(), tz)
    )
    branches = [
        source_facts(
            source,
            {"unit_id": source.unit_id, "hotline": Order.hotline_number},
            period,
            conditions=DAILY_CONDITIONS,
        )
        for source in SOURCES
    ]
    facts = union_all(*branches).subquery("facts")
    sums = (func.sum(facts.c[m.name]).label(m.name) for m in MEASURES)
    stmt = select(facts.c.unit_id, facts.c.hotline, *sums).group_by(
        facts.c.unit_id, facts.c.hotline
    )
    return [dict(row) for row in (await session.execute(stmt)).mappings()]


async def refresh(
    sessions: async_sessionmaker[AsyncSession], tz: ZoneInfo, limit: int = MARKS_PER_ROUND
) -> int:
    """Compute the marked days again (up to `limit` marks); returns how many days."""
    async with sessions() as session:
        stmt = select(KpiMark.id, KpiMark.day).order_by(KpiMark.id).limit(limit)
        marks = (await session.execute(stmt)).all()
    read: dict[date, list[int]] = defaultdict(list)
    for mark_id, day in marks:
        read[day].append(mark_id)
    for day, ids in sorted(read.items()):
        async with sessions() as session:
            rows = await day_rows(session, day, tz)
        async with unit_of_work(sessions) as session:
            if session.bind.dialect.name == "postgresql":
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                await session.execute(lock, {"key": ROLLUP_LOCK})
            await session.execute(delete(KpiDaily).where(KpiDaily.day == day))
            if rows:
                await session.execute(insert(KpiDaily), [{"day": day, **row} for row in rows])
            await session.execute(delete(KpiDay).where(KpiDay.day == day))
            session.add(KpiDay(day=day, computed_at=utcnow()))
            for at in range(0, len(ids), DELETE_CHUNK):
                chunk = ids[at : at + DELETE_CHUNK]
                await session.execute(delete(KpiMark).where(KpiMark.id.in_(chunk)))
    return len(read)


async def mark_all(sessions: async_sessionmaker[AsyncSession], tz: ZoneInfo) -> int:
    """Mark every local day that may hold rows, from the day before the first order to
    the day after the latest time any order or event holds; returns how many. For rows
    the service did not write (a restore, a bulk load) and after `[calendar] timezone`
    changed (the sums' days are local days)."""
    async with sessions() as session:
        first = await session.scalar(select(func.min(Order.created_at)))
        if first is None:
            return 0
        columns = (Order.created_at, Order.finish_due, OrderEvent.at)
        lasts = [await session.scalar(select(func.max(column))) for column in columns]
    day = local_day(first, tz) - timedelta(days=1)
    end = max(local_day(at, tz) for at in lasts if at is not None) + timedelta(days=1)
    days = [day + timedelta(days=n) for n in range((end - day).days + 1)]
    async with unit_of_work(sessions) as session:
        await session.execute(insert(KpiMark), [{"day": d} for d in days])
    return len(days)


async def run(app: web.Application) -> None:
    """The leader's job: a round every ROUND_SECONDS (tests call `refresh`)."""
    service = app[DISPATCH]
    while True:
        try:
            started = asyncio.get_running_loop().time()
            days = await refresh(app[SESSIONS], service.tz)
            if days:
                took = asyncio.get_running_loop().time() - started
                log.info("KPI daily sums: %d day(s) computed again in %.2f s", days, took)
        except Exception:  # the next round tries again; queries read marked days raw
            log.exception("KPI daily sums failed; next round in %d s", ROUND_SECONDS)
        await asyncio.sleep(ROUND_SECONDS)
