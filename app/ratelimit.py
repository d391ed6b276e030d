"""Hits in a time window, counted in the database every node shares.

`AddressLimiter`: login failures per address, the citizen pages' submissions and
look-ups — a limit per address that trying another node does not get round. Each
(scope, address) counts in buckets of a tenth of the window (`address_counts`, one row
per bucket: an upsert per hit); the count of the window is the sum of the buckets that
overlap it, so the window slides in tenths. The leader purges old buckets (`purge`).

`RequestLimiter`: every API request, per user (or per address on public routes). An
upsert per request would make the limit the busiest writer of the service, so each node
counts in memory and adds its counts to the same buckets once a second (`sync`); a
subject's count is what the cluster has stored plus what this node has not stored yet.
The other nodes' requests of the last second are the limit's only blind spot.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import String, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, unit_of_work
from app.errors import RateLimited

log = logging.getLogger(__name__)

BUCKETS = 10  # per window
KEEP = timedelta(days=1)  # buckets older than this are purged (windows are shorter)
Sessions = async_sessionmaker[AsyncSession]


class AddressCount(Base):
    __tablename__ = "address_counts"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    count: Mapped[int]


def bucket_of(now: datetime, window_seconds: float) -> datetime:
    size = window_seconds / BUCKETS
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % size, tz=now.tzinfo)


async def add_counts(
    session: AsyncSession, scope: str, counts: dict[tuple[str, datetime], int]
) -> None:
    """Add `counts` per (address, bucket) to the stored buckets of `scope`."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    for (address, window_start), count in sorted(counts.items()):  # one lock order
        statement = insert(AddressCount).values(
            scope=scope, address=address[:64], window_start=window_start, count=count
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["scope", "address", "window_start"],
                set_={"count": statement.excluded.count + AddressCount.count},
            )
        )


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
        return bucket_of(now, self.window_seconds)

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
            await add_counts(session, self.scope, {(address, self._bucket(now)): 1})


class RequestLimiter:
    """Requests per subject in `window_seconds`, all nodes together (within a second: see
    the module's note). `hit` is in memory; `run` stores and reads on `clock`'s time."""

    scope = "api"

    def __init__(self, window_seconds: float, clock: Callable[[], datetime]) -> None:
        self.window_seconds, self.clock = window_seconds, clock
        self._stored: dict[str, int] = {}  # the cluster's counts at the last sync
        self._pending: Counter[tuple[str, datetime]] = Counter()  # not stored yet
        # per subject: counted here and not yet in `_stored` (pending or written since)
        self._unstored: Counter[str] = Counter()
        self._written: Counter[str] = Counter()  # stored, not yet read back

    def used(self, subject: str) -> int:
        """The subject's requests in the window, as far as this node knows."""
        return self._stored.get(subject, 0) + self._unstored[subject]

    def hit(self, subject: str, limit: int) -> None:
        """Count one request of `subject`; RateLimited (429) once it has made `limit`."""
        if self.used(subject) >= limit:
            raise RateLimited(
                f"请求过于频繁:每 {self.window_seconds:g} 秒最多 {limit} 次,请稍后再试",
                retry_after=math.ceil(self.window_seconds / BUCKETS),
            )
        self._pending[(subject, bucket_of(self.clock(), self.window_seconds))] += 1
        self._unstored[subject] += 1

    async def sync(self, sessions: Sessions) -> None:
        """Store this node's new counts, then read the window's counts of the cluster."""
        now = self.clock()
        pending, self._pending = self._pending, Counter()
        if pending:
            try:
                async with unit_of_work(sessions) as session:
                    await add_counts(session, self.scope, pending)
            except BaseException:
                self._pending.update(pending)  # kept for the next round
                raise
            for (subject, _), count in pending.items():
                self._written[subject] += count
        since = bucket_of(now - timedelta(seconds=self.window_seconds), self.window_seconds)
        async with sessions() as session:
            rows = await session.execute(
                select(AddressCount.address, func.sum(AddressCount.count))
                .where(AddressCount.scope == self.scope, AddressCount.window_start > since)
                .group_by(AddressCount.address)
            )
            stored = {address: int(total) for address, total in rows}
        # What was written is in `stored` now: no longer counted as this node's own.
        self._stored, written, self._written = stored, self._written, Counter()
        self._unstored.subtract(written)
        self._unstored = +self._unstored  # drop the zeros

    async def run(self, sessions: Sessions, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync(sessions)
            except SQLAlchemyError:
                log.exception("request counts not synchronised; retrying")


async def purge(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(
        delete(AddressCount).where(AddressCount.window_start < now - KEEP)
    )
    return result.rowcount or 0
