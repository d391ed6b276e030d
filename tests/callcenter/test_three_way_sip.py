# ruff: noqa: F811 (the agents' SIP fixtures are imported and used as parameters)
"""三方通话 over real SIP on 127.0.0.1: the citizen talking to an agent, the agent adds a
unit's phone (the softphone's `unit*` user, playing its own tone); all three in the one
recording; the unit leg dropped, hung up, busy or unreachable while the call goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callcenter.agents import AgentState
from callcenter.domain import Outcome
from callcenter.exceptions import CallNotFound, ConferenceNotPossible
from callcenter.service import CallCenter
from tests.callcenter.phones import (
    AGENT_HZ,
    CITIZEN_HZ,
    RATE,
    UNIT_HZ,
    Softphone,
    tone_power,
    wav_samples,
)
from tests.callcenter.test_agents_sip import center, login, phone, wait_agent  # noqa: F401
from tests.callcenter.test_intake import assert_idle, records

TONES = {"citizen": CITIZEN_HZ, "agent": AGENT_HZ, "unit": UNIT_HZ}


def tones_by_chunk(path: Path, seconds: float = 0.25) -> list[set[str]]:
    """For each chunk of the WAV, which parties' tones are in it (Goertzel, vs 3,100 Hz)."""
    samples = wav_samples(path, 0, 10_000)
    size = int(RATE * seconds)
    heard = []
    for start in range(0, len(samples) - size + 1, size):
        chunk = samples[start : start + size]
        floor = max(tone_power(chunk, 3100.0), 1.0)
        loud = {n for n, hz in TONES.items() if tone_power(chunk, hz) > 1000 * floor}
        heard.append(loud)
    return heard


async def talking(center: CallCenter, phone: Softphone, events: list) -> str:
    """The citizen dials 12345 and talks to agent 2; the call record's id."""
    center.on_conference = lambda user_id, event: events.append((user_id, event))
    await login(center, 2, phone.uri("agent2"))
    await phone.send(f"dial sip:12345@127.0.0.1:{center.endpoint.port} 1")
    await phone.wait_for(event="confirmed", role="agent")
    await wait_agent(center, 2, AgentState.TALKING)
    [record] = center._active.values()
    return record.id


