"""Citizens' SMS under load through the real Kannel: fakesmsc (Kannel's fake SMSC
client) sends --messages SMS to the hotline at one every --interval seconds; each
travels bearerbox → smsbox → its get-url → the app, becomes an order of channel `sms`
(one transaction: order, SMS record, acknowledgement in the outbox), and the outbox
worker hands each acknowledgement to Kannel's sendsms, which delivers it back to
fakesmsc.

    .venv/bin/python benchmarks/integrations/sms_load.py [--messages 500] [--interval 0.01]

One SMS goes through first (warm-up, not counted). Prints one JSON line: orders
registered and acknowledgements delivered, the time from the first SMS sent until the
last of each (polled every 0.2 s) and the rates that makes, the span between the first
and the last order's registration, CPU seconds of this process (the app and its outbox
worker) and the load average before and after. The database is SQLite
in a temp dir. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.factory import create_app  # noqa: E402
from app.keys import OUTBOX, SESSIONS  # noqa: E402
from config import load_settings  # noqa: E402
from dispatch.storage import Order  # noqa: E402
from tests.integrations.kannel import Kannel, free_tcp_port  # noqa: E402

SECRET = "bench-inbound-secret"
PLACES = ["东湖路", "解放路", "人民路", "建设路", "滨江路", "青年路"]
PROBLEMS = ["路灯不亮", "井盖缺失", "噪音扰民", "垃圾未清运", "占道经营", "漏水严重"]


def texts(count: int) -> list[tuple[str, str, str]]:
    rng = random.Random(7)
    out = []
    for i in range(count):
        text = f"{rng.choice(PLACES)}{rng.randint(1, 300)}号{rng.choice(PROBLEMS)},第{i}条"
        out.append((f"139{i:08d}", "12345", text))
    return out


async def main(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sms-load-"))
    kannel = Kannel(work / "kannel")
    settings = load_settings(environ={"HOTLINE_DB_URL": f"sqlite+aiosqlite:///{work / 'h.db'}"})
    settings.classifiers.category_model = "/dev/null/no-model"
    settings.sip.enabled = False
    settings.sms.enabled, settings.sms.sendsms_url = True, kannel.sendsms_url
    settings.sms.username, settings.sms.password = "hotline", kannel.secret
    settings.sms.inbound_secret = SECRET
    settings.server.public_url = "https://12345.example.gov.cn"
    app = create_app(settings, scanner=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    kannel.configure(f"http://127.0.0.1:{port}/api/v1/sms/inbound", SECRET)
    await asyncio.to_thread(kannel.start)

    running = True

    async def worker() -> None:  # stopped between rounds: never cancelled mid-transaction
        while running:
            sent, failed = await app[OUTBOX].deliver_due()
            if not sent and not failed:
                await asyncio.sleep(0.05)

    task = asyncio.create_task(worker())
    # Warm-up: one SMS through the whole path (jieba's dictionary, first connections).
    kannel.citizens_send([("13700000000", "12345", "预热短信,路灯不亮")])
    while not any(r.to == "13700000000" for r in kannel.received()):
        await asyncio.sleep(0.2)
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    kannel.citizens_send(texts(args.messages), interval=args.interval)
    orders = acks = 0
    orders_done = acks_done = None
    deadline = start + args.timeout
    while time.monotonic() < deadline and (orders < args.messages or acks < args.messages):
        await asyncio.sleep(0.2)
        async with app[SESSIONS]() as session:
            orders = await session.scalar(select(func.count(Order.id))) - 1
        acks = sum(1 for r in kannel.received() if r.to.startswith("139"))
        now = time.monotonic() - start
        if orders >= args.messages and orders_done is None:
            orders_done = now
        if acks >= args.messages and acks_done is None:
            acks_done = now
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    async with app[SESSIONS]() as session:
        first, last = (
            await session.execute(
                select(func.min(Order.created_at), func.max(Order.created_at)).where(
                    Order.caller_phone.like("139%")
                )
            )
        ).one()
    running = False
    await task
    kannel.close()
    await runner.cleanup()
    span = (last - first).total_seconds() if first and last else 0
    return {
        "messages": args.messages,
        "interval_s": args.interval,
        "offered_per_s": round(1 / args.interval, 1) if args.interval else None,
        "orders": orders,
        "orders_per_s": round(orders / orders_done, 1) if orders_done else None,
        "orders_first_to_last_s": round(span, 2),
        "orders_done_s": round(orders_done, 1) if orders_done else None,
        "acks_delivered": acks,
        "acks_per_s": round(acks / acks_done, 1) if acks_done else None,
        "acks_done_s": round(acks_done, 1) if acks_done else None,
        "cpu_s": round((cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime), 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=300)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
