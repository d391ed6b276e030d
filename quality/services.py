"""质检 use cases: sample a week, list and read reviews, score one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import Actor, Role
from callcenter.storage import Call
from quality import storage
from quality.domain import (
    REASON_LABELS,
    STATE_LABELS,
    ChecklistItem,
    IsoWeek,
    Reason,
    ReviewState,
    check_scores,
    total_score,
    weekly_sample,
)
from quality.exceptions import ReviewNotFound, ReviewScored

log = logging.getLogger(__name__)

# Who scores (督办/审核员 and admins); agents read their own scored reviews.
QA_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
READ_ROLES = QA_ROLES | {Role.AGENT}


@dataclass(frozen=True)
class SampleResult:
    week: str
    sampled: int  # new `sampled` reviews written
    bad_rating: int  # new `bad_rating` reviews written


async def sample_week(
    session: AsyncSession, week: IsoWeek, per_agent: int, tz: ZoneInfo, now: datetime
) -> SampleResult:
    """Write the week's reviews (idempotent): the deterministic sample of each agent's
    recorded calls topped up to `per_agent`, and every call of an order rated 不满意 in
    the week. A call already under review is never added twice. The caller commits."""
    start, end = week.bounds(tz)
    label = str(week)
    have = await storage.sampled_counts(session, label)
    candidates = await storage.agent_calls(session, start, end)
    reviewed = await storage.reviewed_calls(
        session, [c for calls in candidates.values() for c in calls]
    )
    picked = weekly_sample(candidates, week, per_agent)
    rows: list[storage.QaReview] = []
    for agent, calls in sorted(picked.items()):
        room = per_agent - have.get(agent, 0)
        for call_id in [c for c in calls if c not in reviewed][: max(room, 0)]:
            rows.append(_review(call_id, agent, label, Reason.SAMPLED, now))
            reviewed.add(call_id)
    sampled = len(rows)
    bad = await storage.bad_rating_calls(session, start, end)
    reviewed |= await storage.reviewed_calls(session, [c for _, c in bad])
    for agent, call_id in bad:
        if call_id not in reviewed:
            rows.append(_review(call_id, agent, label, Reason.BAD_RATING, now))
            reviewed.add(call_id)
    session.add_all(rows)
    await session.flush()
    result = SampleResult(label, sampled, len(rows) - sampled)
    log.info("qa sample %s: %d sampled, %d bad-rating calls", label, sampled, result.bad_rating)
    return result


def _review(call_id: str, agent: str, week: str, reason: Reason, now: datetime):
    return storage.QaReview(
        call_id=call_id,
        agent=agent,
        week=week,
        reason=reason.value,
        state=ReviewState.PENDING.value,
        created_at=now,
    )


def review_view(review: storage.QaReview, call: Call) -> dict[str, Any]:
    ended, answered = call.ended_at, call.answered_at
    talk = None if ended is None or answered is None else (ended - answered).total_seconds()
    return {
        "id": review.id,
        "call": review.call_id,
        "agent": review.agent,
        "week": review.week,
        "reason": review.reason,
        "reason_label": REASON_LABELS[Reason(review.reason)],
        "state": review.state,
        "state_label": STATE_LABELS[ReviewState(review.state)],
        "scores": review.scores,
        "total": review.total,
        "reviewer": review.reviewer,
        "comment": review.comment,
        "created_at": review.created_at,
        "scored_at": review.scored_at,
        "hotline": call.hotline,
        "offered_at": call.offered_at,
        "talk_seconds": None if talk is None else round(talk),
        "order": call.order_number,
        "recording": f"/api/v1/calls/{call.id}/recording" if call.recording else None,
    }


def _scope(actor: Actor, agent: str | None, state: str | None) -> dict[str, Any]:
    """Agents see only their own scored reviews; sub-platform staff their hotlines."""
    if actor.role == Role.AGENT:
        return {"agent": actor.username, "state": ReviewState.SCORED.value}
    return {"agent": agent, "state": state, "hotlines": actor.hotlines}


async def list_reviews(
    sessions: async_sessionmaker,
    actor: Actor,
    *,
    agent: str | None = None,
    week: str | None = None,
    state: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    if week is not None:
        week = str(IsoWeek.parse(week))
    async with sessions() as session:
        rows, total = await storage.page_reviews(
            session, page=page, page_size=page_size, week=week, **_scope(actor, agent, state)
        )
    return [review_view(r, c) for r, c in rows], total


async def get_review(sessions: async_sessionmaker, actor: Actor, review_id: int) -> dict[str, Any]:
    async with sessions() as session:
        found = await storage.get_review(session, review_id)
    if found is None or not _may_see(actor, *found):
        raise ReviewNotFound(review_id)
    return review_view(*found)


def _may_see(actor: Actor, review: storage.QaReview, call: Call) -> bool:
    if actor.role == Role.AGENT:
        return review.agent == actor.username and review.state == ReviewState.SCORED
    if actor.role not in QA_ROLES:
        return False
    return not actor.hotlines or call.hotline in actor.hotlines


async def score_review(
    sessions: async_sessionmaker,
    actor: Actor,
    review_id: int,
    checklist: tuple[ChecklistItem, ...],
    scores: dict[str, int],
    comment: str | None,
    now: datetime,
) -> dict[str, Any]:
    """评分: a pending review gets its checklist scores, total, reviewer and time."""
    checked = check_scores(checklist, scores)
    async with sessions() as session, session.begin():
        found = await storage.get_review(session, review_id)
        if found is None or not _may_see(actor, *found) or actor.role not in QA_ROLES:
            raise ReviewNotFound(review_id)
        review, call = found
        # The state guard in the UPDATE itself: of two supervisors scoring at once, one wins.
        changed = await session.execute(
            update(storage.QaReview)
            .where(
                storage.QaReview.id == review_id,
                storage.QaReview.state == ReviewState.PENDING.value,
            )
            .values(
                state=ReviewState.SCORED.value,
                scores=checked,
                total=total_score(checklist, checked),
                reviewer=actor.username,
                comment=comment or None,
                scored_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            raise ReviewScored(review_id)
        await session.refresh(review)
        return review_view(review, call)


# ---------------------------------------------------------------------- weekly job


async def sample_last_week(
    sessions: async_sessionmaker, per_agent: int, tz: ZoneInfo, now: datetime
) -> SampleResult | None:
    """One round of the background sampler: last week's sample (idempotent, so every
    round may run it; a round that loses a race with another node changes nothing)."""
    week = IsoWeek.of(now.astimezone(tz).date()).previous()
    try:
        async with sessions() as session, session.begin():
            return await sample_week(session, week, per_agent, tz, now)
    except IntegrityError:  # another node wrote the same reviews meanwhile
        log.info("qa sample %s: written by another node meanwhile", week)
        return None


async def run_sampler(
    sessions: async_sessionmaker,
    per_agent: int,
    tz: ZoneInfo,
    now: Callable[[], datetime],
    interval: float,
) -> None:
    while True:
        try:
            await sample_last_week(sessions, per_agent, tz, now())
        except SQLAlchemyError:
            log.exception("qa sampling failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)
