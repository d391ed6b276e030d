"""Time order search (`q=`) and the work-queue lists at 1M orders, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/search/bench_search.py                     # 1,000,000 orders
    .venv/bin/python benchmarks/search/bench_search.py --orders 100000 --db /tmp/s.db
    .venv/bin/python benchmarks/search/bench_search.py --reuse --postgres  # both databases

The data (benchmarks/search/data.py) are bulk inserts into a migrated SQLite file; with
`--postgres` they are copied into a throw-away local cluster (Debian's `postgresql`, as
the tests start it, LC_CTYPE C.UTF-8) or the server `--url` names. The call timed is the
API's (`DispatchService.list`: the count, stopped past 1,000 for a search, and the first
page of 50, as a supervisor who sees every order): queries by full order number, full
caller phone, its last four digits, a 5-character fragment of an address, a 4-character
fragment of a content, each drawn from random orders; and the queues (a unit's accepted
orders, every accepted order) by running deadline. Prints p50/p95 per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from accounts.domain import Actor, Role, UnitRef
from app import db
from benchmarks.search import data
from config import load_settings
from dispatch.services import DispatchService, OrderFilter

SUPERVISOR = Actor("supervisor", Role.SUPERVISOR)
UNIT = Actor("u07", Role.UNIT, UnitRef(7, "U07", "二级单位07", "/7/"))
PAGE_SIZE = 50


def queries(path: Path, per_kind: int, seed: int) -> dict[str, list[tuple[Actor, OrderFilter]]]:
    """Search terms drawn from random orders of the file, and the queue lists."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    top = conn.execute("SELECT MAX(id) FROM orders").fetchone()[0]

    def rows(k: int) -> list[tuple[str, str, str, str]]:
        ids = [rng.randrange(1, top + 1) for _ in range(k)]
        marks = ",".join("?" * len(ids))
        sql = f"SELECT number, caller_phone, address, content FROM orders WHERE id IN ({marks})"
        return conn.execute(sql, ids).fetchall()

    def fragment(text: str, size: int) -> str:
        start = rng.randrange(0, len(text) - size + 1)
        return text[start : start + size]

    sample = rows(per_kind)
    conn.close()
    terms = {
        "number": [r[0] for r in sample],
        "phone": [r[1] for r in sample],
        "phone last 4": [r[1][-4:] for r in sample],
        "address 5 chars": [fragment(r[2], 5) for r in sample],
        "content 4 chars": [fragment(r[3], 4) for r in sample],
    }
    lists = {kind: [(SUPERVISOR, OrderFilter(q=t)) for t in found] for kind, found in terms.items()}
    lists["queue: unit, accepted"] = [(UNIT, OrderFilter(state="accepted"))] * 20
    lists["queue: all, accepted"] = [(SUPERVISOR, OrderFilter(state="accepted"))] * 20
    lists["queue: all, dispatched"] = [(SUPERVISOR, OrderFilter(state="dispatched"))] * 20
    return lists


async def time_lists(url: str, lists: dict[str, list[tuple[Actor, OrderFilter]]]) -> None:
    engine = db.create_engine(url)
    settings = load_settings(environ={"HOTLINE_DB_URL": url})
    service = DispatchService(db.session_factory(engine), settings, lambda: data.NOW)
    try:
        for actor, filters in next(iter(lists.values()))[:5]:  # warm the connection pool
            await service.list(actor, filters, 1, PAGE_SIZE)
        for kind, calls in lists.items():
            times, totals, capped = [], [], 0
            for actor, filters in calls:
                started = time.perf_counter()
                found = await service.list(actor, filters, 1, PAGE_SIZE)
                times.append((time.perf_counter() - started) * 1000)
                totals.append(found.total)
                capped += not found.exact
            p50 = statistics.median(times)
            p95 = statistics.quantiles(times, n=20, method="inclusive")[-1]
            print(
                f"  {kind:<24} n={len(times):<3} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"
                f"  max {max(times):7.1f} ms  matches median {statistics.median(totals):,.0f}"
                f" max {max(totals):,}  counts capped {capped}"
            )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--db", default="var/bench_search.db")
    parser.add_argument("--reuse", action="store_true", help="keep an existing database file")
    parser.add_argument("--per-kind", type=int, default=60, help="queries of each kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--url", help="postgresql+asyncpg://user@host:port (no database name)")
    parser.add_argument("--pg-database", help="with --url: a database loaded before, reused")
    args = parser.parse_args()
    path = Path(args.db)
    data.build(path, args.orders, args.reuse)
    lists = queries(path, args.per_kind, args.seed)
    print(f"SQLite {sqlite3.sqlite_version}, {path}")
    asyncio.run(time_lists(f"sqlite+aiosqlite:///{path}", lists))
    if not (args.postgres or args.url):
        return

    async def on_postgres(base: str) -> None:
        if args.pg_database:
            url = f"{base}/{args.pg_database}"
        else:
            url = await data.copy_to_postgres(path, base)
        print(f"PostgreSQL, {url}")
        await time_lists(url, lists)

    if args.url:
        asyncio.run(on_postgres(args.url))
        return
    from tests.postgres import local_server

    with local_server() as base:
        asyncio.run(on_postgres(base))


if __name__ == "__main__":
    main()
