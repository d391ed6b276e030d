"""What the call centre reports to /metrics: calls by outcome (from the call records),
and live from the ACD the callers waiting, the longest wait and the agents by state."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.metrics import Reader, Sample
from callcenter import storage


def reader(sessions: async_sessionmaker[AsyncSession], center) -> Reader:
    """`center`: the running CallCenter, or None when the SIP intake is off."""

    async def read() -> list[Sample]:
        async with sessions() as session:
            rows = await session.execute(
                select(storage.Call.outcome, func.count()).group_by(storage.Call.outcome)
            )
        samples = [
            Sample(
                "calls",
                "Calls offered, by outcome (answered, abandoned, ...; none while in progress)",
                n,
                (("outcome", outcome or "in_progress"),),
            )
            for outcome, n in rows
        ]
        if center is None:
            return samples
        for status in center.queues():
            labels = (("queue", status.queue),)
            samples.append(Sample("queue_waiting", "Callers waiting", status.waiting, labels))
            samples.append(
                Sample(
                    "queue_longest_wait_seconds",
                    "Longest wait now",
                    status.longest_wait_seconds,
                    labels,
                )
            )
        states = Counter(agent.state.value for agent in center.acd.agents.values())
        samples += [
            Sample("agents", "Agents by state", n, (("state", state),))
            for state, n in sorted(states.items())
        ]
        return samples

    return read
