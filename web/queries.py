"""Read-only look-ups the screens need beyond the dispatch use cases.

Kept small and read-only; `return_reasons` is a candidate for `DispatchService` (the
dispatcher's queue needs the latest 退单 reason of many orders in one query).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.domain import Actor
from dispatch.lifecycle import State
from dispatch.services import visible_to
from dispatch.storage import Category, Hotline, Order, OrderEvent


@dataclass(frozen=True)
class ReturnReason:
    unit: str | None
    reason: str
    at: datetime


async def return_reasons(
    session: AsyncSession, order_ids: Iterable[int], action: str = "return"
) -> dict[int, ReturnReason]:
    """The latest 退单 (return) event of each order: which unit, why, when (`action`
    "object": the latest 派单异议)."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(OrderEvent.order_id, OrderEvent.actor_unit, OrderEvent.note, OrderEvent.at)
        .where(OrderEvent.order_id.in_(ids), OrderEvent.action == action)
        .order_by(OrderEvent.order_id, OrderEvent.seq)
    )
    latest: dict[int, ReturnReason] = {}
    for order_id, unit, note, at in rows:
        latest[order_id] = ReturnReason(unit, note, at)
    return latest


async def rated_at(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, datetime]:
    """When each order got its latest rating (回访 or 好差评): where 核实's time starts."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(OrderEvent.order_id, OrderEvent.at)
        .where(OrderEvent.order_id.in_(ids), OrderEvent.action == "callback")
        .order_by(OrderEvent.order_id, OrderEvent.seq)
    )
    return {order_id: at for order_id, at in rows}  # the latest of each order wins


async def returned_by(session: AsyncSession, order_id: int) -> set[str]:
    """The units that have returned (退单) this order or objected to it, at any time."""
    rows = await session.scalars(
        select(OrderEvent.actor_unit).where(
            OrderEvent.order_id == order_id, OrderEvent.action.in_(("return", "object"))
        )
    )
    return {unit for unit in rows if unit}


async def categories(session: AsyncSession) -> list[Category]:
    return list(await session.scalars(select(Category).order_by(Category.code)))


async def hotlines(session: AsyncSession, allowed: frozenset[str]) -> list[Hotline]:
    """The hotlines a user may register for (sub-platform managers: theirs only)."""
    stmt = select(Hotline).order_by(Hotline.number)
    if allowed:
        stmt = stmt.where(Hotline.number.in_(sorted(allowed)))
    return list(await session.scalars(stmt))


# 首问负责: an order its registering agent still follows (not closed, merged or invalid).
FINISHED = (State.CLOSED.value, State.MERGED.value, State.INVALID.value)


def _registered_by(actor: Actor, open_only: bool):
    where = [Order.created_by == actor.username]
    if (cond := visible_to(actor)) is not None:
        where.append(cond)
    if open_only:
        where.append(Order.state.not_in(FINISHED))
    return where


async def registered_by(
    session: AsyncSession, actor: Actor, limit: int, open_only: bool = False
) -> list[Order]:
    """我登记的工单 of the console (首问负责: the agent who registered a case owns it and
    follows it): the orders this user registered, newest first; `open_only`: those
    still being handled.

    `OrderFilter` has no `created_by` (and `DispatchService.list` is being reworked
    elsewhere), so the console asks here, within the same `visible_to` scope.
    """
    stmt = (
        select(Order)
        .where(*_registered_by(actor, open_only))
        .options(selectinload(Order.units), selectinload(Order.flag_rows))
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def count_registered(session: AsyncSession, actor: Actor, open_only: bool) -> int:
    stmt = select(func.count(Order.id)).where(*_registered_by(actor, open_only))
    return int(await session.scalar(stmt) or 0)


@dataclass(frozen=True)
class Step:
    """The latest step of an order's handling, as 首问负责 shows it."""

    action: str
    unit: str | None
    at: datetime


async def latest_steps(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, Step]:
    """The latest event of each order (who did what, when)."""
    ids = list(order_ids)
    if not ids:
        return {}
    latest = (
        select(OrderEvent.order_id, func.max(OrderEvent.seq).label("seq"))
        .where(OrderEvent.order_id.in_(ids))
        .group_by(OrderEvent.order_id)
        .subquery()
    )
    rows = await session.execute(
        select(OrderEvent.order_id, OrderEvent.action, OrderEvent.actor_unit, OrderEvent.at).join(
            latest,
            (latest.c.order_id == OrderEvent.order_id) & (latest.c.seq == OrderEvent.seq),
        )
    )
    return {order_id: Step(action, unit, at) for order_id, action, unit, at in rows}
