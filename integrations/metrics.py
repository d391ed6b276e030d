"""What the outbox reports to /metrics: messages waiting and dead letters."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.metrics import Reader, Sample
from integrations.outbox import OutboxMessage


def reader(sessions: async_sessionmaker[AsyncSession]) -> Reader:
    async def read() -> list[Sample]:
        async with sessions() as session:
            rows = await session.execute(
                select(OutboxMessage.status, func.count())
                .where(OutboxMessage.status != "sent")
                .group_by(OutboxMessage.status)
            )
        return [
            Sample(
                "outbox_messages", "Outbox messages not sent (pending, dead)", n, (("status", s),)
            )
            for s, n in rows
        ]

    return read
