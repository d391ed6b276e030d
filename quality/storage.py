"""The `qa_reviews` table (质检记录) and the queries the use cases need."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from callcenter.storage import Call
from dispatch.lifecycle import Satisfaction
from dispatch.storage import Order, OrderEvent


class QaReview(Base):
    """One recording to score: sampled for its agent's week, or a call of a 差评 order."""

    __tablename__ = "qa_reviews"
    __table_args__ = (
        Index("ix_qa_reviews_week_agent", "week", "agent"),
        Index("ix_qa_reviews_agent_scored", "agent", "scored_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One review per call: a sampled call later rated 差评 keeps its first reason.
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), unique=True)
    agent: Mapped[str] = mapped_column(String(60))
    week: Mapped[str] = mapped_column(String(8))  # ISO week, 2026-W49
    reason: Mapped[str] = mapped_column(String(20))  # sampled | bad_rating
    state: Mapped[str] = mapped_column(String(20), index=True)  # pending | scored
    # {checklist key: points}; the total on 0-100 (quality.domain.total_score).
    scores: Mapped[dict | None] = mapped_column(JSON)
    total: Mapped[float | None] = mapped_column(Float)
    reviewer: Mapped[str | None] = mapped_column(String(60))
    comment: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    scored_at: Mapped[datetime | None]


async def agent_calls(
    session: AsyncSession, start: datetime, end: datetime, hotlines: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """Calls answered by an agent, ended and recorded, offered in [start, end): per agent."""
    stmt = select(Call.agent, Call.id).where(
        Call.offered_at >= start,
        Call.offered_at < end,
        Call.agent.is_not(None),
        Call.answered_at.is_not(None),
        Call.ended_at.is_not(None),
        Call.recording.is_not(None),
    )
    if hotlines:
        stmt = stmt.where(Call.hotline.in_(sorted(hotlines)))
    found: dict[str, list[str]] = {}
    for agent, call_id in await session.execute(stmt):
        found.setdefault(agent, []).append(call_id)
    return found


async def bad_rating_calls(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[str, str]]:
    """(agent, call id) of the answered calls of every order rated 不满意 in [start, end)."""
    rated = (
        select(Order.number)
        .join(OrderEvent, OrderEvent.order_id == Order.id)
        .where(
            OrderEvent.action == "callback",
            OrderEvent.at >= start,
            OrderEvent.at < end,
            OrderEvent.data["satisfaction"].as_string() == Satisfaction.DISSATISFIED.value,
        )
    )
    stmt = (
        select(Call.agent, Call.id)
        .where(
            Call.order_number.in_(rated),
            Call.agent.is_not(None),
            Call.answered_at.is_not(None),
        )
        .order_by(Call.offered_at, Call.id)
    )
    return [(agent, call_id) for agent, call_id in await session.execute(stmt)]


async def reviewed_calls(session: AsyncSession, call_ids: list[str]) -> set[str]:
    if not call_ids:
        return set()
    rows = await session.scalars(select(QaReview.call_id).where(QaReview.call_id.in_(call_ids)))
    return set(rows)


async def sampled_counts(session: AsyncSession, week: str) -> dict[str, int]:
    """How many `sampled` reviews each agent already has in the week."""
    rows = await session.execute(
        select(QaReview.agent, func.count())
        .where(QaReview.week == week, QaReview.reason == "sampled")
        .group_by(QaReview.agent)
    )
    return dict(rows.all())


def review_filter(query, *, agent=None, week=None, state=None, hotlines=frozenset()):
    if agent is not None:
        query = query.where(QaReview.agent == agent)
    if week is not None:
        query = query.where(QaReview.week == week)
    if state is not None:
        query = query.where(QaReview.state == state)
    if hotlines:  # a sub-platform supervisor: the calls of their hotlines
        query = query.where(
            QaReview.call_id.in_(select(Call.id).where(Call.hotline.in_(sorted(hotlines))))
        )
    return query


async def page_reviews(
    session: AsyncSession, *, page: int = 1, page_size: int = 50, **where
) -> tuple[list[tuple[QaReview, Call]], int]:
    """One page of reviews with their calls: pending first, then by week and call time."""
    count = review_filter(select(func.count()).select_from(QaReview), **where)
    total = int(await session.scalar(count) or 0)
    stmt = review_filter(select(QaReview, Call).join(Call, Call.id == QaReview.call_id), **where)
    stmt = stmt.order_by(
        QaReview.state, QaReview.week.desc(), Call.offered_at.desc(), QaReview.id.desc()
    )
    rows = await session.execute(stmt.offset((page - 1) * page_size).limit(page_size))
    return [(review, call) for review, call in rows], total


async def get_review(session: AsyncSession, review_id: int) -> tuple[QaReview, Call] | None:
    row = (
        await session.execute(
            select(QaReview, Call)
            .join(Call, Call.id == QaReview.call_id)
            .where(QaReview.id == review_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])
