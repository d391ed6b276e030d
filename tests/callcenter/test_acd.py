"""Agents' states and the ACD's choices, without SIP or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter import agents
from callcenter.acd import Acd
from callcenter.agents import Agent, AgentState
from callcenter.exceptions import IllegalAgentTransition, InvalidSipUri

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent(user_id: int, idle: float, queues: tuple[str, ...] = ()) -> Agent:
    a = Agent(user_id, f"agent{user_id}")
    return agents.login(a, f"sip:agent{user_id}@127.0.0.1:5070", queues, at(idle))


def test_agent_life_cycle():
    a = agent(1, 0)
    assert (a.state, a.idle_since) == (AgentState.AVAILABLE, at(0))
    a = agents.offer(a, "call1", at(5))
    with pytest.raises(IllegalAgentTransition):
        agents.pause(a, at(6))  # the phone is ringing: answer or time out first
    with pytest.raises(IllegalAgentTransition):
        agents.logout(a, at(6))
    a = agents.call_ended(agents.answered(a, at(6)), at(60))
    assert a.state is AgentState.WRAP_UP
    a = agents.wrap_up_done(a, at(75))
    assert (a.state, a.idle_since, a.call_id) == (AgentState.AVAILABLE, at(75), None)
    a = agents.no_answer(agents.offer(a, "call2", at(80)), at(100))
    assert (a.state, a.pause_reason) == (AgentState.PAUSED, "不应答")
    a = agents.resume(a, at(110))
    assert (a.state, a.idle_since) == (AgentState.AVAILABLE, at(110))
    assert agents.logout(a, at(120)).state is AgentState.LOGGED_OUT
    # Paused during wrap-up: the wrap-up timer does not make the agent available.
    paused = agents.pause(
        agents.call_ended(agents.answered(agents.offer(a, "c", at(1)), at(2)), at(3)), at(4)
    )
    assert agents.wrap_up_done(paused, at(20)).state is AgentState.PAUSED


def test_sip_uris_are_checked():
    for bad in ("", "agent1", "http://x", "sip:@host", "sip:a@", "sip:a b@host", "sip:a@h:port"):
        with pytest.raises(InvalidSipUri):
            agents.valid_sip_uri(bad)
    assert agents.valid_sip_uri(" sip:1001@10.0.0.5:5070 ") == "sip:1001@10.0.0.5:5070"


def test_longest_idle_agent_with_the_skill_takes_the_oldest_caller():
    acd = Acd(overflow_seconds=60)
    acd.agents = {
        1: agent(1, idle=30),
        2: agent(2, idle=10),  # idle the longest
        3: agent(3, idle=0, queues=("utilities",)),
    }
    acd.enqueue(101, "general", at(40))
    acd.enqueue(102, "utilities", at(41))
    acd.enqueue(103, "general", at(42))
    assert [acd.position(leg) for leg in (101, 102, 103)] == [1, 1, 2]
    pairs = [(w.leg, a.user_id) for w, a in acd.assign(at(43))]
    # 101 → the longest idle general agent (2), 102 → the utilities agent (3), 103 → 1.
    assert pairs == [(101, 2), (102, 3), (103, 1)]
    assert acd.waiting() == []


def test_overflow_to_general_agents_after_n_seconds():
    acd = Acd(overflow_seconds=60)
    acd.agents = {1: agent(1, idle=0, queues=("general",))}
    acd.enqueue(101, "utilities", at(0))
    assert acd.assign(at(59)) == []
    [(entry, a)] = acd.assign(at(60))
    assert (entry.leg, a.user_id) == (101, 1)


def test_a_caller_whose_agent_never_answered_keeps_the_place():
    acd = Acd(overflow_seconds=60)
    acd.agents = {1: agent(1, idle=0)}
    first = acd.enqueue(101, "general", at(0))
    [(entry, _)] = acd.assign(at(1))
    acd.enqueue(102, "general", at(2))
    acd.requeue(entry)  # agent 1 did not answer
    assert [w.leg for w in acd.waiting()] == [101, 102]
    assert acd.position(101) == 1 and entry == first
    # Paused agents and agents without a SIP contact are never offered a call.
    acd.agents = {
        1: agents.pause(acd.agents[1], at(3)),
        2: Agent(2, "agent2", AgentState.AVAILABLE),
    }
    assert acd.assign(at(4)) == []


def test_assignments_stop_at_the_limit_of_free_call_slots():
    acd = Acd(overflow_seconds=60)
    acd.agents = {1: agent(1, idle=0), 2: agent(2, idle=1)}
    acd.enqueue(101, "general", at(2))
    acd.enqueue(102, "general", at(3))
    assert [(w.leg, a.user_id) for w, a in acd.assign(at(4), limit=1)] == [(101, 1)]
    assert acd.assign(at(4), limit=0) == []
    assert [w.leg for w in acd.waiting()] == [102]


def test_queue_status_counts_staffing_and_estimates_the_wait():
    from callcenter.acd import queue_status

    acd = Acd(overflow_seconds=60)
    acd.agents = {
        1: agents.answered(agents.offer(agent(1, idle=0), "c", at(1)), at(2)),  # talking
        2: agent(2, idle=0, queues=("utilities",)),
        3: agents.pause(agent(3, idle=0), at(1)),  # paused: not staffing
    }
    for leg, since in ((101, 10), (102, 20), (103, 30)):
        acd.enqueue(leg, "general", at(since))
    status = queue_status(acd, "general", at(40), handle_seconds=120)
    assert (status.waiting, status.longest_wait_seconds) == (3, 30.0)
    assert (status.agents_available, status.agents_busy) == (0, 1)
    assert status.estimated_wait_seconds == 480.0  # 4th in line, one agent, 120 s each
    utilities = queue_status(acd, "utilities", at(40), handle_seconds=120)
    assert (utilities.waiting, utilities.estimated_wait_seconds) == (0, 0.0)
    assert queue_status(acd, "price", at(40), 120).estimated_wait_seconds == 120.0  # agent 1
    acd.agents = {}
    assert queue_status(acd, "general", at(40), 120).estimated_wait_seconds is None


def test_an_emergency_caller_goes_before_everyone_else():
    acd = Acd(overflow_seconds=60)
    acd.agents = {1: agent(1, idle=0)}
    acd.enqueue(101, "general", at(1))
    acd.enqueue(102, "general", at(2))
    acd.prioritize(102)
    assert acd.position(102) == 1 and acd.position(101) == 2
    [(entry, _)] = acd.assign(at(3))
    assert entry.leg == 102 and entry.emergency
