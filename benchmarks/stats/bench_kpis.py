"""Time the one-month KPI table grouped by unit on a SQLite file with N orders.

    .venv/bin/python benchmarks/stats/bench_kpis.py                 # 1,000,000 orders
    .venv/bin/python benchmarks/stats/bench_kpis.py --orders 100000 --db /tmp/k.db

The schema comes from the real migrations; orders of one year (2026) and their event
logs are generated with plain `sqlite3` bulk inserts (a simplified but consistent life
cycle: direct answers, dispatch, returns and re-dispatch, acceptance, extensions,
replies, callbacks with ratings, reopening). The query timed is exactly the API's
(`stats.queries.kpi_table`), first without and then with the indexes the statistics
need (`STATS_INDEXES`, created by migrations 0005 and 0013: dropped for the first
timing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app import db
from dispatch.storage import KPI_INDEXES
from stats.domain import Dimension, Period, three_rate_weights
from stats.queries import KpiQuery, kpi_table

STATS_INDEXES = {
    # the covering indexes of the order sources (dispatch.storage.KPI_INDEXES)
    **{
        f"ix_orders_kpi_{name}": f"orders ({', '.join(columns)}, lead_unit_id, hotline_number)"
        for name, columns in KPI_INDEXES.items()
    },
    "ix_order_events_action_at": "order_events (action, at)",
    "ix_order_events_order_action_at": "order_events (order_id, action, at)",
}
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
HOTLINES = [
    ("12345", "12345政务服务便民热线", "central"),
    ("12319", "12319城建服务热线", "central"),
]
HOTLINES += [("12358", "12358价格监督举报热线", "external")]
HOTLINES += [("12350", "12350安全生产举报热线", "subplatform")]
DISTRICTS = ["东湖区", "西湖区", "青山湖区", "青云谱区", "新建区", "红谷滩区", "南昌县", "进贤县"]
CHANNELS = ["phone"] * 6 + ["web", "app", "wechat", "sms"]
TYPES = ["complaint", "consultation", "help", "report", "suggestion"]
SATISFACTION = ["satisfied"] * 7 + ["basic"] * 2 + ["dissatisfied"]
FMT = "%Y-%m-%d %H:%M:%S.%f"
# The month timed: June 2026 in Asia/Shanghai (UTC+8).
JUNE = Period(
    datetime(2026, 6, 1, tzinfo=UTC) - timedelta(hours=8),
    datetime(2026, 7, 1, tzinfo=UTC) - timedelta(hours=8),
)


def ts(at: datetime | None) -> str | None:
    """How UTCDateTime stores a value on SQLite: naive UTC text."""
    return None if at is None else at.replace(tzinfo=None).strftime(FMT)


class Generator:
    def __init__(self, conn: sqlite3.Connection, seed: int) -> None:
        self.conn = conn
        self.rng = random.Random(seed)
        self.units: list[tuple[int, str]] = []
        self.categories: list[str] = []
        self.agents: list[str] = [f"agent{i:02d}" for i in range(40)]

    def org(self) -> None:
        c = self.conn
        c.executemany("INSERT INTO hotlines (number, name, mode) VALUES (?, ?, ?)", HOTLINES)
        uid = 0
        for i in range(90):  # 二级 units, each with 0–3 三级 sub-units
            uid += 1
            top = uid
            c.execute(
                "INSERT INTO units (id, code, name, parent_id, path, level, active) "
                "VALUES (?, ?, ?, NULL, ?, 1, 1)",
                (top, f"U{i:02d}", f"二级单位{i:02d}", f"/{top}/"),
            )
            self.units.append((top, f"U{i:02d}"))
            for j in range(self.rng.randrange(4)):
                uid += 1
                c.execute(
                    "INSERT INTO units (id, code, name, parent_id, path, level, active) "
                    "VALUES (?, ?, ?, ?, ?, 2, 1)",
                    (uid, f"U{i:02d}-{j}", f"三级单位{i:02d}-{j}", top, f"/{top}/{uid}/"),
                )
                self.units.append((uid, f"U{i:02d}-{j}"))
        for i in range(60):
            code = f"C{i:02d}"
            self.categories.append(code)
            c.execute(
                "INSERT INTO categories (code, name, level) VALUES (?, ?, 1)",
                (code, f"分类{i:02d}"),
            )

    def order(self, oid: int, seconds_in_year: float):
        """(order row, event rows, flag rows) of one order."""
        rng = self.rng
        created = YEAR_START + timedelta(seconds=rng.uniform(0, seconds_in_year))
        agent = rng.choice(self.agents)
        urgency = "urgent" if rng.random() < 0.03 else "normal"
        kind = rng.choices(["direct", "invalid", "merged", "dispatch"], [8, 1, 2, 89])[0]
        reg = {"hotline": "12345", "channel": "phone", "type": "complaint", "urgency": urgency}
        events = [(created, agent, "agent", None, "register", None, "registered", reg)]
        o = {
            "state": "registered",
            "lead": None,
            "dispatched_at": None,
            "accept_due": None,
            "accepted_at": None,
            "finish_due": None,
            "replied_at": None,
            "closed_at": None,
            "answered_at": None,
            "last_callback_at": None,
            "extensions": 0,
            "returns": 0,
            "reopens": 0,
            "satisfaction": None,
            "resolved": None,
        }
        flags = []
        now = created
        if kind in ("invalid", "merged"):
            now += timedelta(minutes=5)
            action = "invalidate" if kind == "invalid" else "merge"
            events.append((now, agent, "agent", None, action, "registered", kind, {}))
            o["state"] = kind
        elif kind == "direct":
            now += timedelta(minutes=rng.uniform(2, 20))
            events.append((now, agent, "agent", None, "answer", "registered", "replied", {}))
            o["replied_at"], o["answered_at"], o["state"] = now, now, "replied"
            flags.append("direct")
            self._close(o, events, now)
        else:
            self._dispatch_cycle(o, events, now)
        return created, agent, urgency, o, events, flags

    def _dispatch_cycle(self, o, events, now) -> None:
        rng = self.rng
        unit_id, code = rng.choice(self.units)
        now += timedelta(minutes=rng.uniform(5, 240))
        o["dispatched_at"], o["lead"] = now, unit_id
        events.append((now, "dispatcher", "dispatcher", None, "dispatch", "registered",
                       "dispatched", {"unit": code, "co_units": []}))  # fmt: skip
        o["accept_due"] = now + timedelta(hours=2)
        o["finish_due"] = now + timedelta(days=14)
        if rng.random() < 0.06:  # 退单 and re-dispatch
            now += timedelta(minutes=rng.uniform(10, 300))
            events.append((now, "u", "unit", code, "return", "dispatched", "returned",
                           {"unit": code}))  # fmt: skip
            o["returns"] += 1
            unit_id, code = rng.choice(self.units)
            now += timedelta(minutes=rng.uniform(10, 600))
            events.append((now, "dispatcher", "dispatcher", None, "redispatch", "returned",
                           "dispatched", {"unit": code, "co_units": []}))  # fmt: skip
            o["lead"], o["accept_due"] = unit_id, now + timedelta(hours=2)
        now += timedelta(minutes=rng.expovariate(1 / 80))
        o["accepted_at"], o["state"] = now, "accepted"
        events.append((now, "u", "unit", code, "accept", "dispatched", "accepted", {"unit": code}))
        if rng.random() < 0.05:
            now += timedelta(days=rng.uniform(1, 5))
            events.append((now, "u", "unit", code, "extend_request", "accepted", "accepted",
                           {"days": 5}))  # fmt: skip
            events.append((now + timedelta(hours=2), "sup", "supervisor", None, "extend_decide",
                           "accepted", "accepted", {"approve": True, "days": 5}))  # fmt: skip
            o["extensions"], o["finish_due"] = 1, o["finish_due"] + timedelta(days=7)
        now += timedelta(days=rng.uniform(0.5, 17))
        o["replied_at"], o["state"] = now, "replied"
        events.append((now, "u", "unit", code, "reply", "accepted", "replied", {"unit": code}))
        self._close(o, events, now)

    def _close(self, o, events, now) -> None:
        rng = self.rng
        now += timedelta(hours=rng.uniform(1, 30))
        events.append((now, "sup", "supervisor", None, "review", "replied", "callback_pending",
                       {"approve": True}))  # fmt: skip
        o["state"] = "callback_pending"
        if rng.random() < 0.1:  # no callback yet
            return
        now += timedelta(hours=rng.uniform(1, 48))
        sat = rng.choice(SATISFACTION)
        resolved = sat != "dissatisfied" and rng.random() < 0.95
        good = sat != "dissatisfied" and resolved
        events.append((now, "agent00", "agent", None, "callback", "callback_pending",
                       "closed" if good else "callback_pending",
                       {"satisfaction": sat, "resolved": resolved}))  # fmt: skip
        o["satisfaction"], o["resolved"], o["last_callback_at"] = sat, resolved, now
        if good:
            o["state"], o["closed_at"] = "closed", now
        elif rng.random() < 0.5 and o["lead"] is not None:  # 核实属实: reopened
            now += timedelta(hours=5)
            events.append((now, "sup", "supervisor", None, "verify", "callback_pending",
                           "dispatched", {"valid": True}))  # fmt: skip
            o["reopens"], o["state"], o["replied_at"] = 1, "dispatched", None
            o["finish_due"] = now + timedelta(days=21)
        else:
            now += timedelta(hours=5)
            events.append((now, "sup", "supervisor", None, "verify", "callback_pending",
                           "closed", {"valid": False}))  # fmt: skip
            o["state"], o["closed_at"] = "closed", now

    def generate(self, n: int, batch: int = 20_000) -> None:
        seconds = 365 * 86400.0
        c = self.conn
        event_id = 0
        started = time.perf_counter()
        for first in range(1, n + 1, batch):
            orders, events, flags = [], [], []
            for oid in range(first, min(first + batch, n + 1)):
                created, agent, urgency, o, evs, fl = self.order(oid, seconds)
                rng = self.rng
                orders.append((
                    oid, f"{created:%Y%m%d}{oid:07d}", rng.choice(HOTLINES[:3])[0],
                    rng.choice(CHANNELS), rng.choice(TYPES), urgency, "楼道垃圾无人清理",
                    rng.choice(DISTRICTS), ts(created), agent, ts(created), f"t{oid}",
                    o["state"], rng.choice(self.categories), o["lead"], o["lead"],
                    ts(o["accept_due"]), ts(o["finish_due"]), ts(o["dispatched_at"]),
                    ts(o["accepted_at"]), ts(o["replied_at"]), ts(o["closed_at"]),
                    ts(o["answered_at"]), ts(o["last_callback_at"]), o["extensions"],
                    o["returns"], o["reopens"], o["satisfaction"], o["resolved"], 1,
                ))  # fmt: skip
                for seq, (at, actor, role, unit, action, frm, to, data) in enumerate(evs, 1):
                    event_id += 1
                    events.append((event_id, oid, seq, ts(at), actor, role, unit, action, frm,
                                   to, "", json.dumps(data, ensure_ascii=False)))  # fmt: skip
                flags.extend((oid, f) for f in fl)
            c.executemany(
                "INSERT INTO orders (id, number, hotline_number, channel, request_type, urgency,"
                " content, district, created_at, created_by, updated_at, tracking_token, state,"
                " category_code, lead_unit_id, assignee_unit_id, accept_due, finish_due,"
                " dispatched_at, accepted_at, replied_at, closed_at, answered_at,"
                " last_callback_at, extensions, return_count, reopen_count, satisfaction,"
                " resolved, version, confidential)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
                orders,
            )
            c.executemany(
                "INSERT INTO order_events (id, order_id, seq, at, actor, actor_role, actor_unit,"
                " action, from_state, to_state, note, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                events,
            )
            c.executemany("INSERT INTO order_flags (order_id, flag) VALUES (?, ?)", flags)
            c.commit()
            done = min(first + batch - 1, n)
            rate = done / (time.perf_counter() - started)
            print(f"\r  {done:>9,} / {n:,} orders, {event_id:,} events ({rate:,.0f} orders/s)",
                  end="", flush=True)  # fmt: skip
        print()


async def migrate(url: str) -> None:
    engine = db.create_engine(url)
    await db.migrate(engine)
    await engine.dispose()


async def time_query(url: str, period: Period, runs: int) -> list[float]:
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    weights = three_rate_weights({"ontime_accept": 0.2, "resolution": 0.4, "satisfaction": 0.4})
    query = KpiQuery(period, Dimension.UNIT, as_of=datetime(2027, 1, 1, tzinfo=UTC))
    times = []
    for _ in range(runs):
        async with sessions() as session:
            started = time.perf_counter()
            rows = await kpi_table(session, query, weights)
            times.append(time.perf_counter() - started)
    await engine.dispose()
    print(f"  {len(rows)} unit rows; first: {json.dumps(rows[0], ensure_ascii=False)[:160]}…")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--db", default="var/bench_stats.db")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep an existing database file")
    args = parser.parse_args()
    path = Path(args.db)
    url = f"sqlite+aiosqlite:///{path}"
    if not (args.reuse and path.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        asyncio.run(migrate(url))
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA synchronous=OFF")
        gen = Generator(conn, seed=12345)
        gen.org()
        print(f"generating {args.orders:,} orders into {path}")
        started = time.perf_counter()
        gen.generate(args.orders)
        conn.execute("ANALYZE")
        conn.commit()
        conn.close()
        print(f"  generated in {time.perf_counter() - started:.0f} s")
    period = JUNE
    conn = sqlite3.connect(path)
    orders = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]  # also with --reuse
    for name in STATS_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    conn.execute("ANALYZE")
    conn.commit()
    print("KPI table, June 2026 (Asia/Shanghai), grouped by unit — existing indexes only")
    base = asyncio.run(time_query(url, period, args.runs))
    print("  runs: " + ", ".join(f"{t:.3f} s" for t in base))
    started = time.perf_counter()
    for name, target in STATS_INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    print(f"with the statistics indexes (built in {time.perf_counter() - started:.0f} s)")
    indexed = asyncio.run(time_query(url, period, args.runs))
    print("  runs: " + ", ".join(f"{t:.3f} s" for t in indexed))
    print(f"RESULT orders={orders} median_without={statistics.median(base):.3f}s "
          f"median_with_indexes={statistics.median(indexed):.3f}s")  # fmt: skip


if __name__ == "__main__":
    main()
