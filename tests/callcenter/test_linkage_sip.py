# ruff: noqa: F811 (the agents' SIP fixtures are imported and used as parameters)
"""应急联动 over real SIP on 127.0.0.1: SIPp is the citizen (dials 12345, presses 1), a
SIPp UAS the agent's phone (echoing), a second SIPp UAS the emergency gateway (answers
with a 1,800 Hz tone, is busy, or rings on). The hand-over's outcome and times; transfer
leaves the caller with the gateway and hangs the agent up; conference keeps all three."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from accounts.domain import Actor, Role
from callcenter import linkage
from callcenter.agents import AgentState
from callcenter.exceptions import CallNotFound, LinkageNotPossible
from callcenter.service import CallCenter
from tests.callcenter.conftest import free_port, ivr_scenario, run_sipp
from tests.callcenter.gateway import GATEWAY_HZ, Gateway
from tests.callcenter.phones import RATE, tone_power, wav_samples
from tests.callcenter.test_agents_sip import center, login, wait_agent  # noqa: F401
from tests.callcenter.test_intake import assert_idle

CITIZEN = "13800138000"
AGENT = Actor("agent1", Role.AGENT)


class Scene:
    """The citizen's SIPp call, the agent's SIPp phone, what the intake reported."""

    def __init__(self, center: CallCenter, workdir: Path) -> None:
        self.center, self.workdir = center, workdir
        self.handovers: list[linkage.Handover] = []
        self.events: list[dict] = []
        center.on_handover = self.handovers.append
        center.on_conference = lambda _user, event: self.events.append(event)
        self.caller: asyncio.Task | None = None
        self.agent: asyncio.subprocess.Process | None = None

    async def talking(self) -> tuple[int, str]:
        """The citizen dials 12345, presses 1 and talks to agent1: (caller leg, record id)."""
        port = free_port()
        self.agent = await asyncio.create_subprocess_exec(
            "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
            "-mp", str(free_port(span=4)), "-rtp_echo", "-m", "1", "-nostdin",
            "-timeout", "60s", "-timeout_error",
            cwd=self.workdir, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(0.3)
        await login(self.center, 1, f"sip:agent1@127.0.0.1:{port}")
        steps = [("pause", 300), ("rfc2833", "1")]
        scenario = ivr_scenario(self.workdir, "citizen", steps, "wait_bye")
        port, calls = self.center.endpoint.port, [("12345", CITIZEN)]
        self.caller = asyncio.create_task(
            run_sipp(scenario, port, calls, workdir=self.workdir, timeout=45)
        )
        await wait_agent(self.center, 1, AgentState.TALKING, timeout=20)
        [(leg, record)] = self.center._active.items()
        return leg, record.id

    async def outcome(self, count: int = 1, timeout: float = 15) -> linkage.Handover:
        """The latest state of the `count`-th hand-over once it has an outcome."""
        for _ in range(int(timeout / 0.05)):
            ids = list(dict.fromkeys(h.id for h in self.handovers))
            if len(ids) >= count:
                latest = [h for h in self.handovers if h.id == ids[count - 1]][-1]
                if latest.outcome is not None:
                    return latest
            await asyncio.sleep(0.05)
        raise AssertionError(f"no outcome for hand-over {count}: {self.handovers}")

    async def wait(self, condition, timeout: float = 10) -> None:
        for _ in range(int(timeout / 0.05)):
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("condition not met")

    def states(self) -> list[str]:
        return [e["state"] for e in self.events if e["type"] == "linkage"]

    async def finish(self) -> None:
        """The citizen's SIPp saw the intake's BYE; the agent's phone ended cleanly."""
        assert self.caller is not None and self.agent is not None
        result = await self.caller
        assert result.ok, result.output + result.errors
        assert await asyncio.wait_for(self.agent.wait(), 20) == 0
        await assert_idle(self.center)


@pytest.fixture
async def scene(center, tmp_path: Path) -> AsyncIterator[Scene]:
    scene = Scene(center, tmp_path)
    yield scene
    if scene.agent is not None and scene.agent.returncode is None:
        scene.agent.terminate()  # our own child, left by a failed test
        await scene.agent.wait()


def tone_after(path: Path, start_frame: int) -> float:
    """The gateway's tone power over the floor (3,100 Hz) in the recording after a frame."""
    samples = wav_samples(path, start_frame / RATE, 10_000)
    assert len(samples) >= RATE // 2, len(samples)  # at least 0.5 s recorded after it
    floor = max(tone_power(samples, 3100.0), 1.0)
    return tone_power(samples, GATEWAY_HZ) / floor


