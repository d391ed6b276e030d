"""The KPI benchmark on PostgreSQL: the SQLite data set of bench_kpis.py, copied.

    .venv/bin/python benchmarks/stats/bench_kpis.py --orders 1000000 --db /tmp/k.db
    .venv/bin/python benchmarks/stats/bench_kpis_pg.py --sqlite /tmp/k.db

Starts a throw-away local cluster (Debian's `postgresql`, as the tests do; fsync off,
otherwise the defaults: shared_buffers 128 MB, work_mem 4 MB) unless `--url` names a
server, builds the schema with the real migrations, copies every table with COPY
(asyncpg), runs ANALYZE and times the same call as the SQLite benchmark
(`stats.queries.kpi_table`, June 2026 grouped by unit).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg

from app import db
from benchmarks.stats.bench_kpis import JUNE, time_query

TABLES = ("hotlines", "units", "categories", "orders", "order_events", "order_flags")
BATCH = 50_000


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(row[1], row[2].upper()) for row in conn.execute(f"PRAGMA table_info({table})")]


def _converter(kind: str):
    if kind in ("DATETIME", "TIMESTAMP"):
        return lambda v: None if v is None else datetime.fromisoformat(v)
    if kind == "BOOLEAN":
        return lambda v: None if v is None else bool(v)
    return lambda v: v


async def copy(source: Path, url: str) -> None:
    lite = sqlite3.connect(source)
    pg = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        # The copy is a bulk load: the log's append-only triggers do not fire on COPY
        # anyway; foreign keys are checked, so parents go first (TABLES' order).
        for table in TABLES:
            columns = _columns(lite, table)
            names = [n for n, _k in columns]
            convert = [_converter(k) for _n, k in columns]
            total = lite.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            cursor = lite.execute(f"SELECT {', '.join(names)} FROM {table}")
            done, started = 0, time.perf_counter()
            while rows := cursor.fetchmany(BATCH):
                records = [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in rows]
                await pg.copy_records_to_table(table, records=records, columns=names)
                done += len(rows)
                rate = done / (time.perf_counter() - started)
                print(f"\r  {table}: {done:,} / {total:,} ({rate:,.0f} rows/s)", end="", flush=True)
            print()
        print("  ANALYZE")
        await pg.execute("ANALYZE")
    finally:
        await pg.close()
        lite.close()


async def run(source: Path, base: str, runs: int) -> None:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"{base}/{name}"
    engine = db.create_engine(url)
    await db.migrate(engine)
    await engine.dispose()
    started = time.perf_counter()
    await copy(source, url)
    print(f"  copied in {time.perf_counter() - started:.0f} s")
    times = await time_query(url, JUNE, runs)
    print("  runs: " + ", ".join(f"{t:.3f} s" for t in times))
    print(f"RESULT postgresql median={statistics.median(times):.3f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", required=True, help="a database made by bench_kpis.py")
    parser.add_argument("--url", help="postgresql+asyncpg://user@host:port (no database name)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    source = Path(args.sqlite)
    if not source.exists():
        parser.error(f"{source} does not exist: run benchmarks/stats/bench_kpis.py first")
    if args.url:
        asyncio.run(run(source, args.url, args.runs))
        return
    from tests.postgres import local_server

    with local_server() as base:
        asyncio.run(run(source, base, args.runs))


if __name__ == "__main__":
    main()
