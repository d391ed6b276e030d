"""The `calls` table (话单/CDR), the `callbacks` list, and the queries on them.

The schema is created by the Alembic migrations in app/migrations/ (tests create it
with `Base.metadata.create_all(tables=[Call.__table__, ...])`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, String, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from callcenter.agents import Agent, AgentState, after_restart, offer
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
    emergency_at: Mapped[datetime | None]  # first marked (应急联动 measures from it)
    # 三方通话: when a unit's phone first joined, its SIP URI and unit code (last one).
    three_way_at: Mapped[datetime | None]
    conference_uri: Mapped[str | None] = mapped_column(String(200))
    conference_unit: Mapped[str | None] = mapped_column(String(40))
    # 多语种: the language the caller chose (callcenter/languages.py); NULL: 普通话.
    language: Mapped[str | None] = mapped_column(String(8))


class Handover(Base):
    """应急联动: a hand-over to 110/119/120/122 (callcenter/linkage.py), on a call (by
    SIP, to the service's gateway) and/or an order (also recorded by hand)."""

    __tablename__ = "handovers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    order_number: Mapped[str | None] = mapped_column(ForeignKey("orders.number"), index=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id"), index=True)
    service: Mapped[str] = mapped_column(String(3))  # 110 | 119 | 120 | 122
    gateway_uri: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str | None] = mapped_column(String(12))  # transfer | conference; NULL: manual
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # answered | busy | no_answer | failed | manual; NULL while the gateway rings
    outcome: Mapped[str | None] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(String(500), default="")


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
        "emergency_at": record.emergency_at,
        "three_way_at": record.three_way_at,
        "conference_uri": record.conference_uri,
        "conference_unit": record.conference_unit,
        "language": record.language,
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
        emergency_at=row.emergency_at,
        three_way_at=row.three_way_at,
        conference_uri=row.conference_uri,
        conference_unit=row.conference_unit,
        language=row.language,
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


class CallerLanguage(Base):
    """多语种: the language a caller last chose, by number (the next call's default)."""

    __tablename__ = "caller_languages"

    phone: Mapped[str] = mapped_column(String(64), primary_key=True)
    language: Mapped[str] = mapped_column(String(8))  # "zh" for 普通话
    updated_at: Mapped[datetime]


@dataclass(frozen=True)
class LanguageChoice:
    phone: str
    language: str
    at: datetime


async def remembered_language(session: AsyncSession, phone: str) -> str | None:
    row = await session.get(CallerLanguage, phone)
    return None if row is None else row.language


async def remember_languages(session: AsyncSession, choices: list[LanguageChoice]) -> None:
    if not choices:
        return
    latest = {c.phone: c for c in choices}
    rows = {
        row.phone: row
        for row in await session.scalars(
            select(CallerLanguage).where(CallerLanguage.phone.in_(list(latest)))
        )
    }
    for choice in latest.values():
        row = rows.get(choice.phone)
        if row is None:
            session.add(
                CallerLanguage(phone=choice.phone, language=choice.language, updated_at=choice.at)
            )
        else:
            row.language, row.updated_at = choice.language, choice.at
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
    # Languages spoken (set by an admin; callcenter/languages.py codes).
    languages: Mapped[list[str] | None] = mapped_column(JSON)
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
        languages=tuple(row.languages or ()),
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
        row.languages = list(agent.languages)
        row.state = agent.state.value
        row.state_since = agent.state_since
        row.idle_since = agent.idle_since
        row.pause_reason = agent.pause_reason
        row.call_id = agent.call_id
    await session.flush()


async def claim_agent(
    session: AsyncSession, candidates: list[int], call_id: str, at: datetime
) -> Agent | None:
    """The ACD's claim (several nodes, one set of agents): of `candidates` (user ids),
    the available agent idle the longest is offered call `call_id` (state `ringing`)
    in this transaction, or None when none is free any more.

    On PostgreSQL the row is picked `FOR UPDATE SKIP LOCKED`: two nodes claiming at
    once lock different agents and never wait for each other; on SQLite the one writer
    runs claims one after the other.
    """
    if not candidates:
        return None
    row = await session.scalar(
        select(AgentRow)
        .where(
            AgentRow.user_id.in_(candidates),
            AgentRow.state == AgentState.AVAILABLE.value,
            AgentRow.sip_uri.is_not(None),
        )
        .order_by(AgentRow.idle_since, AgentRow.user_id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return None
    agent = offer(agent_from_row(row), call_id, at)
    row.state, row.state_since, row.call_id = agent.state.value, agent.state_since, call_id
    await session.flush()
    return agent


async def get_call(session: AsyncSession, record_id: str) -> Call | None:
    return await session.get(Call, record_id)


# ------------------------------------------------------------------ survey calls


class SurveyCall(Base):
    """回访电话: the automated satisfaction call of one order (attempts and result).

    state: pending (to call) | calling | done (answered, callback written) |
    sms (no answer after every attempt: integrations/sms sends the SMS survey) |
    sms_sent (the SMS survey went out; the citizen's 1/2/3 by SMS makes it done) |
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


class Campaign(Base):
    """外呼任务 (民意调查 / 政策宣传): a DTMF questionnaire called out to a target list.

    state: draft (targets may be added) | running | paused | done (every target settled).
    `questions`: [{"text", "options": {key: label}}]; the prompts are synthesised into
    <prompts_dir>/campaigns/<id>/ when the campaign is created.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # poll | outreach
    intro: Mapped[str] = mapped_column(String(500))
    questions: Mapped[list] = mapped_column(JSON)
    thanks: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="draft")
    hour_start: Mapped[int]
    hour_end: Mapped[int]
    attempts: Mapped[int]
    retry_minutes: Mapped[float] = mapped_column(Float)
    pace_per_minute: Mapped[int]  # calls placed per minute at most
    max_concurrent: Mapped[int]  # calls up at once at most
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CampaignTarget(Base):
    """One number of a campaign: pending | calling | done (every question answered) |
    partial (hung up after some) | failed (no answer after every attempt) | dnc."""

    __tablename__ = "campaign_targets"
    __table_args__ = (
        Index("ix_campaign_targets_due", "campaign_id", "state", "next_attempt_at"),
        Index("uq_campaign_targets_phone", "campaign_id", "phone", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    phone: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    answers: Mapped[dict] = mapped_column(JSON, default=dict)  # question index -> key
    last_result: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime]


class DoNotCall(Base):
    """免打扰名单: numbers no campaign calls (a citizen asked, or by law)."""

    __tablename__ = "do_not_call"

    phone: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    added_by: Mapped[str] = mapped_column(String(60))
    added_at: Mapped[datetime]


async def free_agents_of(session: AsyncSession, intake: str, at: datetime) -> list[int]:
    """The agents ringing, talking or in wrap-up on a dead node's calls: free again, as
    after a restart (agents.after_restart; the node's timers died with it); their ids."""
    busy = [AgentState.RINGING.value, AgentState.TALKING.value, AgentState.WRAP_UP.value]
    query = (
        select(AgentRow)
        .join(Call, Call.id == AgentRow.call_id)
        .where(AgentRow.state.in_(busy), Call.intake == intake)
    )
    rows = list(await session.scalars(query))
    for row in rows:
        agent = after_restart(agent_from_row(row), at)
        row.state, row.state_since = agent.state.value, agent.state_since
        row.idle_since, row.call_id = agent.idle_since, agent.call_id
    await session.flush()
    return [row.user_id for row in rows]