async def test_transfer_leaves_the_caller_with_the_gateway_and_hangs_up_the_agent(
    scene: Scene, center: CallCenter, tmp_path: Path
):
    gateway = await Gateway(tmp_path, "answer", hold_ms=3000).start()
    try:
        leg, call_id = await scene.talking()
        await center.mark_emergency(call_id)
        marked = center._active[leg].emergency_at
        handover = center.hand_over(call_id, "119", gateway.uri("119"), "transfer", 5, AGENT)
        assert (handover.service, handover.mode, handover.outcome) == ("119", "transfer", None)
        assert (handover.call_id, handover.requested_by) == (call_id, "agent1")
        with pytest.raises(LinkageNotPossible):  # one hand-over (or unit) at a time
            center.hand_over(call_id, "110", gateway.uri("110"), "transfer", 5, AGENT)

        answered = await scene.outcome()
        assert answered.outcome == linkage.ANSWERED and answered.ended_at is None
        assert marked <= answered.requested_at <= answered.answered_at
        # The agent's leg is hung up once the gateway's audio is joined; the caller stays.
        await scene.wait(lambda: not center._agent_legs)
        assert leg in center._active
        assert center.acd.agents[1].state in (AgentState.WRAP_UP, AgentState.AVAILABLE)
        wav = Path(center._active[leg].recording)
        dropped_at = wav.stat().st_size // 2  # frames (16-bit mono, header ~ 44 bytes)
        await asyncio.sleep(1.0)

        # The gateway hangs up after 3 s: the centre then hangs up the caller.
        await scene.finish()
        assert await gateway.finished() == 0
        final = scene.handovers[-1]
        assert final.outcome == linkage.ANSWERED
        assert final.answered_at < final.ended_at
        assert scene.states() == ["ringing", "connected", "transferred", "ended"]
        # After the agent left, the gateway is what the caller's leg hears and records.
        assert tone_after(wav, dropped_at) > 1000
    finally:
        await gateway.stop()


async def test_conference_keeps_all_three_until_the_gateway_leaves(
    scene: Scene, center: CallCenter, tmp_path: Path
):
    gateway = await Gateway(tmp_path, "answer", hold_ms=2500).start()
    try:
        leg, call_id = await scene.talking()
        center.hand_over(call_id, "120", gateway.uri("120"), "conference", 5, AGENT)
        answered = await scene.outcome()
        assert answered.outcome == linkage.ANSWERED
        await asyncio.sleep(1.0)
        # Three legs up: the caller, the agent, the gateway.
        assert leg in center._active and len(center._agent_legs) == 1
        assert len(center._unit_legs) == 1
        assert center.acd.agents[1].state is AgentState.TALKING
        wav = Path(center._active[leg].recording)

        await scene.wait(lambda: not center._unit_legs)  # the gateway hangs up
        assert await gateway.finished() == 0
        assert scene.handovers[-1].ended_at is not None
        await asyncio.sleep(0.5)
        assert leg in center._active and len(center._agent_legs) == 1  # the two talk on
        assert center.acd.agents[1].state is AgentState.TALKING
        assert scene.states() == ["ringing", "connected", "ended"]
        center.endpoint.hangup(leg)
        await scene.finish()
        assert tone_after(wav, 0) > 1000  # the gateway was heard (and recorded)
    finally:
        await gateway.stop()


async def test_busy_and_unanswered_gateways_leave_the_call_as_it_was(
    scene: Scene, center: CallCenter, tmp_path: Path
):
    busy = await Gateway(tmp_path, "busy").start()
    ringing = await Gateway(tmp_path, "ringing").start()
    try:
        leg, call_id = await scene.talking()
        with pytest.raises(CallNotFound):
            center.hand_over("0" * 32, "110", busy.uri("110"), "transfer", 5, AGENT)

        center.hand_over(call_id, "110", busy.uri("110"), "transfer", 5, AGENT)
        first = await scene.outcome(1)
        assert first.outcome == linkage.BUSY and first.answered_at is None
        assert first.ended_at is not None
        assert await busy.finished() == 0
        failed = [e for e in scene.events if e["state"] == "failed"]
        assert failed and "忙线" in failed[-1]["label"]

        center.hand_over(call_id, "122", ringing.uri("122"), "conference", 1.5, AGENT)
        second = await scene.outcome(2)
        assert second.outcome == linkage.NO_ANSWER and second.answered_at is None
        waited = (second.ended_at - second.requested_at).total_seconds()
        assert 1.4 <= waited < 5, waited
        assert await ringing.finished() == 0  # CANCEL, 487, ACK as scripted

        # The caller and the agent were never disturbed.
        assert leg in center._active and len(center._agent_legs) == 1
        assert center.acd.agents[1].state is AgentState.TALKING
        center.endpoint.hangup(leg)
        await scene.finish()
    finally:
        await busy.stop()
        await ringing.stop()
