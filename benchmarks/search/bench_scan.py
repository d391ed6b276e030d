"""Time the deadline scanner (`DispatchService.scan`) over 1M open orders, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/search/bench_search.py --orders 1000000 --db /tmp/s.db
    .venv/bin/python benchmarks/search/bench_scan.py --source /tmp/s.db --due 1000 --postgres

The open orders are those of benchmarks/search/data.py (copied, never written): their
remaining alarms lie in the future, or none is left. To that, `--due` orders whose
alarms are due now are added: one order goes through the real service (登记, 派单,
签收, a month ago) and its row, scope and event log are copied `--due` times, so each
copy has a true log to replay. Timed: the selection of the due orders alone (the
scanner's query, on the `next_alarm_at` index), then one `scan()` round, which raises
overdue and escalated on every copy (two events each, with their notifications), then
a second round with nothing left to raise.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import func, select

from accounts.domain import Actor, Role, UnitRef
from app import db
from benchmarks.search import data
from config import load_settings
from dispatch import notifications
from dispatch.services import DispatchService
from dispatch.storage import Order

AGENT = Actor("agent01", Role.AGENT)
DISPATCHER = Actor("dispatcher", Role.DISPATCHER)
UNIT = Actor("u01", Role.UNIT, UnitRef(1, "U01", "二级单位01", "/1/"))
BATCH = 1000  # the scanner's own limit per round


def service_for(url: str, now) -> tuple[DispatchService, object]:
    engine = db.create_engine(url)
    settings = load_settings(environ={"HOTLINE_DB_URL": url})
    service = DispatchService(db.session_factory(engine), settings, now)
    service.subscribers.append(functools.partial(notifications.notify, email=False))
    return service, engine


async def template(path: Path) -> int:
    """One order registered, dispatched and accepted a month ago; its id."""
    clock = [data.NOW - timedelta(days=30)]
    service, engine = service_for(f"sqlite+aiosqlite:///{path}", lambda: clock[0])
    try:
        fields = {"hotline": "12345", "channel": "phone", "type": "consultation"}
        fields |= {"urgency": "normal", "content": "楼道垃圾无人清理", "address": "幸福路1号"}
        number = (await service.register(AGENT, fields)).order.number
        clock[0] += timedelta(minutes=20)
        await service.act(DISPATCHER, number, "dispatch", {"unit": "U01"})
        clock[0] += timedelta(minutes=20)
        detail = await service.act(UNIT, number, "accept", {})
        return detail.order.id
    finally:
        await engine.dispose()


def clone(path: Path, source_id: int, copies: int) -> None:
    """`copies` copies of the order `source_id`: new id, number and token, same log."""
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(orders)")]
    row = dict(
        zip(
            columns,
            conn.execute("SELECT * FROM orders WHERE id = ?", (source_id,)).fetchone(),
            strict=True,
        )
    )
    events = conn.execute(
        "SELECT seq, at, actor, actor_role, actor_unit, action, from_state, to_state, note, data"
        " FROM order_events WHERE order_id = ? ORDER BY seq",
        (source_id,),
    ).fetchall()
    scope = conn.execute(
        "SELECT unit_id, role FROM order_units WHERE order_id = ?", (source_id,)
    ).fetchall()
    first = conn.execute("SELECT MAX(id) FROM orders").fetchone()[0] + 1
    for oid in range(first, first + copies):
        copy = {**row, "id": oid, "number": f"D{oid:012d}", "tracking_token": f"due{oid}"}
        conn.execute(
            f"INSERT INTO orders ({', '.join(copy)}) VALUES ({', '.join('?' * len(copy))})",
            list(copy.values()),
        )
        conn.executemany(
            "INSERT INTO order_events (order_id, seq, at, actor, actor_role, actor_unit, action,"
            " from_state, to_state, note, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(oid, *event) for event in events],
        )
        conn.executemany(
            "INSERT INTO order_units (order_id, unit_id, role) VALUES (?,?,?)",
            [(oid, *unit) for unit in scope],
        )
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


async def time_scan(url: str) -> None:
    service, engine = service_for(url, lambda: data.NOW)
    try:
        await service.reload_calendar()
        async with service.sessions() as session:
            open_orders = await session.scalar(
                select(func.count()).where(Order.state.in_(["dispatched", "accepted"]))
            )
            query = (
                select(Order.number)
                .where(Order.next_alarm_at <= data.NOW)
                .order_by(Order.next_alarm_at)
                .limit(BATCH)
            )
            times = []
            for _ in range(5):
                started = time.perf_counter()
                due = list(await session.scalars(query))
                times.append((time.perf_counter() - started) * 1000)
        print(
            f"  selection of due orders among {open_orders:,} open: {len(due)} found,"
            f" best {min(times):.1f} ms, median {sorted(times)[2]:.1f} ms"
        )
        for round_ in (1, 2):
            started = time.perf_counter()
            raised = await service.scan()
            took = time.perf_counter() - started
            per = f", {took / len(raised) * 1000:.1f} ms per alarm" if raised else ""
            print(f"  scan round {round_}: {len(raised)} alarms raised in {took:.2f} s{per}")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="a database made by bench_search.py")
    parser.add_argument("--due", type=int, default=1000, help="orders whose alarms are due")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--url", help="postgresql+asyncpg://user@host:port (no database name)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path(args.source).parent) as tmp:
        path = Path(tmp) / "scan.db"
        print(f"copying {args.source}")
        with sqlite3.connect(args.source) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        source_id = asyncio.run(template(path))
        clone(path, source_id, args.due)
        pristine = Path(tmp) / "pristine.db"
        if args.postgres or args.url:
            shutil.copyfile(path, pristine)  # PostgreSQL gets the rows before this scan
        print(f"SQLite {sqlite3.sqlite_version}: {args.due} due orders among the open ones")
        asyncio.run(time_scan(f"sqlite+aiosqlite:///{path}"))
        if not (args.postgres or args.url):
            return

        async def on_postgres(base: str) -> None:
            url = await data.copy_to_postgres(pristine, base)
            print(f"PostgreSQL, {url}")
            await time_scan(url)

        if args.url:
            asyncio.run(on_postgres(args.url))
            return
        from tests.postgres import local_server

        with local_server() as base:
            asyncio.run(on_postgres(base))


if __name__ == "__main__":
    main()
