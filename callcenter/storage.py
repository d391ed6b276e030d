"""The `calls` table (话单/CDR) and the few queries the call centre runs on it.

The schema is created by the Alembic migrations in app/migrations/ (tests create it
with `Base.metadata.create_all(tables=[Call.__table__, ...])`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
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


async def list_calls(
    session: AsyncSession,
    hotline: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CallRecord]:
    query = select(Call).order_by(Call.offered_at, Call.id)
    if hotline is not None:
        query = query.where(Call.hotline == hotline)
    if since is not None:
        query = query.where(Call.offered_at >= since)
    if until is not None:
        query = query.where(Call.offered_at < until)
    return [from_row(row) for row in await session.scalars(query)]


async def close_unfinished(session: AsyncSession, intake: str, at: datetime) -> int:
    """Records this intake node left open when it died: ended now, outcome by answer."""
    query = select(Call).where(Call.ended_at.is_(None), Call.intake == intake)
    rows = list(await session.scalars(query))
    for row in rows:
        row.ended_at = at
        row.outcome = (Outcome.COMPLETED if row.answered_at else Outcome.FAILED).value
    await session.flush()
    return len(rows)
