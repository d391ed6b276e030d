"""A campaign of many numbers on loopback: SIPp answers every call and presses keys.

    .venv/bin/python benchmarks/callcenter/campaign_load.py [--numbers 500] [--pace 300]
        [--concurrency 20] [--gap-ms 900]

One intake (CallCenter with its CampaignDialer, as `callcenter_ctx` builds them) and a
SQLite database in a temp dir. A running campaign of two questions (keys 1/2 and
1/2/3) with `--numbers` targets, `--pace` calls per minute at most and `--concurrency`
calls up at once; prompts are 0.3 s tones (the synthesised ones are longer than SIPp's
key gaps). SIPp (`tests/callcenter/scenarios/answer_keys.xml`) answers each INVITE,
presses 1 then 2 by SIP INFO `--gap-ms` apart and waits for the centre's BYE. The
dialer loop runs every 0.5 s as the leader's job does, until every target is settled.

Prints one JSON line: answers recorded vs expected (lost = expected - recorded),
targets by state, retries, the placement rate achieved (and the most placed in any
60 s), call setup to answer recorded, SIPp's counts, CPU (this process and SIPp), the
load average before and after. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from app.db import Base, create_engine, session_factory  # noqa: E402
from callcenter import campaigns  # noqa: E402
from callcenter.campaigns import CampaignDialer  # noqa: E402
from callcenter.prompts import hold_music  # noqa: E402
from callcenter.service import CallCenter  # noqa: E402
from callcenter.storage import Campaign, CampaignTarget  # noqa: E402
from config import SipSettings, load_settings  # noqa: E402
from tests.callcenter.conftest import answer_scenario, free_port  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from intake_load import sipp_counts  # noqa: E402

QUESTIONS = [
    {"text": "您对小区垃圾分类满意吗?", "options": {"1": "满意", "2": "不满意"}},
    {"text": "您是否支持定时定点投放?", "options": {"1": "支持", "2": "反对", "3": "无所谓"}},
]
EXPECTED_ANSWERS = {"0": "1", "1": "2"}  # SIPp presses 1, then 2


def now() -> datetime:
    return datetime.now(UTC)


async def workspace(args: argparse.Namespace):
    work = Path(tempfile.mkdtemp(prefix="campaign-load-"))
    engine = create_engine(f"sqlite+aiosqlite:///{work / 'campaign.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(engine)
    at = now()
    async with sessions.begin() as session:
        campaign = Campaign(
            name="负载测试",
            kind="poll",
            intro="您好",
            questions=QUESTIONS,
            thanks="再见",
            state="running",
            hour_start=0,
            hour_end=24,
            attempts=3,
            retry_minutes=0,
            pace_per_minute=args.pace,
            max_concurrent=args.concurrency,
            created_by="bench",
            created_at=at,
            updated_at=at,
        )
        session.add(campaign)
        await session.flush()
        phones = [f"1380000{i:04d}" for i in range(args.numbers)]
        added = await campaigns.add_targets(session, campaign, phones, at)
        campaign_id = campaign.id
    assert added.added == args.numbers, added
    return work, engine, sessions, campaign_id


async def main(args: argparse.Namespace) -> dict:
    load_before = os.getloadavg()
    work, engine, sessions, campaign_id = await workspace(args)
    settings = SipSettings(
        port=free_port(),
        rtp_port=30000,
        rtp_port_range=4000,
        prompts_dir=str(work / "prompts"),
        recordings_dir=str(work / "recordings"),
        max_calls=512,
        log_level=1,
        survey_ring_seconds=10,
    )
    directory = campaigns.prompts_dir(settings, campaign_id)
    directory.mkdir(parents=True)
    for name in ("intro", "q1", "q2", "thanks"):
        (directory / f"{name}.wav").write_bytes(hold_music(0.3))

    scenario = answer_scenario(work, "answer12", "12", gap_ms=args.gap_ms)
    uas_port = free_port()
    uas = await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(uas_port),
        "-mi", "127.0.0.1", "-mp", str(free_port(span=4)), "-m", str(args.numbers),
        "-nostdin", "-timeout", "1800s", "-timeout_error", "-trace_err",
        "-error_file", str(work / "sipp-errors.log"),
        cwd=work, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    reader = asyncio.create_task(uas.communicate())
    await asyncio.sleep(0.5)  # SIPp binds its port
    settings.survey_uri = f"sip:{{phone}}@127.0.0.1:{uas_port}"
    center = CallCenter(settings, [], sessions)
    await center.start()
    tz = ZoneInfo(load_settings(environ={}).calendar.timezone)
    dialer = CampaignDialer(center, sessions, settings, now, tz)
    center.campaigns = dialer

    placed_at: list[float] = []
    peak_up = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    while True:
        at = time.monotonic() - wall0  # as the dialer's clock read it, near enough
        placed = await dialer.run_once()
        placed_at += [at] * placed
        for _ in range(10):  # 0.5 s between rounds, the concurrency sampled meanwhile
            peak_up = max(peak_up, dialer.active)
            await asyncio.sleep(0.05)
        async with sessions() as session:
            state = await session.scalar(select(Campaign.state).where(Campaign.id == campaign_id))
        if state == "done":
            break
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    await dialer.wait_idle()
    stats = await center.endpoint.stats()
    report = await center.stop()
    out = (await asyncio.wait_for(reader, 60))[0].decode(errors="replace")
    sipp_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()

    async with sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(CampaignTarget.state, func.count()).group_by(CampaignTarget.state)
                )
            ).all()
        )
        targets = list(await session.scalars(select(CampaignTarget)))
    await engine.dispose()
    shutil.rmtree(work)
    recorded = sum(1 for t in targets if t.answers == EXPECTED_ANSWERS and t.state == "done")
    window = max(
        (bisect.bisect_left(placed_at, t + 60) - i for i, t in enumerate(placed_at)), default=0
    )
    span = placed_at[-1] - placed_at[0] if len(placed_at) > 1 else 0
    counts = sipp_counts(out)
    return {
        "numbers": args.numbers,
        "pace_per_minute": args.pace,
        "concurrency": args.concurrency,
        "gap_ms": args.gap_ms,
        "answers_expected": args.numbers,
        "answers_recorded": recorded,
        "lost": args.numbers - recorded,
        "targets": states,
        "calls_placed": len(placed_at),
        "retries": len(placed_at) - args.numbers,
        "placed_per_minute": round(60 * (len(placed_at) - 1) / span, 1) if span else None,
        "most_placed_in_60s": window,
        "peak_concurrent": peak_up,
        "prompt_ends_not_reported": dialer.prompts_overdue,
        "wall_s": round(wall, 1),
        "sipp_exit": uas.returncode,
        "sipp_successful": counts["Successful call"],
        "sipp_failed": counts["Failed call"],
        "cpu_s": round(cpu, 1),
        "cpu_share": round(cpu / wall, 2),
        "sipp_cpu_s": round(sipp_cpu.ru_utime + sipp_cpu.ru_stime, 1),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "idle_after": stats.idle,
        "shutdown_clean": report.clean,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=500)
    parser.add_argument("--pace", type=int, default=300, help="calls placed per minute at most")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--gap-ms", type=int, default=900, help="SIPp's pause before each key")
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False))
