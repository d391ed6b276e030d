"""Capacity of a cluster: concurrent bridged and recorded conversations per node.

    .venv/bin/python benchmarks/cluster/capacity.py [--nodes 2] [--calls 500]
        [--rate 20] [--hold-ms 40000] [--agents-per-node 300]

Starts the cluster with scripts/cluster.sh (HOTLINE_CLUSTER_SETUP=0: run
`scripts/setup.sh --cluster` once before), then SIPp callers dial 12345 at Kamailio,
press 1 (RFC 2833) and stay --hold-ms; Kamailio spreads them over the nodes by Call-ID;
each node bridges the caller to a free agent and records both legs. The agents' phones
are one SIPp UAS (`-rtp_echo`) reached at fixed URIs; each node has its own
--agents-per-node agents (the live ACD is per node until the shared-state work lands),
logged in through that node's HTTP. With --calls callers placed in calls/rate seconds
and each held --hold-ms, all of them talk at once when hold > calls/rate.
Prints one JSON line: SIPp results, bridged calls per node, peak conversations per node
(sampled from the call records), CPU seconds / share over the run and in cores over
10 s of the plateau (everyone talking), peak RSS per node, and the load average.
A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from accounts.storage import ApiToken, User  # noqa: E402
from app.db import create_engine  # noqa: E402
from tests.callcenter.conftest import free_port, ivr_scenario  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks" / "callcenter"))
from intake_load import sipp_counts  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def peak_rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


async def add_agents(db_url: str, count: int) -> list[str]:
    """Agents with API tokens written straight into the database (no password hashing
    for hundreds of users); returns the tokens."""
    engine = create_engine(db_url)
    tokens = [f"capacity-agent-{i}" for i in range(1, count + 1)]
    expires = datetime.now(UTC) + timedelta(days=1)
    async with engine.begin() as conn:
        start = (await conn.execute(text("SELECT coalesce(max(id), 0) FROM users"))).scalar()
        ids = range(start + 1, start + count + 1)
        await conn.execute(
            insert(User),
            [
                {"id": uid, "username": f"agent{i}", "password_hash": "x", "role": "agent"}
                for i, uid in enumerate(ids, 1)
            ],
        )
        await conn.execute(
            insert(ApiToken),
            [
                {"token_hash": hashlib.sha256(t.encode()).hexdigest(), "user_id": uid,
                 "expires_at": expires}
                for t, uid in zip(tokens, ids, strict=True)
            ],
        )  # fmt: skip
    await engine.dispose()
    return tokens


async def login_agents(nodes: list[dict], tokens: list[str], per_node: int, uas: str) -> None:
    """Agent k logs in on node k // per_node, through that node's own HTTP."""
    sem = asyncio.Semaphore(8)

    async def one(http: aiohttp.ClientSession, k: int, token: str) -> None:
        node = nodes[k // per_node]
        body = {"action": "login", "sip_uri": f"sip:agent{k + 1}@{uas}"}
        headers = {"Authorization": f"Bearer {token}"}
        async with sem, http.put(f"{node['http']}/api/v1/agents/me", json=body,
                                 headers=headers) as resp:  # fmt: skip
            assert resp.status == 200, await resp.text()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(http, k, t) for k, t in enumerate(tokens)))


async def talking(db_url: str) -> dict[str, int]:
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT intake, count(*) FROM calls WHERE answered_at IS NOT NULL "
                "AND ended_at IS NULL GROUP BY intake"
            )
        )
        result = {r[0]: r[1] for r in rows}
    await engine.dispose()
    return result


