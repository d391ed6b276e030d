"""The `calls` table (话单/CDR), the `callbacks` list, and the queries on them.

The schema is created by the Alembic migrations in app/migrations/ (tests create it
with `Base.metadata.create_all(tables=[Call.__table__, ...])`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from callcenter.agents import Agent, AgentState
from callcenter.domain import CallRecord, Outcome


class Call(Base):
    """One inbound call to a hotline number, from offer to hang-up."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_hotline_offered", "hotline", "offered_at"),)

    # Chosen by the intake when the INVITE arrives (uuid4 hex), so records can be
    # written in batches without waiting for database-generated keys.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hotline: Mapped[str] = mapped_column(ForeignKey("hotlines.number"))
    caller: Mapped[str] = mapped_column(String(64))
    offered_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    agent: Mapped[str | None] = mapped_column(String(64))
    # completed | abandoned | failed (callcenter.domain.Outcome); NULL while active.
    outcome: Mapped[str | None] = mapped_column(String(20))
    order_number: Mapped[str | None] = mapped_column(ForeignKey("orders.number"), index=True)
    # Path of the WAV recording (absolute, or relative to [sip] recordings_dir).
    recording: Mapped[str | None] = mapped_column(String(300))
    # SIP Call-ID of the caller's leg: ties a record to SIP traces and logs.
    sip_call_id: Mapped[str | None] = mapped_column(String(200))
    # The intake node that took the call ([sip] node): with several intake processes
    # behind a load balancer, each closes only its own records after a crash.
    intake: Mapped[str] = mapped_column(String(64), default="")
    # The IVR's queue choice and when the caller started waiting in it.
    queue: Mapped[str | None] = mapped_column(String(40))
    queued_at: Mapped[datetime | None]
    # When the intake (IVR) answered; `answered_at` is the agent's answer (the KPIs').
    ivr_answered_at: Mapped[datetime | None]
    # Marked for an emergency hand-over (紧急转接) by the caller's key or the agent.
    emergency: Mapped[bool] = mapped_column(default=False, server_default=false())
    # 三方通话: when a unit's phone first joined, its SIP URI and unit code (last one).
    three_way_at: Mapped[datetime | None]
    conference_uri: Mapped[str | None] = mapped_column(String(200))
    conference_unit: Mapped[str | None] = mapped_column(String(40))


class Callback(Base):
    """回电清单: a caller to call back (abandoned in a queue, asked for it, overflow).

    Agents work from it (the state moves open → done when the callback is made).
    """

    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    hotline: Mapped[str] = mapped_column(ForeignKey("hotlines.number"))
    caller: Mapped[str] = mapped_column(String(64))
    # abandoned | requested | overflow (callcenter.ivr.CallbackReason)
    reason: Mapped[str] = mapped_column(String(20))
    queue: Mapped[str | None] = mapped_column(String(40))
    # Seconds the caller waited in the queue before hanging up / being offered this.
    wait_seconds: Mapped[float | None]
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20), default="open")  # open | done
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class CallbackEntry:
    """A callback-list entry as the service writes it (after its call record)."""

    call_id: str
    hotline: str
    caller: str
    reason: str
    created_at: datetime
    queue: str | None = None
    wait_seconds: float | None = None


def to_row(record: CallRecord) -> dict:
    return {
        "id": record.id,
        "hotline": record.hotline,
        "caller": record.caller,
        "offered_at": record.offered_at,
        "answered_at": record.answered_at,
        "ended_at": record.ended_at,
        "agent": record.agent,
        "outcome": record.outcome.value if record.outcome else None,
        "order_number": record.order_number,
        "recording": record.recording,
        "sip_call_id": record.sip_call_id or None,
        "intake": record.intake,
        "queue": record.queue,
        "queued_at": record.queued_at,
        "ivr_answered_at": record.ivr_answered_at,
        "emergency": record.emergency,
        "three_way_at": record.three_way_at,
        "conference_uri": record.conference_uri,
        "conference_unit": record.conference_unit,
    }