async def wait_event(events: list, state: str, count: int = 1, timeout: float = 10) -> dict:
    for _ in range(int(timeout / 0.05)):
        hits = [e for _, e in events if e["state"] == state]
        if len(hits) >= count:
            return hits[count - 1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no conference event {state!r} (x{count}) in {events}")


async def test_unit_joins_all_three_are_recorded_then_the_agent_drops_it(center, phone, sessions):
    events: list = []
    call_id = await talking(center, phone, events)
    with pytest.raises(CallNotFound):
        center.add_unit("0" * 32, phone.uri("unit1"))
    with pytest.raises(ConferenceNotPossible):
        center.end_unit(call_id)  # no unit on the call yet

    center.add_unit(call_id, phone.uri("unit1"), "CGJ")
    incoming = await phone.wait_for(event="incoming", role="unit")
    assert incoming["headers"]["x-call-record"] == call_id
    assert incoming["headers"]["x-caller"] == "138****8000"  # units see masked numbers
    with pytest.raises(ConferenceNotPossible):
        center.add_unit(call_id, phone.uri("unit2"))  # one unit at a time
    connected = await wait_event(events, "connected")
    assert connected["call_id"] == call_id and connected["unit"] == "CGJ"
    assert {user_id for user_id, _ in events} == {2}  # told to the agent on the call
    assert connected["label"] == "三方通话中"
    await asyncio.sleep(2.0)  # three-way: every leg's tone reaches the recording

    _leg, record = center.active_record(call_id)
    wav = Path(record.recording)
    center.end_unit(call_id)
    await phone.wait_for(event="disconnected", role="unit")
    ended = await wait_event(events, "ended")
    assert ended["by"] == "agent"
    # The citizen and the agent talk on: wait for 1.5 s more *recorded* audio, not wall
    # time (on a loaded machine the bridge's clock may record fewer frames than elapse).
    dropped_at = wav.stat().st_size
    for _ in range(200):
        if wav.stat().st_size - dropped_at >= 1.5 * RATE * 2:  # 16-bit mono
            break
        await asyncio.sleep(0.05)
    assert not [e for e in phone.events if e["event"] == "disconnected" and e["role"] != "unit"]
    assert center.acd.agents[2].state is AgentState.TALKING

    await phone.send("hangup")
    await phone.wait_for(event="disconnected", role="agent")
    await assert_idle(center)
    await center.flush()
    [row] = await records(sessions)
    assert (row.agent, row.outcome) == ("agent2", Outcome.COMPLETED)
    assert row.answered_at < row.three_way_at < row.ended_at
    assert (row.conference_unit, row.conference_uri) == ("CGJ", phone.uri("unit1"))
    # Who is heard in each quarter second of the one recording: the three-way, then
    # (after the drop) the caller and the agent only, until the end.
    heard = tones_by_chunk(Path(row.recording))
    assert {"citizen", "agent", "unit"} in heard, heard
    last_unit = max(i for i, names in enumerate(heard) if "unit" in names)
    after = heard[last_unit + 1 : -1]  # the last chunk may be cut short by the hang-up
    assert len(after) >= 3, heard  # >= 0.75 s of the two-party call after the drop
    assert all(names == {"citizen", "agent"} for names in after), heard


async def test_busy_unreachable_and_hanging_up_units_leave_the_two_party_call(
    center, phone, sessions
):
    events: list = []
    call_id = await talking(center, phone, events)

    center.add_unit(call_id, phone.uri("busy1"))  # 486 Busy Here
    failed = await wait_event(events, "failed")
    assert (failed["reason"], failed["uri"]) == ("忙线", phone.uri("busy1"))
    assert "忙线" in failed["label"]
    center.add_unit(call_id, "sip:unit9@127.0.0.1:9")  # nothing listens: ring timeout
    failed = await wait_event(events, "failed", count=2, timeout=10)
    assert failed["uri"] == "sip:unit9@127.0.0.1:9"
    assert failed["reason"] in ("无应答", "无法接通")  # ring timeout, or an ICMP error
    assert center.unit_leg_of(call_id) is None

    center.add_unit(call_id, phone.uri("unit1"))
    await wait_event(events, "connected")
    await phone.send("hangup unit")  # the unit hangs up itself
    await phone.wait_for(event="disconnected", role="unit")
    ended = await wait_event(events, "ended")
    assert ended["by"] == "unit"
    await asyncio.sleep(0.5)
    assert center.acd.agents[2].state is AgentState.TALKING  # the call goes on
    ended_roles = {e["role"] for e in phone.events if e["event"] == "disconnected"}
    assert ended_roles == {"busy", "unit"}  # not the citizen's nor the agent's leg

    # A unit on the line when the agent leaves: the whole call ends (README).
    center.add_unit(call_id, phone.uri("unit2"))
    await wait_event(events, "connected", count=2)
    [agent_leg] = center._agent_legs
    center.endpoint.hangup(agent_leg)
    await phone.wait_for(event="disconnected", role="citizen")
    await phone.wait_for(event="disconnected", role="unit", count=2)
    assert (await wait_event(events, "ended", count=2))["by"] == "call"
    await assert_idle(center)
    await center.flush()
    [row] = await records(sessions)
    assert row.three_way_at is not None and row.conference_uri == phone.uri("unit2")
    assert row.conference_unit is None


async def test_caller_hanging_up_ends_the_unit_leg_too(center, phone, sessions):
    events: list = []
    call_id = await talking(center, phone, events)
    center.add_unit(call_id, phone.uri("unit1"), "CGJ")
    await wait_event(events, "connected")
    await phone.send("hangup")  # the citizen leaves: agent and unit legs end with the call
    await phone.wait_for(event="disconnected", role="agent")
    await phone.wait_for(event="disconnected", role="unit")
    ended = await wait_event(events, "ended")
    assert (ended["by"], ended["label"]) == ("call", "通话已结束,三方通话随之结束")
    await wait_agent(center, 2, AgentState.WRAP_UP, timeout=2)
    await assert_idle(center)
    await center.flush()
    [row] = await records(sessions)
    assert (row.outcome, row.conference_unit) == (Outcome.COMPLETED, "CGJ")
