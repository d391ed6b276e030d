"""位置 → 地址 and the map layer (dispatch/geo.py) on a table of many positioned orders.

    .venv/bin/python benchmarks/web/geo_lookup.py [--orders 200000] [--lookups 300]

Builds a fresh SQLite database (migrations, the demo grid), copies one registered order
into `--orders` rows spread over a 28 x 29 km box around the demo city, then times
`geo.reverse` for random points of the grid (as an agent: every order visible) and
`geo.map_layer`, with the index `ix_orders_position` and after dropping it. Prints the
median and 95th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from page_load import settings_for  # noqa: E402

from accounts.domain import Actor, Role  # noqa: E402
from app.factory import create_app  # noqa: E402
from app.keys import DISPATCH, SESSIONS, SETTINGS  # noqa: E402
from dispatch import geo  # noqa: E402
from dispatch.storage import Order  # noqa: E402

BOX = (30.45, 30.70, 114.15, 114.45)  # south, north, west, east
GRID = (30.55, 30.60, 114.25, 114.31)  # the demo cells


async def fill(app: web.Application, count: int) -> None:
    actor = Actor("agent1", Role.AGENT)
    fields = {
        "channel": "inspector",
        "hotline": "12345",
        "content": "路灯不亮",
        "address": "模板地址",
        "type": "report",
        "urgency": "normal",
        "latitude": 30.57,
        "longitude": 114.27,
    }
    await app[DISPATCH].register(actor, fields)
    columns = [c.name for c in Order.__table__.columns if c.name != "id"]
    generated = {
        "number": "printf('B%012d', n)",
        "tracking_token": "printf('bench-token-%012d', n)",
        "address": "printf('测试地址%d号', n)",
        "latitude": f"{BOX[0]} + (abs(random()) % 1000000) / 1000000.0 * {BOX[1] - BOX[0]}",
        "longitude": f"{BOX[2]} + (abs(random()) % 1000000) / 1000000.0 * {BOX[3] - BOX[2]}",
    }
    select = ", ".join(generated.get(c, c) for c in columns)
    sql = (
        f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count}) "
        f"INSERT INTO orders ({', '.join(columns)}) SELECT {select} FROM seq, "
        "(SELECT * FROM orders LIMIT 1)"
    )
    async with app[SESSIONS]() as session:
        await session.execute(text(sql))
        await session.commit()
        await geo.load_demo_cells(session)
        await session.execute(text("ANALYZE"))


def summary(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"{name}: median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms ({len(ms)} runs)"


async def timed(app: web.Application, lookups: int) -> list[str]:
    rng = random.Random(1)
    actor = Actor("agent1", Role.AGENT)
    max_m = app[SETTINGS].web.reverse_geocode_max_m
    reverse, layer, hits = [], [], 0
    async with app[SESSIONS]() as session:
        for _ in range(lookups):
            lat, lng = rng.uniform(GRID[0], GRID[1]), rng.uniform(GRID[2], GRID[3])
            start = time.perf_counter()
            answer = await geo.reverse(session, actor, lat, lng, max_m)
            reverse.append(time.perf_counter() - start)
            hits += answer["source"] == "order"
        for _ in range(20):
            start = time.perf_counter()
            await geo.map_layer(session, actor)
            layer.append(time.perf_counter() - start)
    return [
        summary("reverse", reverse) + f", {hits} answered by an order",
        summary("map layer", layer),
    ]


async def main(count: int, lookups: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(settings_for(Path(tmp) / "geo.db"), scanner=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            start = time.perf_counter()
            await fill(app, count)
            print(f"{count} orders with a position in {time.perf_counter() - start:.1f} s")
            for line in await timed(app, lookups):
                print("with ix_orders_position:", line)
            async with app[SESSIONS]() as session:
                await session.execute(text("DROP INDEX ix_orders_position"))
                await session.commit()
            for line in await timed(app, lookups):
                print("without the index:      ", line)
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.lookups))