def from_row(row: Call) -> CallRecord:
    return CallRecord(
        id=row.id,
        hotline=row.hotline,
        caller=row.caller,
        offered_at=row.offered_at,
        sip_call_id=row.sip_call_id or "",
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        agent=row.agent,
        outcome=Outcome(row.outcome) if row.outcome else None,
        order_number=row.order_number,
        recording=row.recording,
        intake=row.intake,
        queue=row.queue,
        queued_at=row.queued_at,
        ivr_answered_at=row.ivr_answered_at,
        emergency=bool(row.emergency),
        three_way_at=row.three_way_at,
        conference_uri=row.conference_uri,
        conference_unit=row.conference_unit,
    )


async def save(session: AsyncSession, records: list[CallRecord]) -> None:
    """Insert or update the latest state of each record (one flush for the batch)."""
    if not records:
        return
    existing = {
        row.id: row
        for row in await session.scalars(select(Call).where(Call.id.in_([r.id for r in records])))
    }
    for record in records:
        values = to_row(record)
        row = existing.get(record.id)
        if row is None:
            session.add(Call(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
    await session.flush()


async def add_callbacks(session: AsyncSession, entries: list[CallbackEntry]) -> None:
    """Insert callback-list entries (their call records must be saved first)."""
    for entry in entries:
        session.add(
            Callback(
                call_id=entry.call_id,
                hotline=entry.hotline,
                caller=entry.caller,
                reason=entry.reason,
                queue=entry.queue,
                wait_seconds=entry.wait_seconds,
                created_at=entry.created_at,
                state="open",
            )
        )
    await session.flush()


def _call_filter(query, hotline, since, until, hotlines, agent=None):
    if agent is not None:
        query = query.where(Call.agent == agent)
    if hotline is not None:
        query = query.where(Call.hotline == hotline)
    if hotlines:  # a sub-platform user: these hotlines only
        query = query.where(Call.hotline.in_(sorted(hotlines)))
    if since is not None:
        query = query.where(Call.offered_at >= since)
    if until is not None:
        query = query.where(Call.offered_at < until)
    return query


async def list_calls(
    session: AsyncSession,
    hotline: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CallRecord]:
    query = _call_filter(select(Call).order_by(Call.offered_at, Call.id), hotline, since, until, ())
    return [from_row(row) for row in await session.scalars(query)]


async def page_calls(
    session: AsyncSession,
    *,
    hotline: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    hotlines: frozenset[str] = frozenset(),
    agent: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[CallRecord], int]:
    """One page of call records, newest first, and how many match in all."""
    where = (hotline, since, until, hotlines, agent)
    total = int(
        await session.scalar(_call_filter(select(func.count()).select_from(Call), *where)) or 0
    )
    query = _call_filter(select(Call), *where)
    query = query.order_by(Call.offered_at.desc(), Call.id.desc())
    query = query.offset((page - 1) * page_size).limit(page_size)
    return [from_row(row) for row in await session.scalars(query)], total


async def page_callbacks(
    session: AsyncSession,
    *,
    hotline: str | None = None,
    state: str | None = None,
    hotlines: frozenset[str] = frozenset(),
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[Callback], int]:
    """One page of the callback list, oldest first (the order agents work it)."""

    def where(query):
        if hotline is not None:
            query = query.where(Callback.hotline == hotline)
        if hotlines:
            query = query.where(Callback.hotline.in_(sorted(hotlines)))
        if state is not None:
            query = query.where(Callback.state == state)
        return query

    total = int(await session.scalar(where(select(func.count()).select_from(Callback))) or 0)
    query = where(select(Callback)).order_by(Callback.created_at, Callback.id)
    query = query.offset((page - 1) * page_size).limit(page_size)
    return list(await session.scalars(query)), total


async def close_unfinished(session: AsyncSession, intake: str, at: datetime) -> int:
    """Records this intake node left open when it died: ended now, outcome by answer.

    A caller still waiting in a queue did not complete anything: failed.
    """
    query = select(Call).where(Call.ended_at.is_(None), Call.intake == intake)
    rows = list(await session.scalars(query))
    for row in rows:
        row.ended_at = at
        answered = row.answered_at is not None or row.ivr_answered_at is not None
        completed = answered and (row.queued_at is None or row.agent)
        row.outcome = (Outcome.COMPLETED if completed else Outcome.FAILED).value
    await session.flush()
    return len(rows)


# ------------------------------------------------------------------ agents


class AgentRow(Base):
    """坐席: a user with role `agent`, its SIP contact, skills and state."""

    __tablename__ = "agents"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    username: Mapped[str] = mapped_column(String(60))
    # The fixed SIP URI the intake calls to reach the agent's phone.
    sip_uri: Mapped[str | None] = mapped_column(String(200))
    # Queues (skills) taken; empty: every queue.
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20), default=AgentState.LOGGED_OUT.value)
    state_since: Mapped[datetime | None]
    idle_since: Mapped[datetime | None]
    pause_reason: Mapped[str | None] = mapped_column(String(40))
    call_id: Mapped[str | None] = mapped_column(String(32))


