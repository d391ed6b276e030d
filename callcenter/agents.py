"""Agents (坐席) and their states, as pure rules: no SIP, no database.

    logged_out ──login──▶ available ──offer──▶ ringing ──answer──▶ talking
                            ▲   │                 │ no answer        │ hang-up
                            │   pause             ▼                  ▼
                 resume ────┴── paused ◀──── (不应答)             wrap_up ──timer──▶ available

An agent is a user with role `agent` and a SIP contact (a fixed URI: the softphone or
desk phone the intake calls). The ACD (callcenter.acd) offers a waiting caller to the
available agent idle the longest whose skills (queues) fit the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from callcenter import languages
from callcenter.exceptions import IllegalAgentTransition, InvalidSipUri


class AgentState(StrEnum):
    AVAILABLE = "available"  # 空闲
    RINGING = "ringing"  # 振铃
    TALKING = "talking"  # 通话中
    WRAP_UP = "wrap_up"  # 话后整理
    PAUSED = "paused"  # 示忙
    LOGGED_OUT = "logged_out"  # 离线


STATE_LABELS = {
    AgentState.AVAILABLE: "空闲",
    AgentState.RINGING: "振铃",
    AgentState.TALKING: "通话中",
    AgentState.WRAP_UP: "话后整理",
    AgentState.PAUSED: "示忙",
    AgentState.LOGGED_OUT: "离线",
}

NO_ANSWER = "不应答"  # pause reason after a ring timeout
PAUSED_BY_AGENT = "示忙"

# States with a call on the agent's line: no pause or log-out until it ends.
ON_CALL = frozenset({AgentState.RINGING, AgentState.TALKING})

_SIP_URI = re.compile(r"^sips?:[A-Za-z0-9_.!~*'()&=+$,;?/%-]+@[A-Za-z0-9.-]+(:\d{1,5})?$")


def valid_sip_uri(uri: str) -> str:
    """`sip:user@host[:port]`, stripped; raises InvalidSipUri otherwise."""
    uri = uri.strip()
    if len(uri) > 200 or not _SIP_URI.match(uri):
        raise InvalidSipUri(uri)
    return uri


@dataclass(frozen=True)
class Agent:
    user_id: int
    username: str
    state: AgentState = AgentState.LOGGED_OUT
    state_since: datetime | None = None
    sip_uri: str | None = None
    # Queues (skills) the agent takes; empty: every queue but the languages' (lang_*).
    queues: tuple[str, ...] = ()
    # Languages spoken (codes of callcenter/languages.py), set by an admin: their queues
    # are taken besides `queues`, whatever the agent chose at login.
    languages: tuple[str, ...] = ()
    # When the agent last became available: longest idle is offered first.
    idle_since: datetime | None = None
    pause_reason: str | None = None
    call_id: str | None = None  # the call record on the agent's line

    def takes(self, queues: set[str] | frozenset[str]) -> bool:
        if queues.intersection(languages.queue_of(code) for code in self.languages):
            return True  # a language the agent speaks
        if not self.queues:  # a language caller needs someone who speaks it
            return any(not languages.is_language_queue(q) for q in queues)
        return bool(queues.intersection(self.queues))

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


def _move(
    agent: Agent, action: str, allowed: set[AgentState], to: AgentState, at: datetime, **changes
) -> Agent:
    if agent.state not in allowed:
        raise IllegalAgentTransition(agent.username, agent.state.value, action)
    return replace(agent, state=to, state_since=at, **changes)


def login(agent: Agent, sip_uri: str, queues: tuple[str, ...], at: datetime) -> Agent:
    """签入: with the SIP contact the intake will call."""
    allowed = {AgentState.LOGGED_OUT, AgentState.PAUSED, AgentState.AVAILABLE}
    return _move(
        agent,
        "login",
        allowed,
        AgentState.AVAILABLE,
        at,
        sip_uri=valid_sip_uri(sip_uri),
        queues=tuple(queues),
        idle_since=at,
        pause_reason=None,
    )


def pause(agent: Agent, at: datetime, reason: str = PAUSED_BY_AGENT) -> Agent:
    """示忙: no calls offered until resumed."""
    allowed = {AgentState.AVAILABLE, AgentState.WRAP_UP, AgentState.PAUSED}
    return _move(agent, "pause", allowed, AgentState.PAUSED, at, pause_reason=reason)


def resume(agent: Agent, at: datetime) -> Agent:
    """示闲 (also ends wrap-up early)."""
    allowed = {AgentState.PAUSED, AgentState.WRAP_UP, AgentState.AVAILABLE}
    if agent.state is AgentState.AVAILABLE:
        return agent
    return _move(
        agent, "resume", allowed, AgentState.AVAILABLE, at, idle_since=at, pause_reason=None
    )


def logout(agent: Agent, at: datetime) -> Agent:
    """签出."""
    allowed = {AgentState.AVAILABLE, AgentState.PAUSED, AgentState.WRAP_UP, AgentState.LOGGED_OUT}
    return _move(agent, "logout", allowed, AgentState.LOGGED_OUT, at, pause_reason=None)


def offer(agent: Agent, call_id: str, at: datetime) -> Agent:
    """The ACD rings the agent with a waiting caller."""
    return _move(agent, "offer", {AgentState.AVAILABLE}, AgentState.RINGING, at, call_id=call_id)


def answered(agent: Agent, at: datetime) -> Agent:
    return _move(agent, "answer", {AgentState.RINGING}, AgentState.TALKING, at)


def no_answer(agent: Agent, at: datetime) -> Agent:
    """Ring timeout, busy or declined: paused (不应答) so the next caller is not offered."""
    return _move(
        agent,
        "no_answer",
        {AgentState.RINGING},
        AgentState.PAUSED,
        at,
        pause_reason=NO_ANSWER,
        call_id=None,
    )


def ring_cancelled(agent: Agent, at: datetime) -> Agent:
    """The caller hung up while the agent's phone rang: available again, idle as before."""
    return _move(agent, "cancel", {AgentState.RINGING}, AgentState.AVAILABLE, at, call_id=None)


def call_ended(agent: Agent, at: datetime) -> Agent:
    """Either side hung up: wrap-up (话后整理) before the next call."""
    return _move(agent, "end", {AgentState.TALKING}, AgentState.WRAP_UP, at)


def wrap_up_done(agent: Agent, at: datetime) -> Agent:
    if agent.state is not AgentState.WRAP_UP:
        return agent  # paused or logged out meanwhile: stays so
    return _move(
        agent,
        "wrap_up_done",
        {AgentState.WRAP_UP},
        AgentState.AVAILABLE,
        at,
        idle_since=at,
        call_id=None,
    )


def after_restart(agent: Agent, at: datetime) -> Agent:
    """The intake restarted: calls on agents' lines are gone."""
    if agent.state in ON_CALL or agent.state is AgentState.WRAP_UP:
        return replace(
            agent, state=AgentState.AVAILABLE, state_since=at, idle_since=at, call_id=None
        )
    return agent
