"""CPU per registration and per suggestion, in one process (issue 11).

Builds the real app (`create_app`, demo data, the category model in `--model` or trained
from the TipDM data) on a throw-away SQLite database or a private PostgreSQL, and posts
the same varied texts as `register_load.py` one after another through aiohttp's test
client. Prints CPU ms per request (`time.process_time` of this process, the client's share included;
with `--workers N` the worker processes' CPU is not in it: that is the work moved off
the event loop's core)
and, with `--profile`, the top functions of a cProfile run (CPU time of the event
loop's thread, so waits on other processes do not count).

    .venv/bin/python benchmarks/load/register_cpu.py --model /tmp/model
    .venv/bin/python benchmarks/load/register_cpu.py --model /tmp/model --profile orders
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.demo import DEMO_PASSWORD, load_demo
from app.factory import create_app
from app.keys import SUGGESTER
from benchmarks.load.register_load import postgres_url, request_texts, train_model
from config import load_settings


def bodies(endpoint: str, texts: list[str]) -> list[dict]:
    out = []
    for i, text in enumerate(texts):
        body = {"content": text, "hotline": "12345", "caller_phone": f"139{i:08d}"}
        if endpoint == "orders":
            body |= {"channel": "phone", "type": "complaint"}
        out.append(body)
    return out


async def measure(db_url: str, model: Path, args: argparse.Namespace) -> None:
    settings = load_settings(
        environ={
            "HOTLINE_DB_URL": db_url,
            "HOTLINE_SIP_ENABLED": "0",
            "HOTLINE_CATEGORY_MODEL": str(model),
            "HOTLINE_LOG_LEVEL": "WARNING",
            "HOTLINE_READING_WORKERS": str(args.workers),
        }
    )
    app = create_app(settings, scanner=False)
    async with TestClient(TestServer(app)) as client:
        await load_demo(app)
        login = {"username": "agent1", "password": DEMO_PASSWORD}
        token = (await (await client.post("/api/v1/auth/token", json=login)).json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        texts = request_texts()
        for endpoint in args.target:
            posts = bodies(endpoint, texts)
            for body in posts[:20]:  # warm-up
                (await client.post(f"/api/v1/{endpoint}", json=body, headers=headers)).release()
            await _pool_ready(client, headers, app[SUGGESTER].pool)
            profiler = cProfile.Profile(time.thread_time) if args.profile == endpoint else None
            start, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            for i in range(args.requests):
                resp = await client.post(
                    f"/api/v1/{endpoint}", json=posts[i % len(posts)], headers=headers
                )
                assert resp.status in (200, 201), await resp.text()
                await resp.read()
            if profiler:
                profiler.disable()
            cpu = (time.process_time() - start) * 1000 / args.requests
            took = (time.perf_counter() - wall) * 1000 / args.requests
            result = {"endpoint": endpoint, "db": db_url.split(":")[0], "cpu_ms": round(cpu, 2)}
            result["wall_ms"] = round(took, 2)
            if profiler:
                stats = pstats.Stats(profiler)
                # Python calls per request: a measure of the work that the machine's other
                # load does not disturb (the CPU figures above it does)
                result["calls_per_request"] = round(stats.total_calls / args.requests)
            print(json.dumps(result), flush=True)
            if profiler and args.top:
                stats.sort_stats(args.sort).print_stats(args.top)


async def _pool_ready(client: TestClient, headers: dict, pool) -> None:
    """With --workers: ask new texts until the worker processes answer (their start-up
    is not part of the figure)."""
    for i in range(600):
        if pool is None or pool.ready:
            return
        body = {"content": f"预热 {i}", "hotline": "12345"}
        (await client.post("/api/v1/suggestions", json=body, headers=headers)).release()
        await asyncio.sleep(0.05)
    raise SystemExit("the reading pool did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target", nargs="+", default=["orders", "suggestions"], choices=["orders", "suggestions"]
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--model", type=Path, help="a trained category model (else trained)")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="reading pool worker processes ([classifiers] reading_workers; 0: in-process)",
    )
    parser.add_argument("--profile", choices=["orders", "suggestions"])
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--top", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotline-cpu-") as tmp:
        work = Path(tmp)
        model = args.model or train_model(work)
        with postgres_url() if args.postgres else contextlib.nullcontext() as pg:
            url = pg or f"sqlite+aiosqlite:///{work / 'cpu.db'}"
            asyncio.run(measure(url, model, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
