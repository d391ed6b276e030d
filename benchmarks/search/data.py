"""A SQLite file with N open orders for the search and scan benchmarks, made quickly.

The schema comes from the real migrations (so the FTS5 table and its triggers are
there); the orders are plain `sqlite3` bulk inserts, as in benchmarks/stats/bench_kpis.py:
one year of dispatched (20 %) and accepted (80 %) orders of 90 二级 units with varied
addresses, caller phones and contents, each with its `order_units` scope row and no
event log (the lists and the search read none). `copy_to_postgres` loads the same rows
into a PostgreSQL database built by the migrations, the indexes of migration 0016
rebuilt after the load.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from app import db
from benchmarks.stats.bench_kpis_pg import _columns, _converter
from dispatch.storage import SEARCH_TABLE

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the benchmarks' "now": Tuesday 10:00
FMT = "%Y-%m-%d %H:%M:%S.%f"
HOTLINES = [
    ("12345", "12345政务服务便民热线", "central"),
    ("12319", "12319城建服务热线", "central"),
]
DISTRICTS = ["东湖区", "西湖区", "青山湖区", "青云谱区", "新建区", "红谷滩区", "南昌县", "进贤县"]
ROAD_NAMES = "幸福 和平 民主 解放 建设 人民 胜利 光明 长征 青年 学府 丰和"
ESTATE_NAMES = "阳光 锦绣 翠苑 金域 绿地 万达 保利 恒大 碧桂 怡园 枫林 桂花 紫荆"
ROADS = [a + b for a in ROAD_NAMES.split(" ") for b in ("路", "大道", "街", "巷")]
ESTATES = [a + b for a in ESTATE_NAMES.split(" ") for b in ("小区", "花园", "家园", "公寓", "新村")]
ISSUES = [
    "楼道垃圾无人清理", "夜间施工噪音扰民", "小区停水三天无人通知", "路灯损坏晚上漆黑一片",
    "物业乱收停车费", "电梯经常故障困人", "下水道堵塞污水外溢", "占道经营影响通行",
    "违章搭建阻挡消防通道", "公交车不按站停靠", "油烟直排影响居民", "广场舞音量过大",
    "共享单车乱停乱放", "窨井盖缺失存在隐患", "绿化带被毁改种蔬菜", "外卖电动车楼道充电",
]  # fmt: skip
DETAILS = ["多次反映未解决", "希望尽快处理", "老人小孩出行不便", "请相关部门核实",
           "已持续一个多月", "影响正常生活", "要求给出答复"]  # fmt: skip
# Parents first: foreign keys are checked during the copy.
TABLES = (
    "hotlines",
    "units",
    "categories",
    "orders",
    "order_units",
    "order_events",
    "order_flags",
    "order_sequences",
)
SERIALS = ("orders", "order_events")
BATCH = 50_000
# Migration 0016's indexes, dropped before a bulk load and made again after it.
PG_LOAD_INDEXES = ("ix_orders_search_trgm", "ix_orders_queue_accept", "ix_orders_queue_finish")


def ts(at: datetime | None) -> str | None:
    """How UTCDateTime stores a value on SQLite: naive UTC text."""
    return None if at is None else at.replace(tzinfo=None).strftime(FMT)


def org(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    conn.executemany("INSERT INTO hotlines (number, name, mode) VALUES (?, ?, ?)", HOTLINES)
    units = []
    for i in range(1, 91):
        code = f"U{i:02d}"
        conn.execute(
            "INSERT INTO units (id, code, name, parent_id, path, level, active) "
            "VALUES (?, ?, ?, NULL, ?, 1, 1)",
            (i, code, f"二级单位{i:02d}", f"/{i}/"),
        )
        units.append((i, code))
    return units


def generate(conn: sqlite3.Connection, n: int, seed: int = 12345, batch: int = 20_000) -> None:
    rng = random.Random(seed)
    units = org(conn)
    per_day: dict[str, int] = {}
    started = time.perf_counter()
    for first in range(1, n + 1, batch):
        orders, scope = [], []
        for oid in range(first, min(first + batch, n + 1)):
            created = NOW - timedelta(seconds=rng.uniform(3600, 365 * 86400))
            day = created.strftime("%Y%m%d")
            per_day[day] = per_day.get(day, 0) + 1
            district = rng.choice(DISTRICTS)
            road, estate = rng.choice(ROADS), rng.choice(ESTATES)
            building, room = rng.randrange(1, 40), rng.randrange(101, 3009)
            address = f"{district}{road}{rng.randrange(1, 300)}号{estate}{building}栋{room}室"
            content = f"{estate}{rng.randrange(1, 40)}栋{rng.choice(ISSUES)},{rng.choice(DETAILS)}"
            phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
            unit_id, _code = rng.choice(units)
            dispatched = created + timedelta(minutes=rng.uniform(5, 240))
            accepted = rng.random() < 0.8
            accept_due = dispatched + timedelta(hours=2)
            finish_due = dispatched + timedelta(days=rng.choice((3, 7, 14, 21)))
            # Alarms already raised stay raised: what is left is in the future, or nothing.
            later = NOW + timedelta(minutes=rng.uniform(1, 20 * 1440))
            alarm = later if rng.random() < 0.7 else None
            orders.append((
                oid, f"{day}{per_day[day]:06d}", rng.choice(HOTLINES)[0], "phone", "complaint",
                "normal", content, phone, address, district, ts(created), "agent01",
                ts(created), f"t{oid}", "accepted" if accepted else "dispatched", unit_id,
                unit_id, ts(accept_due), ts(finish_due), ts(alarm), ts(dispatched),
                ts(dispatched + timedelta(minutes=30)) if accepted else None,
            ))  # fmt: skip
            scope.append((oid, unit_id, "lead"))
        conn.executemany(
            "INSERT INTO orders (id, number, hotline_number, channel, request_type, urgency,"
            " content, caller_phone, address, district, created_at, created_by, updated_at,"
            " tracking_token, state, lead_unit_id, assignee_unit_id, accept_due, finish_due,"
            " next_alarm_at, dispatched_at, accepted_at, extensions, return_count, reopen_count,"
            " version, confidential)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,0,0,1,0)",
            orders,
        )
        conn.executemany("INSERT INTO order_units (order_id, unit_id, role) VALUES (?,?,?)", scope)
        conn.commit()
        done = min(first + batch - 1, n)
        rate = done / (time.perf_counter() - started)
        print(f"\r  {done:>9,} / {n:,} orders ({rate:,.0f} orders/s)", end="", flush=True)
    conn.executemany("INSERT INTO order_sequences (day, last) VALUES (?, ?)", per_day.items())
    conn.commit()
    print()


def build(path: Path, n: int, reuse: bool) -> None:
    """Make (or, with `reuse`, keep) the SQLite file with `n` orders."""
    if reuse and path.exists():
        return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    asyncio.run(db.migrate(engine))
    asyncio.run(engine.dispose())
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    # Loading into a table without its indexes and triggers, then building them, is
    # several times faster than keeping them up to date row by row.
    deferred = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN ('orders', 'order_units')"
        " AND type IN ('index', 'trigger') AND sql IS NOT NULL"
    ).fetchall()
    for kind, name, _sql in deferred:
        conn.execute(f"DROP {kind.upper()} {name}")
    print(f"generating {n:,} orders into {path}")
    started = time.perf_counter()
    generate(conn, n)
    print(f"  inserted in {time.perf_counter() - started:.0f} s; building indexes and FTS5")
    for _kind, _name, sql in deferred:
        conn.execute(sql)
    conn.execute(f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}) VALUES ('rebuild')")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    print(f"  generated in {time.perf_counter() - started:.0f} s")


async def copy_to_postgres(source: Path, base: str) -> str:
    """A new database on the server at `base`, migrated and loaded; its URL."""
    name = f"bench_{int(time.time())}"
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = f"{base}/{name}"
    engine = db.create_engine(url)
    await db.migrate(engine)
    await engine.dispose()
    pg = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        definitions = [
            await pg.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", name)
            for name in PG_LOAD_INDEXES
        ]
        for name in PG_LOAD_INDEXES:
            await pg.execute(f"DROP INDEX {name}")
        started = time.perf_counter()
        await _copy(source, pg)
        print(f"  copied in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        await pg.execute("SET maintenance_work_mem = '256MB'")
        for definition in definitions:
            await pg.execute(definition)
        await pg.execute("VACUUM ANALYZE")  # statistics and visibility map, as autovacuum would
        print(f"  indexes of 0016 built in {time.perf_counter() - started:.0f} s")
    finally:
        await pg.close()
    return url


async def _copy(source: Path, pg: asyncpg.Connection) -> None:
    lite = sqlite3.connect(source)
    try:
        for table in TABLES:
            columns = _columns(lite, table)
            names = [n for n, _k in columns]
            convert = [_converter(k) for _n, k in columns]
            cursor = lite.execute(f"SELECT {', '.join(names)} FROM {table}")
            while rows := cursor.fetchmany(BATCH):
                records = [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in rows]
                await pg.copy_records_to_table(table, records=records, columns=names)
        for table in SERIALS:  # rows came with their ids: new rows continue after them
            await pg.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
    finally:
        lite.close()
