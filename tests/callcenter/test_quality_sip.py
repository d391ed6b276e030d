"""质检 over real SIP: a citizen's call bridged to an agent is recorded by the intake,
lands in the agent's weekly sample and is scored (issue 17, quality part)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from accounts.domain import Actor, Role
from app.db import Base
from callcenter.agents import AgentState
from config import QualitySettings
from dispatch.storage import OrderEvent
from quality.domain import IsoWeek, checklist_of
from quality.services import sample_week, score_review
from quality.storage import QaReview
from tests.callcenter.phones import AGENT_HZ, CITIZEN_HZ, tone_power, wav_samples
from tests.callcenter.test_agents_sip import center, login, phone, wait_agent  # noqa: F401
from tests.callcenter.test_intake import assert_idle, records

TZ = ZoneInfo("Asia/Shanghai")


async def test_a_recorded_sip_call_is_sampled_and_scored(center, phone, sessions):  # noqa: F811
    engine = sessions.kw["bind"]
    async with engine.begin() as conn:
        tables = [OrderEvent.__table__, QaReview.__table__]
        await conn.run_sync(Base.metadata.create_all, tables=tables)

    await login(center, 2, phone.uri("agent2"))
    await phone.send(f"dial sip:12345@127.0.0.1:{center.endpoint.port} 1")
    await phone.wait_for(event="confirmed", role="agent", timeout=10)
    await wait_agent(center, 2, AgentState.TALKING)
    await asyncio.sleep(1.5)  # both sides talk into the recording
    await phone.send("hangup")
    await phone.wait_for(event="disconnected", role="agent")
    await assert_idle(center)
    await center.flush()
    [call] = await records(sessions)
    assert call.agent == "agent2" and call.recording

    week = IsoWeek.of(call.offered_at.astimezone(TZ).date())
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        result = await sample_week(session, week, 3, TZ, now)
    assert (result.sampled, result.bad_rating) == (1, 0)
    async with sessions() as session:
        [review] = await session.scalars(select(QaReview))
    assert (review.call_id, review.agent, review.week) == (call.id, "agent2", str(week))

    # what the supervisor hears: both legs in the sampled recording
    samples = wav_samples(Path(call.recording), -1.2, -0.1)
    assert tone_power(samples, CITIZEN_HZ) > 100 * tone_power(samples, 3100.0)
    assert tone_power(samples, AGENT_HZ) > 100 * tone_power(samples, 3100.0)

    checklist = checklist_of(QualitySettings().checklist)
    scores = {item.key: item.max for item in checklist}
    supervisor = Actor(username="supervisor", role=Role.SUPERVISOR)
    scored = await score_review(sessions, supervisor, review.id, checklist, scores, None, now)
    assert (scored["state"], scored["total"]) == ("scored", 100.0)
