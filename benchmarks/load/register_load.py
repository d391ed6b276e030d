"""Registration and live-suggestion load on one node (issue 11), measured with wrk.

Starts the real service (`run.py --demo`: demo units, users, KB and orders; SIP off) in
its own process on a throw-away database, with the category model trained from the
TipDM data, logs in as an agent and drives one endpoint with wrk (one thread, 16
connections by default) posting varied Chinese requests: TipDM message titles and
opening sentences, rotated per request. Then reads the service's own event-loop lag
histogram from /metrics.

    .venv/bin/python benchmarks/load/register_load.py                      # both endpoints, SQLite
    .venv/bin/python benchmarks/load/register_load.py --target orders --duration 30
    .venv/bin/python benchmarks/load/register_load.py --postgres           # a private PostgreSQL
    .venv/bin/python benchmarks/load/register_load.py --profile 8          # py-spy for 8 s too

Prints one JSON line per endpoint: requests/s, latency p50/p95/p99 (wrk), non-2xx and
socket errors, event-loop lag p99 (upper bound of its histogram bucket), orders in the
database before and after. A measurement, not a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.demo import DEMO_PASSWORD  # noqa: E402

TIPDM = ROOT.parent / "shared" / "data" / "tipdm2020"
PYTHON = ROOT / ".venv" / "bin" / "python"
LAG_METRIC = "hotline_event_loop_lag_seconds"
TEXTS = 400  # distinct request texts rotated by the wrk script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_texts(limit: int = TEXTS) -> list[str]:
    """Varied citizen requests: a TipDM title plus the opening of its message."""
    texts = []
    with (TIPDM / "unlabelled.jsonl").open(encoding="utf-8") as rows:
        for line in rows:
            row = json.loads(line)
            opening = re.split(r"[。！？!?]", row["text"])[0][:80]
            texts.append(f"{row['title']}。{opening}")
            if len(texts) == limit:
                break
    return texts


def wrk_script(path: Path, endpoint: str, texts: list[str], token: str, unique: bool) -> None:
    """A Lua script that posts the texts in turn, each with its own caller number;
    `unique`: each request's text ends with its own count (no text is seen twice)."""
    bodies = []
    for i, text in enumerate(texts):
        body = {"content": text + ("(第#N#次)" if unique else ""), "hotline": "12345"}
        if endpoint == "orders":
            body |= {"channel": "phone", "type": "complaint", "caller_phone": f"139{i:08d}"}
        else:
            body |= {"caller_phone": f"139{i:08d}"}
        bodies.append(json.dumps(body, ensure_ascii=False))
    lua_bodies = ",\n".join("[==[" + b + "]==]" for b in bodies)
    path.write_text(
        f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local bodies = {{
{lua_bodies}
}}
local i = 0
request = function()
  i = i + 1
  local body = string.gsub(bodies[(i % #bodies) + 1], "#N#", tostring(i))
  return wrk.format(nil, "/api/v1/{endpoint}", nil, body)
end
""",
        encoding="utf-8",
    )


def parse_wrk(output: str) -> dict:
    def millis(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", output, re.M)
        result[f"p{pct}_ms"] = round(millis(match.group(1)), 2) if match else None
    result["requests"] = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    errors = re.search(r"Socket errors: (.*)", output)
    result["socket_errors"] = errors.group(1).strip() if errors else "none"
    return result


def latency_p95(output: str) -> float | None:
    """wrk's --latency table has 50/75/90/99 only: p95 comes from the Lua `done` hook."""
    match = re.search(r"^p95_ms=([\d.]+)$", output, re.M)
    return float(match.group(1)) if match else None


DONE_HOOK = """
done = function(summary, latency, requests)
  io.write(string.format("p95_ms=%.2f\\n", latency:percentile(95) / 1000))
end
"""


def lag_buckets(metrics: str) -> dict[float, float]:
    buckets = {}
    pattern = rf'^{LAG_METRIC}_bucket{{le="([^"]+)"}} ([\d.e+]+)$'
    for le, count in re.findall(pattern, metrics, re.M):
        buckets[float(le)] = float(count)
    return buckets


def lag_p99(before: dict[float, float], after: dict[float, float]) -> float | None:
    """Upper bound (seconds) of the bucket holding the 99th percentile of the samples
    taken between the two readings."""
    delta = {le: after[le] - before.get(le, 0.0) for le in after}
    total = delta.get(float("inf"), 0.0)
    if not total:
        return None
    for le in sorted(delta):
        if delta[le] >= 0.99 * total:
            return le
    return None


@contextlib.contextmanager
def postgres_url():
    from tests.postgres import create_database, local_server

    with local_server() as base:
        yield asyncio.run(create_database(base))


@contextlib.contextmanager
def service(db_url: str, model_dir: Path, work: Path, workers: int | str = 1):
    port = free_port()
    env = dict(os.environ)
    env |= {
        "HOTLINE_DB_URL": db_url,
        "HOTLINE_PORT": str(port),
        "HOTLINE_SIP_ENABLED": "0",
        "HOTLINE_CATEGORY_MODEL": str(model_dir),
        "HOTLINE_SCAN_INTERVAL": "60",
        "HOTLINE_LOG_LEVEL": "WARNING",
        # One agent's token drives the whole load: the per-user limit is not measured here.
        "HOTLINE_USER_REQUESTS_PER_WINDOW": "100000000",
        "HOTLINE_WORKERS": str(workers),
    }
    log = (work / "service.log").open("w")
    proc = subprocess.Popen(
        [str(PYTHON), "run.py", "--demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"service exited; see {work / 'service.log'}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.3)
        yield proc, base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def get(base: str, path: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(base + path, headers=headers) as resp:
        return await resp.text()


async def login(base: str, user: str) -> str:
    async with aiohttp.ClientSession() as http:
        body = {"username": user, "password": DEMO_PASSWORD}
        async with http.post(base + "/api/v1/auth/token", json=body) as resp:
            return (await resp.json())["token"]


async def order_count(base: str, token: str) -> int:
    return json.loads(await get(base, "/api/v1/orders?page_size=1", token))["total"]


def reading_pool_up(metrics: str) -> bool:
    """The reading pool answers, or there is none ([classifiers] reading_workers 0)."""
    values = dict(re.findall(r"^hotline_(reading_pool_\w+) (\S+)$", metrics, re.M))
    return float(values.get("reading_pool_workers", 0)) == 0 or (
        float(values.get("reading_pool_ready", 0)) == 1
    )


def train_model(work: Path) -> Path:
    out = work / "model"
    subprocess.run(
        [
            *(str(PYTHON), "-m", "classifiers", "train"),
            *("--data", str(TIPDM / "labelled.jsonl"), "--out", str(out), "--cv-folds", "0"),
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def run(args: argparse.Namespace, db_url: str, work: Path, model: Path) -> list[dict]:
    results = []
    with service(db_url, model, work, args.workers) as (proc, base):
        token = asyncio.run(login(base, "agent1"))
        for endpoint in args.target:
            script = work / f"{endpoint}.lua"
            wrk_script(script, endpoint, request_texts(), token, args.unique)
            script.write_text(script.read_text(encoding="utf-8") + DONE_HOOK, encoding="utf-8")
            # warm-up: models, KB index, connection pools, and the reading pool's worker
            # processes (their start is not part of the figure; /metrics tells when up)
            for _ in range(30):
                subprocess.run(
                    ["wrk", "-t1", "-c4", "-d2s", "-s", str(script), base],
                    check=True,
                    capture_output=True,
                )
                if reading_pool_up(asyncio.run(get(base, "/metrics"))):
                    break
            before_orders = asyncio.run(order_count(base, token))
            before = lag_buckets(asyncio.run(get(base, "/metrics")))
            cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
            cmd += ["--latency", "-s", str(script), base]
            profiler = None
            if args.profile:
                profiler = subprocess.Popen(
                    [
                        *(str(ROOT / ".venv" / "bin" / "py-spy"), "record", "-p", str(proc.pid)),
                        *("-d", str(args.profile), "-o", str(work / f"{endpoint}.txt")),
                        *("--format", "raw"),
                        "--nonblocking",
                        *(["--subprocesses"] if args.workers != 1 else []),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            output = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            if profiler:
                profiler.wait()
            after = lag_buckets(asyncio.run(get(base, "/metrics")))
            result = {"endpoint": f"POST /api/v1/{endpoint}", "db": db_url.split(":")[0]}
            result |= parse_wrk(output)
            result["p95_ms"] = latency_p95(output)
            p99 = lag_p99(before, after)
            result["loop_lag_p99_ms"] = None if p99 is None else round(p99 * 1000, 1)
            result["orders_added"] = asyncio.run(order_count(base, token)) - before_orders
            if args.profile:
                result["profile"] = str(work / f"{endpoint}.txt")
            results.append(result)
            print(json.dumps(result, ensure_ascii=False), flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target", nargs="+", default=["orders", "suggestions"], choices=["orders", "suggestions"]
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL server")
    parser.add_argument("--profile", type=int, default=0, help="py-spy seconds (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--model", type=Path, help="a trained category model (else trained)")
    parser.add_argument(
        "--workers",
        type=lambda value: value if value == "auto" else int(value),
        default=1,
        help='[server] workers (a number or "auto", the default config\'s)',
    )
    parser.add_argument(
        "--unique", action="store_true", help="no text twice (no per-text cache hits)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="hotline-load-"))
    try:
        model = args.model or train_model(work)
        if args.postgres:
            with postgres_url() as url:
                run(args, url, work, model)
        else:
            run(args, f"sqlite+aiosqlite:///{work / 'load.db'}", work, model)
    finally:
        if not args.keep and not args.profile:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory: {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
