"""Capacity of a cluster: concurrent bridged and recorded conversations per node.

    .venv/bin/python benchmarks/cluster/capacity.py [--nodes 2] [--calls 500]
        [--rate 20] [--hold-ms 40000] [--agents-per-node 300] [--no-speech]

Starts the cluster with scripts/cluster.sh (HOTLINE_CLUSTER_SETUP=0: run
`scripts/setup.sh --cluster` once before), then SIPp callers dial 12345 at Kamailio,
press 1 (RFC 2833), then talk for --hold-ms: each streams Mandarin speech (espeak-ng,
made at start, PCMU in a loop: SIPp's rtp_stream) until it hangs up. Kamailio spreads
them over the nodes by Call-ID; each node bridges the caller to a free agent and records
both legs. The agents' phones are one SIPp UAS (`-rtp_echo`: each agent talks back
what it hears, so both directions carry speech) reached at fixed URIs; --agents-per-node
agents log in through each node's HTTP. --no-speech: the callers send nothing after
the key (how this was measured before: the bridges then mix silence). With --calls
callers placed in calls/rate seconds and each held --hold-ms from its key press, all of
them talk at once when hold > calls/rate plus the time to bridge the last ones.
Prints one JSON line: SIPp results, bridged calls per node, peak conversations per node
(sampled from the call records), CPU seconds / share over the run and in cores over
10 s of the plateau (everyone talking), peak RSS per node, the load average, and the
RMS level of the conversation in the recording of every bridged call (its last 10 s:
none may be silence).
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
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from accounts.storage import ApiToken, User  # noqa: E402
from app.db import create_engine  # noqa: E402
from callcenter.prompts import synthesize  # noqa: E402
from tests.callcenter.conftest import free_port, ivr_scenario  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks" / "callcenter"))
from intake_load import sipp_counts, start_agent_phones  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
# What every caller says, over and over, for the whole conversation.
SPEECH = "你好,我要反映一个问题。我们小区门口的路灯坏了一个多月,晚上很黑,老人孩子出门很不安全。"
# A recording whose last TAIL_SECONDS (the conversation: the greeting and the queue's
# prompts are over by then) have an RMS (16-bit samples) below this is silence.
SILENT_RMS = 50
TAIL_SECONDS = 10


def speech_file(work: Path) -> Path:
    """The callers' speech as raw 8 kHz PCMU, what SIPp's rtp_stream plays."""
    wav, raw = work / "speech.wav", work / "speech.ul"
    synthesize(SPEECH, wav)
    subprocess.run(["sox", "-V1", str(wav), "-t", "ul", str(raw)], check=True)
    return raw


def rms(path: Path, tail: float | None = None) -> float:
    """Root mean square of a 16-bit PCM WAV's samples (of its last `tail` seconds)."""
    with wave.open(str(path)) as w:
        frames = w.getnframes()
        if tail is not None:
            w.setpos(max(0, frames - int(tail * w.getframerate())))
        raw = w.readframes(frames)
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def recording_levels(work: Path, node: str, bridged: set[str]) -> dict:
    """The RMS of the last TAIL_SECONDS of every recording of a bridged call (`bridged`:
    call record ids) a node wrote: how many, how many silent, the lowest, the median."""
    levels, unreadable = [], 0
    for path in (work / node / "recordings").rglob("*.wav"):
        if path.stem in bridged:
            try:
                levels.append(rms(path, TAIL_SECONDS))
            except (wave.Error, EOFError):
                unreadable += 1
    levels.sort()
    return {
        "files": len(levels),
        "unreadable": unreadable,
        "silent": sum(level < SILENT_RMS for level in levels),
        "rms_min": round(levels[0]) if levels else None,
        "rms_median": round(levels[len(levels) // 2]) if levels else None,
    }


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


async def unfinished(db_url: str) -> int:
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM calls WHERE ended_at IS NULL"))
    await engine.dispose()
    return count


async def main(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="hotline-capacity-"))
    env = dict(os.environ, HOTLINE_CLUSTER_SETUP="0")
    script = str(ROOT / "scripts" / "cluster.sh")
    subprocess.run([script, "start", str(work), "--nodes", str(args.nodes)], env=env, check=True)
    uas, failed = None, True
    try:
        cluster = json.loads((work / "cluster.json").read_text())
        nodes = cluster["nodes"]
        uas, uas_port = await start_agent_phones(work, max_socket=4000)
        tokens = await add_agents(cluster["db_url"], args.agents_per_node * len(nodes))
        await login_agents(nodes, tokens, args.agents_per_node, f"127.0.0.1:{uas_port}")
        inject = work / "calls.csv"
        inject.write_text("SEQUENTIAL\n" + "".join(f"12345;1380013{i:04d};\n" for i in range(1000)))
        talk = [] if args.no_speech else [("speech", speech_file(work))]
        steps = [("pause", 500), ("rfc2833", "1"), *talk, ("pause", args.hold_ms)]
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
        # The records and recordings are written as the nodes finish each hang-up.
        for _ in range(60):
            await asyncio.sleep(1)
            if not await unfinished(cluster["db_url"]):
                break
        engine = create_engine(cluster["db_url"])
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT intake, count(*) FROM calls WHERE agent IS NOT NULL "
                         "GROUP BY intake")
                )
            ).all()  # fmt: skip
            query = text("SELECT id FROM calls WHERE agent IS NOT NULL")
            bridged = set((await conn.execute(query)).scalars())
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
                "recordings": recording_levels(work, n["name"], bridged),
            }
        counts = sipp_counts(out)
        failed = False
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
            "speech_rms": None if args.no_speech else round(rms(work / "speech.wav")),
        }
    finally:
        if uas is not None and uas.returncode is None:
            uas.terminate()
            await uas.wait()
        subprocess.run([script, "stop", str(work)], env=env)
        if failed:  # the nodes' logs say why
            print(f"failed: logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=int, default=20)
    parser.add_argument("--hold-ms", type=int, default=40000)
    parser.add_argument("--agents-per-node", type=int, default=300)
    parser.add_argument("--no-speech", action="store_true", help="callers stay silent")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
