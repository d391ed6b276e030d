"""Hits per client address in a time window, counted in the database every node shares.

Login failures per address, the citizen pages' submissions and look-ups: a limit per
address that trying another node does not get round. Each (scope, address) counts in
buckets of a tenth of the window (`address_counts`, one row per bucket: an upsert per
hit); the count of the window is the sum of the buckets that overlap it, so the window
slides in tenths. The leader purges old buckets (`purge`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, unit_of_work
from app.errors import RateLimited

BUCKETS = 10  # per window
KEEP = timedelta(days=1)  # buckets older than this are purged (windows are shorter)
Sessions = async_sessionmaker[AsyncSession]


class AddressCount(Base):
    __tablename__ = "address_counts"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    count: Mapped[int]


class AddressLimiter:
    """At most `limit` hits per address of `scope` in `window_seconds` (all nodes)."""

    def __init__(
        self,
        scope: str,
        limit: int,
        window_seconds: float,
        message: str = "操作过于频繁,请稍后再试",
    ) -> None:
        self.scope, self.limit, self.window_seconds = scope, limit, window_seconds
        self.message = message

    def _bucket(self, now: datetime) -> datetime:
        size = self.window_seconds / BUCKETS
        epoch = now.timestamp()
        return datetime.fromtimestamp(epoch - epoch % size, tz=now.tzinfo)

    async def count(self, session: AsyncSession, address: str, now: datetime) -> int:
        since = self._bucket(now - timedelta(seconds=self.window_seconds))
        total = await session.scalar(
            select(func.coalesce(func.sum(AddressCount.count), 0)).where(
                AddressCount.scope == self.scope,
                AddressCount.address == address[:64],
                AddressCount.window_start > since,
            )
        )
        return int(total or 0)

    async def check(self, sessions: Sessions, address: str, now: datetime) -> None:
        """RateLimited (429) once the address has used up the window."""
        async with sessions() as session:
            if await self.count(session, address, now) >= self.limit:
                raise RateLimited(self.message)

    async def hit(self, sessions: Sessions, address: str, now: datetime) -> None:
        """Count one hit (concurrent hits on several nodes each count)."""
        async with unit_of_work(sessions) as session:
            insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
            statement = insert(AddressCount).values(
                scope=self.scope, address=address[:64], window_start=self._bucket(now), count=1
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["scope", "address", "window_start"],
                    set_={"count": statement.excluded.count + AddressCount.count},
                )
            )


async def purge(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        delete(AddressCount).where(AddressCount.window_start < now - KEEP)
    )
    return result.rowcount or 0
