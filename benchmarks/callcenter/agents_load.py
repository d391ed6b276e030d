"""Load with agents: SIPp callers press 1 and are bridged to agents (a SIPp UAS).

    .venv/bin/python benchmarks/callcenter/agents_load.py [--calls 500] [--rate 50]
        [--agents 100] [--hold-ms 3000]

`--agents` agents are logged in with fixed URIs (sip:agentN@127.0.0.1:<port>) that all
reach one SIPp UAS (`-sn uas -rtp_echo`: answers at once, echoes the audio). Each caller
(SIPp, RFC 2833 "1" 300 ms after the ACK) is queued, the ACD rings the longest-idle
agent, the intake bridges both legs in the conference bridge and records them; the
caller hangs up after --hold-ms, which ends the agent's leg (wrap-up 0 s). Each bridged
call holds two pjsua calls, so PJSUA_MAX_CALLS = 512 allows 256 at once.
Prints one JSON line: SIPp results, calls bridged, queue wait (ASA) mean and p95, CPU,
peak RSS, and whether the endpoint and agents are back to idle.
A measurement, not a test: run it on an otherwise quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


from callcenter import storage  # noqa: E402
from callcenter.agents import AgentState  # noqa: E402
from tests.callcenter.conftest import ivr_scenario  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from intake_load import AgentsBench, sipp_counts, start_callers  # noqa: E402


async def main(args: argparse.Namespace) -> dict:
    bench = await AgentsBench.start(
        "agents-load-", args.agents, queue_long_wait_seconds=600, queue_max_wait_seconds=900
    )
    work, sessions, center = bench.work, bench.sessions, bench.center
    steps = [("pause", 300), ("rfc2833", "1"), ("pause", args.hold_ms)]
    scenario = ivr_scenario(work, "ivr", steps, "bye")
    cpu0, wall0 = time.process_time(), time.monotonic()
    port = bench.settings.port
    proc = await start_callers(work, port, scenario, bench.callers_csv(), args, 500, "-t", "u1")
    peak_calls = peak_talking = 0
    reader = asyncio.create_task(proc.communicate())
    while not reader.done():
        peak_calls = max(peak_calls, center.active_calls)
        talking = sum(a.state is AgentState.TALKING for a in center.acd.agents.values())
        peak_talking = max(peak_talking, talking)
        await asyncio.sleep(0.05)
    out = (await reader)[0].decode(errors="replace")
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    await asyncio.sleep(1)  # the last agent legs' BYEs
    await center.flush()
    stats = await center.endpoint.stats()
    states = sorted({a.state.value for a in center.acd.agents.values()})
    report = await center.stop()
    await bench.stop_phones()
    async with sessions() as session:
        rows = await storage.list_calls(session)
    await bench.engine.dispose()
    shutil.rmtree(work)
    waits = sorted((r.answered_at - r.queued_at).total_seconds() for r in rows if r.answered_at)
    counts = sipp_counts(out)
    return {
        "calls": args.calls,
        "rate": args.rate,
        "agents": args.agents,
        "hold_ms": args.hold_ms,
        "sipp_exit": proc.returncode,
        "successful": counts["Successful call"],
        "failed": counts["Failed call"],
        "bridged": sum(1 for r in rows if r.agent),
        "abandoned": sum(r.outcome == "abandoned" for r in rows),
        "asa_mean_s": round(statistics.fmean(waits), 3) if waits else None,
        "asa_p95_s": round(waits[int(0.95 * (len(waits) - 1))], 3) if waits else None,
        "wall_s": round(wall, 1),
        "peak_callers": peak_calls,
        "peak_talking": peak_talking,
        "cpu_s": round(cpu, 1),
        "cpu_share": round(cpu / wall, 2),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "idle_after": stats.idle,
        "agent_states_after": states,
        "shutdown_clean": report.clean,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--hold-ms", type=int, default=3000)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
