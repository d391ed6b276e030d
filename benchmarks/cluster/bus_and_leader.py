"""Cluster plumbing on a private PostgreSQL: bus latency and leader takeover.

    .venv/bin/python benchmarks/cluster/bus_and_leader.py [--messages 2000] [--takeovers 5]

- NOTIFY latency: node a publishes (app.bus.PgBus) a message with its send time, node b's
  handler takes the time on arrival; p50/p95/max over `--messages` (one at a time).
- Leader takeover: node a leads (app.leader.PgLeader), its election connection is killed
  (pg_terminate_backend, as when its node dies), and the time until node b leads is
  measured; `--poll` is `[cluster] leader_poll_seconds` (default 1 s, as configured).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from app.bus import PgBus, asyncpg_dsn  # noqa: E402
from app.leader import PgLeader  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def bus_latency(url: str, messages: int) -> list[float]:
    a, b = PgBus("a", url), PgBus("b", url)
    await a.start()
    await b.start()
    arrived: asyncio.Queue[float] = asyncio.Queue()
    b.subscribe("ping", lambda data: arrived.put_nowait(time.perf_counter() - data["at"]))
    latencies = []
    try:
        for _ in range(messages):
            await a.publish("ping", {"at": time.perf_counter()})
            latencies.append(await asyncio.wait_for(arrived.get(), 5) * 1000)
    finally:
        await a.stop()
        await b.stop()
    return latencies


async def takeover(url: str, poll: float) -> float:
    a, b = PgLeader("a", url, poll), PgLeader("b", url, poll)
    await a.start()
    await b.start()
    try:
        assert a.is_leader and not b.is_leader
        admin = await asyncpg.connect(asyncpg_dsn(url))
        try:
            # Node a dies: its election loop stops, its session ends.
            a._runner.cancel()
            start = time.perf_counter()
            await admin.fetchval("SELECT pg_terminate_backend($1)", a.backend_pid)
        finally:
            await admin.close()
        while not b.is_leader:
            await asyncio.sleep(0.005)
        return time.perf_counter() - start
    finally:
        await b.stop()
        await a.stop()


async def main(args: argparse.Namespace) -> None:
    from tests.postgres import create_database, local_server

    with local_server() as base:
        url = await create_database(base)
        await bus_latency(url, 50)  # warm-up
        latencies = await bus_latency(url, args.messages)
        takeovers = [await takeover(url, args.poll) for _ in range(args.takeovers)]
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"NOTIFY latency over {len(latencies)} messages: "
        f"p50 {statistics.median(latencies):.2f} ms, "
        f"p95 {percentile(latencies, 0.95):.2f} ms, max {max(latencies):.2f} ms"
    )
    print(
        f"leader takeover (poll {args.poll:g} s) over {len(takeovers)} kills: "
        f"median {statistics.median(takeovers):.2f} s, max {max(takeovers):.2f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--takeovers", type=int, default=5)
    parser.add_argument("--poll", type=float, default=1.0, help="leader_poll_seconds")
    asyncio.run(main(parser.parse_args()))
