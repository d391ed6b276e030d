"""What dispatch reports to /metrics: orders by state and the alarm flags they carry."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.metrics import Reader, Sample
from dispatch.storage import Order, OrderFlag


def reader(sessions: async_sessionmaker[AsyncSession]) -> Reader:
    async def read() -> list[Sample]:
        async with sessions() as session:
            states = await session.execute(select(Order.state, func.count()).group_by(Order.state))
            flags = await session.execute(
                select(OrderFlag.flag, func.count()).group_by(OrderFlag.flag)
            )
        samples = [
            Sample("orders", "Work orders by state", n, (("state", str(state)),))
            for state, n in states
        ]
        samples += [
            Sample("orders_flagged", "Orders carrying an alarm flag now", n, (("flag", flag),))
            for flag, n in flags
        ]
        return samples

    return read
