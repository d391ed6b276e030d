"""Background work once per cluster: one leader node runs the jobs (DESIGN §10).

The deadline scanner, the anonymiser, the survey dialer, the reports and the dead-nodes
job must run on one node of the cluster, not on each. On PostgreSQL the leader is the
node whose dedicated connection holds a session-level advisory lock; the others try to
take it every `[cluster] leader_poll_seconds`. When the leader's node dies its session
ends, PostgreSQL releases the lock, and a survivor takes it at its next try: the jobs
resume there within about one poll interval. The leader checks its connection at the
same pace and stops its jobs as soon as it cannot (its lock may be gone: another node
may lead now). On a SQLite file the processes of the machine (`[server] workers` > 1)
elect the same way with an exclusive `flock` on `<database>-leader`, which the kernel
releases when its process dies; in memory the single node is the leader.

Every node also records itself in `cluster_nodes` (a heartbeat at the same pace); the
leader's dead-nodes job (app/factory.py) cleans up after nodes not seen for
`[cluster] node_dead_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import String, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.bus import DOWN, asyncpg_dsn
from app.db import Base, FileLock, unit_of_work
from config import database_file

log = logging.getLogger(__name__)

# The advisory-lock keys of this service (any fixed 64-bit numbers other software on the
# same database does not use): the leader's, and the migrations' at start-up.
LEADER_LOCK = 0x12345_0001  # app.db.MIGRATION_LOCK is 0x12345_0002

BACK_OFF_POLLS = 2  # a node that lost the lead waits this many polls before trying again

Job = Callable[[], Awaitable[None]]  # a loop that runs until cancelled


class ClusterNode(Base):
    """A running node, as it last reported itself (heartbeat)."""

    __tablename__ = "cluster_nodes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class Leader:
    """This node's part in the election; on its own (SQLite) always the leader."""

    def __init__(self, node: str, poll_seconds: float) -> None:
        self.node = node
        self.poll_seconds = poll_seconds
        self.jobs: dict[str, Job] = {}
        self._running: dict[str, asyncio.Task] = {}
        self.is_leader = False
        self.elected = 0  # times this node became the leader
        self.elected_at: float | None = None  # loop time of the last election

    def add_job(self, name: str, job: Job) -> None:
        """Run `job` while this node leads (at once if it does now)."""
        self.jobs[name] = job
        if self.is_leader:
            self._start_job(name)

    def parts(self) -> dict[str, str]:
        """Which background jobs run here (`running`) or on the leader (`standby`)."""
        state = "running" if self.is_leader else "standby"
        return {name: state for name in sorted(self.jobs)}

    async def start(self) -> None:
        self._lead()

    async def stop(self) -> None:
        await self._step_down()

    def _lead(self) -> None:
        self.is_leader = True
        self.elected += 1
        self.elected_at = asyncio.get_running_loop().time()
        for name in self.jobs:
            self._start_job(name)

    def _start_job(self, name: str) -> None:
        if name not in self._running:
            task = asyncio.create_task(self.jobs[name](), name=f"leader-{name}")
            task.add_done_callback(lambda t, name=name: self._job_ended(name, t))
            self._running[name] = task

    def _job_ended(self, name: str, task: asyncio.Task) -> None:
        if self._running.get(name) is task:
            del self._running[name]
        if not task.cancelled() and task.exception() is not None:
            log.error("background job %s stopped", name, exc_info=task.exception())

    async def _step_down(self) -> None:
        self.is_leader = False
        tasks = list(self._running.values())
        self._running.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class PgLeader(Leader):
    """The holder of a session-level advisory lock on a dedicated connection."""

    def __init__(self, node: str, database_url: str, poll_seconds: float) -> None:
        super().__init__(node, poll_seconds)
        self.dsn = asyncpg_dsn(database_url)
        self._conn: asyncpg.Connection | None = None
        self._runner: asyncio.Task | None = None
        self._lost_at: float | None = None
        self._stopping = False

    async def start(self) -> None:
        await self._poll()  # the first node to start leads from the start
        self._runner = asyncio.create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        # Python 3.11's `wait_for` can swallow a cancellation that arrives as the query it
        # waits for completes (the test suite hung on it): the loop also checks the flag.
        self._stopping = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self._step_down()
        await self._close()  # ends the session: the lock goes to the next node at once

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL process of the election connection (tests end it)."""
        return None if self._conn is None else self._conn.get_server_pid()

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.poll_seconds)
            await self._poll()

    async def _poll(self) -> None:
        if self.is_leader and (self._conn is None or self._conn.is_closed()):
            await self._lost("its connection closed")
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncio.wait_for(
                    asyncpg.connect(self.dsn), timeout=self.poll_seconds * 5
                )
            if self.is_leader:
                await asyncio.wait_for(self._conn.fetchval("SELECT 1"), self.poll_seconds)
            elif self._backing_off():
                return
            elif await asyncio.wait_for(
                self._conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK),
                self.poll_seconds,
            ):
                log.warning("node %s is the leader: background jobs run here", self.node)
                self._lead()
        except DOWN as exc:
            if self.is_leader:
                await self._lost(str(exc))
            await self._close()

    async def _lost(self, why: str) -> None:
        """The session holding the lock may be gone, and the lock with it."""
        log.error("leader %s lost its database session (%s): jobs stopped", self.node, why)
        self._lost_at = asyncio.get_running_loop().time()
        await self._step_down()

    def _backing_off(self) -> bool:
        """A node that just lost the lead leaves the next try to the others for two
        polls (its own trouble may not be over; theirs try every poll)."""
        if self._lost_at is None:
            return False
        return (
            asyncio.get_running_loop().time() - self._lost_at < BACK_OFF_POLLS * self.poll_seconds
        )

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), self.poll_seconds)
            except DOWN:
                conn.terminate()


class FileLeader(Leader):
    """The holder of an exclusive `flock` on a file beside the SQLite database."""

    def __init__(self, node: str, path: Path, poll_seconds: float) -> None:
        super().__init__(node, poll_seconds)
        self.lock = FileLock(path)
        self._runner: asyncio.Task | None = None

    async def start(self) -> None:
        self._poll()  # the first node to start leads from the start
        self._runner = asyncio.create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self._step_down()
        self.lock.close()  # the next node takes it

    async def _run(self) -> None:
        while not self.is_leader:
            await asyncio.sleep(self.poll_seconds)
            self._poll()

    def _poll(self) -> None:
        if self.lock.take(wait=False):
            log.warning("node %s is the leader: background jobs run here", self.node)
            self._lead()


def create_leader(node: str, database_url: str, poll_seconds: float) -> Leader:
    if database_url.startswith("postgresql"):
        return PgLeader(node, database_url, poll_seconds)
    if (database := database_file(database_url)) is not None:
        return FileLeader(node, database.with_name(database.name + "-leader"), poll_seconds)
    return Leader(node, poll_seconds)


# ------------------------------------------------------------------ nodes


async def heartbeat(
    sessions: async_sessionmaker[AsyncSession], node: str, started: datetime, now: datetime
) -> None:
    async with unit_of_work(sessions) as session:
        row = await session.get(ClusterNode, node)
        if row is None:
            session.add(ClusterNode(name=node, started_at=started, seen_at=now))
        else:
            row.started_at, row.seen_at = started, now


async def name_taken(
    sessions: async_sessionmaker[AsyncSession], node: str, now: datetime, dead_seconds: float
) -> bool:
    """Another live node already beats under this name (two nodes need two names: call
    records, outbox claims and the dead-nodes job tell nodes apart by it)."""
    async with sessions() as session:
        row = await session.get(ClusterNode, node)
    return row is not None and row.seen_at >= now - timedelta(seconds=dead_seconds)


async def run_heartbeat(
    sessions: async_sessionmaker[AsyncSession],
    node: str,
    now: Callable[[], datetime],
    interval: float,
) -> None:
    started = now()
    while True:
        try:
            await heartbeat(sessions, node, started, now())
        except SQLAlchemyError:  # the database is away for now: the next beat tries again
            log.exception("node %s: heartbeat not recorded", node)
        await asyncio.sleep(interval)


async def forget_node(sessions: async_sessionmaker[AsyncSession], node: str) -> None:
    """A clean stop: the node leaves the list (nothing for the dead-nodes job to do)."""
    async with unit_of_work(sessions) as session:
        await session.execute(delete(ClusterNode).where(ClusterNode.name == node))


async def take_dead_nodes(session: AsyncSession, now: datetime, dead_seconds: float) -> list[str]:
    """The nodes not seen for `dead_seconds`, forgotten (the caller cleans up after them
    in the same transaction)."""
    limit = now - timedelta(seconds=dead_seconds)
    names = list(await session.scalars(select(ClusterNode.name).where(ClusterNode.seen_at < limit)))
    if names:
        await session.execute(delete(ClusterNode).where(ClusterNode.name.in_(names)))
    return names


async def live_nodes(session: AsyncSession) -> list[ClusterNode]:
    return list(await session.scalars(select(ClusterNode).order_by(ClusterNode.name)))