async def main(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="hotline-capacity-"))
    env = dict(os.environ, HOTLINE_CLUSTER_SETUP="0")
    script = str(ROOT / "scripts" / "cluster.sh")
    subprocess.run([script, "start", str(work), "--nodes", str(args.nodes)], env=env, check=True)
    uas = None
    try:
        cluster = json.loads((work / "cluster.json").read_text())
        nodes = cluster["nodes"]
        uas_port = free_port()
        uas = await asyncio.create_subprocess_exec(
            "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-mi", "127.0.0.1",
            "-mp", str(free_port(span=4)), "-rtp_echo", "-nostdin", "-max_socket", "4000",
            cwd=work, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        tokens = await add_agents(cluster["db_url"], args.agents_per_node * len(nodes))
        await login_agents(nodes, tokens, args.agents_per_node, f"127.0.0.1:{uas_port}")
        inject = work / "calls.csv"
        inject.write_text("SEQUENTIAL\n" + "".join(f"12345;1380013{i:04d};\n" for i in range(1000)))
        steps = [("pause", 500), ("rfc2833", "1"), ("pause", args.hold_ms)]
        scenario = ivr_scenario(work, "capacity", steps, "bye")
        cpu0 = {n["name"]: cpu_seconds(n["pid"]) for n in nodes}
        wall0 = time.monotonic()
        sipp = await asyncio.create_subprocess_exec(
            "sipp", cluster["sip"], "-sf", str(scenario), "-inf", str(inject),
            "-m", str(args.calls), "-r", str(args.rate), "-l", str(args.calls + 100),
            "-t", "u1", "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1",
            "-mp", str(free_port(span=4)), "-nostdin", "-timeout", "900s",
            "-timeout_error", "-max_socket", "4000",
            cwd=work, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        reader = asyncio.create_task(sipp.communicate())
        peak: dict[str, int] = {}
        peak_total = 0
        load_at_peak = None
        # CPU over 10 s of the plateau (every caller talking to an agent).
        plateau: dict[str, float] = {}
        plateau_start = plateau_cores = None
        while not reader.done():
            now = await talking(cluster["db_url"])
            clock = time.monotonic()
            if plateau_start is None and sum(now.values()) >= args.calls:
                plateau_start = clock
                plateau = {n["name"]: cpu_seconds(n["pid"]) for n in nodes}
            elif plateau_start is not None and plateau_cores is None and clock > plateau_start + 10:
                plateau_cores = {
                    n["name"]: round((cpu_seconds(n["pid"]) - plateau[n["name"]]) /
                                     (clock - plateau_start), 2)
                    for n in nodes
                }  # fmt: skip
            for name, count in now.items():
                peak[name] = max(peak.get(name, 0), count)
            if sum(now.values()) > peak_total:
                peak_total, load_at_peak = sum(now.values()), os.getloadavg()
            await asyncio.sleep(1)
        out = (await reader)[0].decode(errors="replace")
        wall = time.monotonic() - wall0
        await asyncio.sleep(2)
        engine = create_engine(cluster["db_url"])
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT intake, count(*) FROM calls WHERE agent IS NOT NULL "
                         "GROUP BY intake")
                )
            ).all()  # fmt: skip
        await engine.dispose()
        per_node = {}
        for n in nodes:
            cpu = cpu_seconds(n["pid"]) - cpu0[n["name"]]
            per_node[n["name"]] = {
                "bridged": dict(rows).get(n["name"], 0),
                "peak_conversations": peak.get(n["name"], 0),
                "cpu_s": round(cpu, 1),
                "cpu_share": round(cpu / wall, 2),
                "peak_rss_mb": peak_rss_mb(n["pid"]),
                "plateau_cores": (plateau_cores or {}).get(n["name"]),
            }
        counts = sipp_counts(out)
        return {
            "nodes": len(nodes),
            "calls": args.calls,
            "rate": args.rate,
            "hold_ms": args.hold_ms,
            "sipp_exit": sipp.returncode,
            "successful": counts["Successful call"],
            "failed": counts["Failed call"],
            "peak_conversations": peak_total,
            "wall_s": round(wall, 1),
            "per_node": per_node,
            "loadavg_at_peak": load_at_peak,
            "loadavg_end": os.getloadavg(),
        }
    finally:
        if uas is not None and uas.returncode is None:
            uas.terminate()
            await uas.wait()
        subprocess.run([script, "stop", str(work)], env=env)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=int, default=20)
    parser.add_argument("--hold-ms", type=int, default=40000)
    parser.add_argument("--agents-per-node", type=int, default=300)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
