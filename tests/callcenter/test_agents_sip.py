"""Agents over real SIP on 127.0.0.1: a pjsua2 softphone process is the citizen and the
agents' phones; the intake rings agents, bridges and records both legs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from accounts.storage import User
from callcenter import agents, storage
from callcenter.agents import AgentState
from callcenter.domain import Outcome
from callcenter.exceptions import CallNotFound
from callcenter.ivr import IvrConfig
from callcenter.service import CallCenter
from config import SipSettings
from tests.callcenter.conftest import NUMBERS
from tests.callcenter.phones import AGENT_HZ, CITIZEN_HZ, Softphone, tone_power, wav_samples
from tests.callcenter.test_intake import assert_idle, records

FAST = IvrConfig(
    menu_timeout_seconds=2, menu_attempts=2, queue_long_wait_seconds=30, queue_max_wait_seconds=60
)


async def add_users(sessions, *names: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            insert(User),
            [
                {"id": i, "username": name, "password_hash": "x", "role": "agent", "hotlines": []}
                for i, name in enumerate(names, 1)
            ],
        )


@pytest.fixture
async def phone(sip_tools, tmp_path: Path) -> AsyncIterator[Softphone]:
    phone = Softphone(tmp_path)
    await phone.start()
    yield phone
    await phone.stop()


@pytest.fixture
async def center(sip_tools, sip_settings: SipSettings, sessions) -> AsyncIterator[CallCenter]:
    settings = sip_settings.model_copy(
        update={"ring_timeout_seconds": 1.5, "wrap_up_seconds": 0.5, "overflow_seconds": 60}
    )
    await add_users(sessions, "agent1", "agent2")
    center = CallCenter(settings, NUMBERS, sessions, ivr_settings=FAST)
    await center.start()
    yield center
    if center.endpoint.running:
        report = await center.stop()
        assert report.clean, report


async def login(center: CallCenter, user_id: int, uri: str) -> None:
    await center.change_agent(
        user_id, f"agent{user_id}", lambda a: agents.login(a, uri, (), center._now())
    )


async def wait_agent(center: CallCenter, user_id: int, state: AgentState, timeout=10) -> None:
    for _ in range(int(timeout / 0.05)):
        if center.acd.agents[user_id].state is state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"agent {user_id} is {center.acd.agents[user_id]}, not {state}")


async def test_unanswered_agent_is_paused_and_the_caller_bridged_to_the_next(
    center, phone, sessions
):
    # agent1's phone never answers; agent1 is idle the longest, so it rings first.
    await login(center, 1, phone.uri("mute1"))
    await asyncio.sleep(0.05)
    await login(center, 2, phone.uri("agent2"))
    await phone.send(f"dial sip:12319@127.0.0.1:{center.endpoint.port} 1")

    first = await phone.wait_for(event="incoming", role="mute")
    assert first["headers"]["x-hotline"] == "12319"
    assert first["headers"]["x-caller"] == "13800138000"
    await phone.wait_for(event="confirmed", role="agent", timeout=10)
    agent1 = center.acd.agents[1]
    assert (agent1.state, agent1.pause_reason) == (AgentState.PAUSED, "不应答")
    await wait_agent(center, 2, AgentState.TALKING)
    await asyncio.sleep(2.0)  # both legs talk: the recording takes both tones

    await phone.send("hangup")  # the citizen hangs up: the agent's leg ends too
    await phone.wait_for(event="disconnected", role="agent")
    await wait_agent(center, 2, AgentState.WRAP_UP, timeout=2)
    await wait_agent(center, 2, AgentState.AVAILABLE, timeout=3)
    await assert_idle(center)
    await center.flush()

    [row] = await records(sessions)
    assert (row.hotline, row.caller, row.queue) == ("12319", "13800138000", "general")
    assert (row.agent, row.outcome) == ("agent2", Outcome.COMPLETED)
    assert row.ivr_answered_at < row.queued_at < row.answered_at < row.ended_at
    # The first agent rang for the ring timeout before the second one answered.
    assert (row.answered_at - row.queued_at).total_seconds() >= 1.5
    # One recording, fed by both legs: the citizen's and the agent's tones at the end.
    samples = wav_samples(Path(row.recording), -1.6, -0.1)
    citizen, agent = tone_power(samples, CITIZEN_HZ), tone_power(samples, AGENT_HZ)
    noise = tone_power(samples, 3100.0)
    assert citizen > 100 * noise and agent > 100 * noise, (citizen, agent, noise)
    async with sessions() as session:
        saved = {a.username: a for a in await storage.load_agents(session)}
    assert saved["agent1"].state is AgentState.PAUSED
    assert saved["agent2"].state is AgentState.AVAILABLE


async def test_agent_hanging_up_ends_the_callers_leg(center, phone, sessions):
    await login(center, 2, phone.uri("agent2"))
    await phone.send(f"dial sip:12345@127.0.0.1:{center.endpoint.port} 1")
    await phone.wait_for(event="confirmed", role="agent")
    await wait_agent(center, 2, AgentState.TALKING)
    await center.stop()  # the centre hangs up both legs: the citizen's phone sees it
    await phone.wait_for(event="disconnected", role="citizen")
    [row] = await records(sessions)
    assert (row.agent, row.outcome) == ("agent2", Outcome.COMPLETED)


async def test_caller_hanging_up_while_the_agent_rings_is_abandoned_with_a_callback(
    center, phone, sessions
):
    await login(center, 1, phone.uri("mute1"))
    await phone.send(f"dial sip:12345@127.0.0.1:{center.endpoint.port} 1")
    await phone.wait_for(event="incoming", role="mute")
    await wait_agent(center, 1, AgentState.RINGING)
    await phone.send("hangup")
    # The intake cancels the agent's leg: the agent is free again, not paused.
    await phone.wait_for(event="disconnected", role="mute")
    await wait_agent(center, 1, AgentState.AVAILABLE)
    await assert_idle(center)
    await center.flush()
    [row] = await records(sessions)
    assert (row.outcome, row.agent, row.answered_at) == (Outcome.ABANDONED, None, None)
    async with sessions() as session:
        [entry] = list(await session.scalars(select(storage.Callback)))
    assert (entry.call_id, entry.reason, entry.caller) == (row.id, "abandoned", "13800138000")


async def test_an_agent_phone_that_does_not_exist_pauses_the_agent(center, phone, sessions):
    # Nothing listens on this port: the INVITE times out or is refused; the caller waits on.
    await login(center, 1, "sip:agent1@127.0.0.1:9")
    await phone.send(f"dial sip:12345@127.0.0.1:{center.endpoint.port} 1")
    await wait_agent(center, 1, AgentState.PAUSED, timeout=10)
    assert center.acd.agents[1].pause_reason == "不应答"
    assert [w.queue for w in center.acd.waiting()] == ["general"]
    await phone.send("hangup")
    await phone.wait_for(event="disconnected", role="citizen")
    await assert_idle(center)


async def test_blind_transfer_to_another_agent_keeps_the_caller_and_the_recording(
    center, phone, sessions
):
    await login(center, 1, phone.uri("agent1"))
    await asyncio.sleep(0.05)
    await login(center, 2, phone.uri("agent2"))
    await phone.send(f"dial sip:12345@127.0.0.1:{center.endpoint.port} 1")
    first = await phone.wait_for(event="incoming", role="agent")
    assert first["user"] == "agent1"  # idle the longest
    await wait_agent(center, 1, AgentState.TALKING)
    [(_, record)] = [(leg, r) for leg, r in center._active.items()]
    with pytest.raises(CallNotFound):
        center.transfer("0" * 32, "general")
    center.transfer(record.id, "general", to_agent=2)
    second = await phone.wait_for(event="incoming", role="agent", count=2)
    assert second["user"] == "agent2"
    await wait_agent(center, 2, AgentState.TALKING)
    assert center.acd.agents[1].state in (AgentState.WRAP_UP, AgentState.AVAILABLE)
    await asyncio.sleep(1.0)
    await phone.send("hangup")
    await phone.wait_for(event="disconnected", role="agent", count=2)
    await assert_idle(center)
    await center.flush()
    [row] = await records(sessions)
    assert (row.agent, row.outcome) == ("agent2", Outcome.COMPLETED)
    assert row.answered_at == record.answered_at  # answered once, by the first agent
    samples = wav_samples(Path(row.recording), -0.9, -0.1)
    assert tone_power(samples, AGENT_HZ) > 100 * tone_power(samples, 3100.0)