class SipCredential(Base):
    """An agent's softphone password as Kamailio's auth_db reads it (DESIGN §10): the
    digest HA1 values only, never the password (callcenter/softphones.py)."""

    __tablename__ = "sip_credentials"

    username: Mapped[str] = mapped_column(String(60), primary_key=True)
    realm: Mapped[str] = mapped_column(String(100), primary_key=True)
    ha1: Mapped[str] = mapped_column(String(32))  # MD5(username:realm:password)
    ha1b: Mapped[str] = mapped_column(String(32))  # MD5(username@realm:realm:password)
    updated_at: Mapped[datetime]


def agent_from_row(row: AgentRow) -> Agent:
    return Agent(
        user_id=row.user_id,
        username=row.username,
        state=AgentState(row.state),
        state_since=row.state_since,
        sip_uri=row.sip_uri,
        queues=tuple(row.queues or ()),
        idle_since=row.idle_since,
        pause_reason=row.pause_reason,
        call_id=row.call_id,
    )


async def load_agents(session: AsyncSession) -> list[Agent]:
    rows = await session.scalars(select(AgentRow).order_by(AgentRow.user_id))
    return [agent_from_row(row) for row in rows]


async def load_agent(session: AsyncSession, user_id: int) -> Agent | None:
    row = await session.get(AgentRow, user_id)
    return None if row is None else agent_from_row(row)


async def save_agents(session: AsyncSession, agents: list[Agent]) -> None:
    """Insert or update each agent's row (the latest state wins)."""
    for agent in agents:
        row = await session.get(AgentRow, agent.user_id)
        if row is None:
            row = AgentRow(user_id=agent.user_id)
            session.add(row)
        row.username = agent.username
        row.sip_uri = agent.sip_uri
        row.queues = list(agent.queues)
        row.state = agent.state.value
        row.state_since = agent.state_since
        row.idle_since = agent.idle_since
        row.pause_reason = agent.pause_reason
        row.call_id = agent.call_id
    await session.flush()


async def get_call(session: AsyncSession, record_id: str) -> Call | None:
    return await session.get(Call, record_id)


# ------------------------------------------------------------------ survey calls


class SurveyCall(Base):
    """回访电话: the automated satisfaction call of one order (attempts and result).

    state: pending (to call) | calling | done (answered, callback written) |
    sms (no answer after every attempt: the integrations issue sends an SMS link) |
    failed (the callback action was refused, e.g. the order moved on meanwhile).
    """

    __tablename__ = "survey_calls"
    __table_args__ = (Index("ix_survey_calls_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), unique=True)
    phone: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_result: Mapped[str | None] = mapped_column(String(40))
    satisfaction: Mapped[str | None] = mapped_column(String(20))
    resolved: Mapped[bool | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
