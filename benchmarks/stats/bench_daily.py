"""The KPI month by unit from the daily sums (stats/rollup.py) against the raw query, at
10M orders on PostgreSQL (issue 11: < 2 s, checked equal to the raw query).

    .venv/bin/python benchmarks/stats/bench_kpis.py --orders 1000000 --db /tmp/k1m.db
    .venv/bin/python benchmarks/stats/bench_kpis_pg.py --sqlite /tmp/k1m.db --url URL
    .venv/bin/python benchmarks/stats/bench_daily.py --url URL/bench_… --times 10

On the database bench_kpis_pg.py loaded (1M orders, 5.9M events of 2026), `--times N`
first copies its orders, events and flags N-1 times more under new ids, numbers and
tokens (the same year: N times the orders of every day; the search's trigram index is
dropped for the copy, no KPI query reads it). Then: the raw query (`kpi_table` without
the time zone, June 2026 by unit, `--runs` times), the first computation of every day
(what migration 0034 leaves to the job: every day marked, one `rollup.refresh`), the
query from the daily sums (`--runs` times), and both tables compared.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import func, select, text

from app import db
from benchmarks.stats.bench_kpis import JUNE
from stats import rollup
from stats.domain import Dimension, three_rate_weights
from stats.queries import KpiQuery, kpi_table
from stats.storage import KpiMark

TZ = ZoneInfo("Asia/Shanghai")  # JUNE is June 2026 in UTC+8
WEIGHTS = three_rate_weights({"ontime_accept": 0.2, "resolution": 0.4, "satisfaction": 0.4})
QUERY = KpiQuery(JUNE, Dimension.UNIT, as_of=datetime(2027, 1, 1, tzinfo=UTC))


async def columns(conn, table: str) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = :t ORDER BY ordinal_position"
        ),
        {"t": table},
    )
    return [r[0] for r in rows]


async def replicate(engine, times: int) -> None:
    """N-1 more copies of the orders, events and flags (PostgreSQL)."""
    async with engine.begin() as conn:
        await conn.execute(text("DROP INDEX IF EXISTS ix_orders_search_trgm"))
        top = await conn.scalar(text("SELECT max(id) FROM orders"))
        top_event = await conn.scalar(text("SELECT max(id) FROM order_events"))
        order_cols = await columns(conn, "orders")
        event_cols = await columns(conn, "order_events")
    special = {
        "id": "id + :off",
        "number": "number || :suffix",
        "tracking_token": "tracking_token || '-' || :suffix",
        "parent_id": "parent_id + :off",
    }
    pick = ", ".join(special.get(c, c) for c in order_cols)
    pick_events = ", ".join(
        {"id": "id + :eoff", "order_id": "order_id + :off"}.get(c, c) for c in event_cols
    )
    for k in range(1, times):
        started = time.perf_counter()
        params = {"off": k * top, "eoff": k * top_event, "suffix": f"{k:02d}", "top": top}
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"INSERT INTO orders ({', '.join(order_cols)}) "
                    f"SELECT {pick} FROM orders WHERE id <= :top"
                ),
                params,
            )
            await conn.execute(
                text(
                    f"INSERT INTO order_events ({', '.join(event_cols)}) "
                    f"SELECT {pick_events} FROM order_events WHERE order_id <= :top"
                ),
                params,
            )
            await conn.execute(
                text(
                    "INSERT INTO order_flags (order_id, flag) "
                    "SELECT order_id + :off, flag FROM order_flags WHERE order_id <= :top"
                ),
                params,
            )
        print(f"  copy {k + 1} of {times}: {time.perf_counter() - started:.0f} s", flush=True)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))


async def timed(sessions, runs: int, tz: ZoneInfo | None) -> tuple[list[float], list[dict]]:
    times, rows = [], []
    for _ in range(runs):
        async with sessions() as session:
            started = time.perf_counter()
            rows = await kpi_table(session, QUERY, WEIGHTS, tz=tz)
            times.append(time.perf_counter() - started)
    return times, rows


async def main_async(url: str, times: int, runs: int) -> None:
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    try:
        if times > 1:
            print(f"copying the data {times - 1} more times")
            await replicate(engine, times)
        async with sessions() as session:
            orders = await session.scalar(text("SELECT count(*) FROM orders"))
            events = await session.scalar(text("SELECT count(*) FROM order_events"))
        print(f"{orders:,} orders, {events:,} events")
        raw_times, raw = await timed(sessions, runs, None)
        print("raw query:   " + ", ".join(f"{t:.2f} s" for t in raw_times))
        # every day of the data marked, as migration 0034 leaves an existing database
        await rollup.mark_all(sessions, TZ)
        started = time.perf_counter()
        days = await rollup.refresh(sessions, TZ)
        print(f"first computation of {days} days: {time.perf_counter() - started:.1f} s")
        async with sessions() as session:
            assert not await session.scalar(select(func.count()).select_from(KpiMark))
        daily_times, daily = await timed(sessions, runs, TZ)
        print("daily sums:  " + ", ".join(f"{t:.3f} s" for t in daily_times))
        same = daily == raw
        print(f"equal to the raw query: {same} ({len(raw)} unit rows)")
        print(
            f"RESULT orders={orders} raw_median={statistics.median(raw_times):.2f}s "
            f"daily_median={statistics.median(daily_times):.3f}s equal={same}"
        )
        if not same:
            sys.exit(1)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        required=True,
        help="postgresql+asyncpg://… of a loaded database (or sqlite+aiosqlite)",
    )
    parser.add_argument(
        "--times", type=int, default=1, help="copy the data up to N times first (PostgreSQL)"
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main_async(args.url, args.times, args.runs))


if __name__ == "__main__":
    main()
