"""Load on the SIP intake: SIPp calls hotline numbers on 127.0.0.1 at a fixed rate.

    .venv/bin/python benchmarks/callcenter/intake_load.py [--calls 1000] [--rate 200]
        [--hold-ms 2000] [--transport u1] [--ivr]

Every call is answered, greeted (player) and recorded (recorder), so each one holds
two RTP sockets and three conference ports. With --ivr each caller presses 1 (RFC 2833
from SIPp's capture) 300 ms in, waits in the queue with hold music for --hold-ms and
hangs up: an abandoned record and a callback-list entry per call. Prints one JSON line:
SIPp's successful and failed calls, attempts per second, peak concurrent calls, CPU
seconds and peak RSS of this process, call records written, and whether the endpoint
is back to idle.
A measurement, not a test: run it on an otherwise quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker  # noqa: E402

from app.db import Base, create_engine, session_factory  # noqa: E402
from callcenter import agents, storage  # noqa: E402
from callcenter.prompts import ensure_greetings, ensure_ivr_prompts  # noqa: E402
from callcenter.service import CallCenter  # noqa: E402
from config import SipSettings, load_settings  # noqa: E402
from tests.callcenter.conftest import SCENARIOS, free_port, ivr_scenario  # noqa: E402


def sipp_counts(output: str) -> dict[str, int]:
    counts = {}
    for name in ("Successful call", "Failed call"):
        match = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", output)
        counts[name] = int(match[-1]) if match else -1
    return counts


async def intake_workspace(prefix: str):
    """(hotlines, work dir, engine): prompts and a call-record database in a temp dir."""
    hotlines = [(h.number, h.name) for h in load_settings(environ={}).hotlines]
    work = Path(tempfile.mkdtemp(prefix=prefix))
    ensure_greetings(hotlines, work / "prompts")
    ensure_ivr_prompts([n for n, _ in hotlines], work / "prompts")
    engine = create_engine(f"sqlite+aiosqlite:///{work / 'calls.db'}")
    from accounts.storage import User
    from dispatch.storage import Category, Hotline, Order, Unit

    models = (Hotline, Unit, Category, Order, User, storage.Call, storage.Callback)
    models += (storage.AgentRow, storage.SurveyCall)
    tables = [m.__table__ for m in models]
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all, tables=tables)
        await conn.execute(
            Hotline.__table__.insert(),
            [{"number": n, "name": name, "mode": "central"} for n, name in hotlines],
        )
    return hotlines, work, engine


def bench_settings(work: Path, **more: Any) -> SipSettings:
    """The intake of a benchmark: a free SIP port, 4,000 RTP ports, 512 calls."""
    return SipSettings(
        port=free_port(),
        rtp_port=30000,
        rtp_port_range=4000,
        prompts_dir=str(work / "prompts"),
        recordings_dir=str(work / "recordings"),
        max_calls=512,
        log_level=1,
        **more,
    )


async def start_callers(
    work: Path,
    port: int,
    scenario: Path,
    inject: Path,
    args: argparse.Namespace,
    limit: int,
    *more: str,
) -> asyncio.subprocess.Process:
    """SIPp calling the intake on `port`: `args.calls` calls at `args.rate` per second,
    at most `limit` at once, caller and dialled number from the `inject` CSV."""
    return await asyncio.create_subprocess_exec(
        "sipp", f"127.0.0.1:{port}", "-sf", str(scenario),
        "-inf", str(inject), "-m", str(args.calls), "-r", str(args.rate), "-l", str(limit),
        *more, "-i", "127.0.0.1",
        "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port(span=4)),
        "-nostdin", "-timeout", "600s", "-timeout_error", "-max_socket", "2000",
        cwd=work, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def start_agent_phones(
    work: Path, max_socket: int = 2000
) -> tuple[asyncio.subprocess.Process, int]:
    """The agents' phones: one SIPp UAS on a free port that answers every call at once
    and echoes the audio; (its process, its port)."""
    port = free_port()
    uas = await asyncio.create_subprocess_exec(
        "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
        "-mp", str(free_port(span=4)), "-rtp_echo", "-nostdin", "-max_socket", str(max_socket),
        cwd=work, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(0.5)  # SIPp binds its port
    return uas, port


@dataclass
class AgentsBench:
    """A started call centre on a throw-away database, with agents logged in whose
    phones are one SIPp UAS (answers at once and echoes the audio)."""

    work: Path
    engine: AsyncEngine
    sessions: async_sessionmaker
    settings: SipSettings
    center: CallCenter
    uas: asyncio.subprocess.Process

    @classmethod
    async def start(cls, prefix: str, agents_count: int, **sip: Any) -> AgentsBench:
        hotlines, work, engine = await intake_workspace(prefix)
        from accounts.storage import User

        async with engine.begin() as conn:
            users = [
                {"id": i, "username": f"agent{i}", "password_hash": "x", "role": "agent"}
                for i in range(1, agents_count + 1)
            ]
            await conn.execute(insert(User), users)
        sessions = session_factory(engine)
        settings = bench_settings(work, wrap_up_seconds=0, ring_timeout_seconds=10, **sip)
        center = CallCenter(settings, [n for n, _ in hotlines], sessions)
        await center.start()
        uas, uas_port = await start_agent_phones(work)
        now = center._now()
        for i in range(1, agents_count + 1):
            uri = f"sip:agent{i}@127.0.0.1:{uas_port}"
            await center.change_agent(
                i, f"agent{i}", lambda a, uri=uri: agents.login(a, uri, (), now)
            )
        return cls(work, engine, sessions, settings, center, uas)

    def callers_csv(self) -> Path:
        """100 callers, all dialling 12345."""
        inject = self.work / "calls.csv"
        calls = "".join(f"12345;1380013{i:04d};\n" for i in range(100))
        inject.write_text("SEQUENTIAL\n" + calls)
        return inject

    async def stop_phones(self) -> None:
        self.uas.terminate()  # our own child
        await self.uas.wait()


async def main(args: argparse.Namespace) -> dict:
    hotlines, work, engine = await intake_workspace("intake-load-")
    sessions = session_factory(engine)
    settings = bench_settings(work)
    center = CallCenter(settings, [n for n, _ in hotlines], sessions)
    await center.start()
    inject = work / "calls.csv"
    inject.write_text(
        "SEQUENTIAL\n" + "".join(f"{n};1380013{i:04d};\n" for i, (n, _) in enumerate(hotlines))
    )
    if args.ivr:
        steps = [("pause", 300), ("rfc2833", "1"), ("pause", args.hold_ms)]
        scenario = ivr_scenario(work, "ivr", steps, "bye")
    else:
        scenario = SCENARIOS / "answered.xml"
    cpu0, wall0 = time.process_time(), time.monotonic()
    more = ("-d", str(args.hold_ms), "-t", args.transport)
    proc = await start_callers(work, settings.port, scenario, inject, args, 500, *more)
    peak = 0
    reader = asyncio.create_task(proc.communicate())
    while not reader.done():
        peak = max(peak, center.active_calls)
        await asyncio.sleep(0.05)
    out = (await reader)[0].decode(errors="replace")
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    await center.flush()
    stats = await center.endpoint.stats()
    report = await center.stop()
    async with sessions() as session:
        rows = await storage.list_calls(session)
        _, callbacks = await storage.page_callbacks(session, page_size=1)
    await engine.dispose()
    if args.keep:
        print(f"recordings and SIPp files kept in {work}", file=sys.stderr)
    else:
        shutil.rmtree(work)
    counts = sipp_counts(out)
    return {
        "calls": args.calls,
        "rate": args.rate,
        "hold_ms": args.hold_ms,
        "ivr": args.ivr,
        "transport": args.transport,
        "sipp_exit": proc.returncode,
        "successful": counts["Successful call"],
        "failed": counts["Failed call"],
        "attempts_per_s": round(args.calls / max(wall - args.hold_ms / 1000, 1e-3), 1),
        "wall_s": round(wall, 1),
        "peak_concurrent": peak,
        "cpu_s": round(cpu, 1),
        "cpu_share": round(cpu / wall, 2),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "records": len(rows),
        "records_completed": sum(r.outcome == "completed" for r in rows),
        "records_abandoned": sum(r.outcome == "abandoned" for r in rows),
        "callbacks": callbacks,
        "dtmf_received": center.dtmf_received,
        "idle_after": stats.idle,
        "active_ports_after": stats.active_ports,
        "shutdown_clean": report.clean,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--hold-ms", type=int, default=2000)
    parser.add_argument("--transport", default="u1", help="SIPp transport: u1 (UDP), t1 (TCP)")
    parser.add_argument("--ivr", action="store_true", help="press 1, wait in the queue, hang up")
    parser.add_argument("--keep", action="store_true", help="keep recordings and the database")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
