"""Read-only look-ups the screens need beyond the dispatch use cases.

Kept small and read-only; `return_reasons` is a candidate for `DispatchService` (the
dispatcher's queue needs the latest 退单 reason of many orders in one query).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.domain import Actor
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


async def registered_by(session: AsyncSession, actor: Actor, limit: int) -> list[Order]:
    """最近工单 of the console: the orders this user registered, newest first.

    `OrderFilter` has no `created_by` (and `DispatchService.list` is being reworked
    elsewhere), so the console asks here, within the same `visible_to` scope.
    """
    stmt = select(Order).where(Order.created_by == actor.username)
    if (cond := visible_to(actor)) is not None:
        stmt = stmt.where(cond)
    stmt = (
        stmt.options(selectinload(Order.units), selectinload(Order.flag_rows))
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(stmt))
