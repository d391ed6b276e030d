"""The reads of the Open311 server: the catalogue as services, orders as requests.

Registration is not here: a posted request goes through dispatch's own use case
(`dispatch.intake.register_request`), like any other channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.storage import Category, Order, OrderEvent, Unit
from integrations.open311.mapping import CLOSED_STATES, RequestRow, Service

# Events whose note is the answer the citizen gets: a unit's 答复, the centre's 直接答复.
REPLY_ACTIONS = ("reply", "answer")


async def catalogue(session: AsyncSession) -> list[Service]:
    """The leaves of the catalogue, each with the names on its way down from level one."""
    rows = list(await session.scalars(select(Category).order_by(Category.code)))
    by_code = {c.code: c for c in rows}
    parents = {c.parent_code for c in rows if c.parent_code}
    services = []
    for category in rows:
        if category.code in parents:
            continue
        path, node = [], category
        while node is not None:
            path.append(node.name)
            node = by_code.get(node.parent_code) if node.parent_code else None
        services.append(Service(category.code, category.name, tuple(reversed(path))))
    return services


@dataclass(frozen=True)
class RequestFilter:
    """GET requests: the spec's parameters, already parsed."""

    ids: Sequence[str] = ()
    service_codes: Sequence[str] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: Sequence[str] = ()  # open | closed


async def find_requests(
    session: AsyncSession, f: RequestFilter, now: datetime, default_days: int, limit: int
) -> list[RequestRow]:
    """Public service requests, newest first. Only orders with a category (a request
    needs its service_code) that are not confidential (保密) are public."""
    query = (
        select(Order, Category.name, Unit.name)
        .join(Category, Category.code == Order.category_code)
        .outerjoin(Unit, Unit.id == Order.lead_unit_id)
        .where(Order.confidential.is_(False))
    )
    if f.ids:
        query = query.where(Order.number.in_(f.ids))
    else:  # the spec: without ids, the last 90 days unless dates say otherwise
        end = f.end or now
        query = query.where(Order.created_at >= (f.start or end - timedelta(days=default_days)))
        query = query.where(Order.created_at <= end)
    if f.service_codes:
        query = query.where(Order.category_code.in_(f.service_codes))
    if set(f.statuses) == {"open"}:
        query = query.where(Order.state.not_in(CLOSED_STATES))
    elif set(f.statuses) == {"closed"}:
        query = query.where(Order.state.in_(CLOSED_STATES))
    query = query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)
    rows = (await session.execute(query)).all()
    replies = await _latest_replies(session, [order.id for order, _, _ in rows])
    return [
        RequestRow(
            number=order.number,
            state=order.state,
            content=order.content,
            category_code=order.category_code,
            category_name=category_name,
            lead_unit_name=unit_name,
            address=order.address,
            latitude=order.latitude,
            longitude=order.longitude,
            created_at=order.created_at,
            updated_at=order.updated_at,
            closed_at=order.closed_at,
            finish_due=order.finish_due,
            reply_text=replies.get(order.id),
        )
        for order, category_name, unit_name in rows
    ]


async def _latest_replies(session: AsyncSession, order_ids: list[int]) -> dict[int, str]:
    if not order_ids:
        return {}
    rows = await session.execute(
        select(OrderEvent.order_id, OrderEvent.note)
        .where(OrderEvent.order_id.in_(order_ids), OrderEvent.action.in_(REPLY_ACTIONS))
        .order_by(OrderEvent.order_id, OrderEvent.seq)
    )
    return {order_id: note for order_id, note in rows}  # the last one of each order wins
