"""The 督办 board's alarm list: five single-flag queries vs one `OrderFilter(flags=...)`.

    .venv/bin/python benchmarks/web/alarm_lists.py DEMO.db [...]

DEMO.db: a demo database, e.g. saved by `page_load.py --per-day 100 --keep FILE`
(copied first, never written). Prints the median of 15 rounds of each way, same process.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from page_load import settings_for  # noqa: E402

from accounts.domain import Actor, Role  # noqa: E402
from app.factory import create_app  # noqa: E402
from app.keys import DISPATCH  # noqa: E402
from dispatch.services import OrderFilter  # noqa: E402
from web.screens.queues import ALARM_FLAGS, ALARM_LIMIT  # noqa: E402

ROUNDS = 15


async def compare(source: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "copy.db"
        shutil.copyfile(source, db)
        app = create_app(settings_for(db), scanner=False)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            service, actor = app[DISPATCH], Actor("supervisor1", Role.SUPERVISOR)
            five, one = [], []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                seen = set()
                for flag in ALARM_FLAGS:
                    rows, *_ = await service.list(actor, OrderFilter(flag=flag), 1, 100)
                    seen.update(o.number for o in rows)
                middle = time.perf_counter()
                rows, *_ = await service.list(actor, OrderFilter(flags=ALARM_FLAGS), 1, ALARM_LIMIT)
                five.append(middle - start)
                one.append(time.perf_counter() - middle)
        finally:
            await runner.cleanup()
    return (
        f"{source}: five lists {statistics.median(five) * 1000:.1f} ms ({len(seen)} orders), "
        f"one list {statistics.median(one) * 1000:.1f} ms ({len(rows)} orders)"
    )


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(asyncio.run(compare(Path(path))))
