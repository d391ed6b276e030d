"""应急联动 latency: from the emergency mark to the gateway's answer, over N calls.

    .venv/bin/python benchmarks/callcenter/linkage_latency.py [--calls 200] [--rate 10]
        [--agents 20] [--mode transfer] [--hold-ms 500]

SIPp citizens dial 12345 and press 1 (RFC 2833); `--agents` agents (one SIPp UAS with
`-rtp_echo` behind every agent URI) take them; as soon as an agent answers the call is
marked (CallCenter.mark_emergency, as the console's 紧急转接 or the caller's 0) and
handed over to 119 (CallCenter.hand_over, as POST /api/v1/calls/{id}/linkage). The
gateway is a second SIPp UAS (tests/callcenter/gateway.py, `answer`: 180, 200 and a
tone; it hangs up after --hold-ms, which ends the citizen's call in transfer mode; in
conference mode the centre hangs the citizen up then). Measured per hand-over:
`answered_at - emergency_at` (the mark, the INVITE to the gateway, its 200 OK and ACK).
Prints one JSON line and the RESULTS line (with the load average). A measurement, not a
test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


from accounts.domain import Actor, Role  # noqa: E402
from callcenter import linkage  # noqa: E402
from tests.callcenter.conftest import ivr_scenario  # noqa: E402
from tests.callcenter.gateway import Gateway  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from intake_load import AgentsBench, sipp_counts, start_callers  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


async def main(args: argparse.Namespace) -> dict:
    bench = await AgentsBench.start("linkage-latency-", args.agents)
    work, center = bench.work, bench.center
    gateway = await Gateway(work, "answer", calls=args.calls, hold_ms=args.hold_ms).start()

    marks: dict[str, object] = {}  # call record id -> emergency_at
    answered: dict[str, linkage.Handover] = {}
    outcomes: dict[str, str] = {}
    tasks: set[asyncio.Task] = set()

    def on_handover(handover: linkage.Handover) -> None:
        if handover.outcome is not None:
            outcomes[handover.id] = handover.outcome
        if handover.answered_at is not None:
            answered.setdefault(handover.id, handover)
        if handover.ended_at is not None and args.mode == "conference":
            found = center.active_record(handover.call_id)
            if found is not None:  # the gateway left: the citizen's call ends
                center.endpoint.hangup(found[0])

    async def mark_and_hand_over(user: str, record_id: str) -> None:
        await center.mark_emergency(record_id)
        found = center.active_record(record_id)
        if found is None:
            return
        marks[record_id] = found[1].emergency_at
        actor = Actor(user, Role.AGENT)
        center.hand_over(record_id, "119", gateway.uri("119"), args.mode, 10, actor)

    def on_connected(agent, record) -> None:
        task = asyncio.get_running_loop().create_task(mark_and_hand_over(agent.username, record.id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    center.on_handover = on_handover
    center.on_connected = on_connected
    scenario = ivr_scenario(work, "citizen", [("pause", 300), ("rfc2833", "1")], "wait_bye")
    load_before = os.getloadavg()
    wall0 = time.monotonic()
    port = bench.settings.port
    proc = await start_callers(work, port, scenario, bench.callers_csv(), args, 200, "-t", "u1")
    out = (await proc.communicate())[0].decode(errors="replace")
    wall = time.monotonic() - wall0
    load_after = os.getloadavg()
    gateway_exit = await gateway.finished(timeout=30)
    await asyncio.sleep(0.5)
    stats = await center.endpoint.stats()
    report = await center.stop()
    await bench.stop_phones()
    await gateway.stop()
    await bench.engine.dispose()
    shutil.rmtree(work)
    latencies = [
        (h.answered_at - marks[h.call_id]).total_seconds() * 1000
        for h in answered.values()
        if h.call_id in marks
    ]
    counts = sipp_counts(out)
    result = {
        "calls": args.calls,
        "rate": args.rate,
        "agents": args.agents,
        "mode": args.mode,
        "sipp_exit": proc.returncode,
        "successful": counts["Successful call"],
        "failed": counts["Failed call"],
        "gateway_exit": gateway_exit,
        "handed_over": len(outcomes),
        "answered": sum(o == linkage.ANSWERED for o in outcomes.values()),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "wall_s": round(wall, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "idle_after": stats.idle,
        "shutdown_clean": report.clean,
    }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rate", type=int, default=10)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--mode", choices=("transfer", "conference"), default="transfer")
    parser.add_argument("--hold-ms", type=int, default=500)
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result))
    print(
        f"RESULTS linkage_latency calls={result['calls']} mode={result['mode']} "
        f"answered={result['answered']} p50={result['p50_ms']} ms p95={result['p95_ms']} ms "
        f"load_avg={result['loadavg_after'][0]}"
    )
