"""ACD (自动呼叫分配), pure: which waiting caller goes to which agent.

- Callers wait per queue, first come first served; across queues the one waiting
  longest goes first.
- A caller is offered to the available agent idle the longest whose skills include the
  caller's queue; after `overflow_seconds` in a topic queue, agents of the overflow
  queue (`general`) may take the caller too.
- A caller whose offer failed (the agent never answered) goes back with the place kept:
  the original enqueue time and sequence number.
- A language's callers (`lang_<code>`) are taken only by agents with that skill, after
  `overflow_seconds` by the language desk too (`lang_desk`), never by general agents;
  an agent with no skills takes every queue but these.
- An emergency (key 0) goes before every other caller.
- A blind transfer (转接) puts the caller back, ahead of later callers, for a queue or
  for one named agent.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from callcenter import languages
from callcenter.agents import Agent, AgentState
from callcenter.ivr import GENERAL_QUEUE
from callcenter.languages import LANGUAGE_DESK


@dataclass(frozen=True)
class Waiting:
    leg: int
    queue: str
    since: datetime
    seq: int
    agent: int | None = None  # a blind transfer to this agent (user id): only that one
    emergency: bool = False  # served before every other caller

    @property
    def place(self) -> tuple[bool, datetime, int]:
        return (not self.emergency, self.since, self.seq)


class Acd:
    def __init__(self, overflow_seconds: float, overflow_queue: str = GENERAL_QUEUE) -> None:
        self.overflow = timedelta(seconds=overflow_seconds)
        self.overflow_queue = overflow_queue
        self.agents: dict[int, Agent] = {}  # by user id
        self._waiting: dict[int, Waiting] = {}  # by caller leg
        self._seq = itertools.count(1)

    # ------------------------------------------------------------ callers

    def enqueue(self, leg: int, queue: str, at: datetime, agent: int | None = None) -> Waiting:
        """Wait from `at` (a transferred caller keeps the time first queued: goes first)."""
        entry = Waiting(leg, queue, at, next(self._seq), agent)
        self._waiting[leg] = entry
        return entry

    def requeue(self, entry: Waiting) -> None:
        """Back in the queue at the same place (an offer that failed)."""
        self._waiting[entry.leg] = entry

    def prioritize(self, leg: int) -> None:
        """An emergency: ahead of everyone waiting (its skill and queue stay)."""
        entry = self._waiting.get(leg)
        if entry is not None:
            self._waiting[leg] = replace(entry, emergency=True)

    def remove(self, leg: int) -> Waiting | None:
        return self._waiting.pop(leg, None)

    def waiting(self, queue: str | None = None) -> list[Waiting]:
        entries = sorted(self._waiting.values(), key=lambda w: w.place)
        return [w for w in entries if queue is None or w.queue == queue]

    def position(self, leg: int) -> int | None:
        """1-based place among the callers of the same queue."""
        entry = self._waiting.get(leg)
        if entry is None:
            return None
        return 1 + sum(
            1 for w in self._waiting.values() if w.queue == entry.queue and w.place < entry.place
        )

    def queues_for(self, entry: Waiting, now: datetime) -> frozenset[str]:
        if now - entry.since >= self.overflow:
            # A language's callers overflow to the language desk, never to general agents.
            language = languages.of_queue(entry.queue) is not None
            return frozenset({entry.queue, LANGUAGE_DESK if language else self.overflow_queue})
        return frozenset({entry.queue})

    # ------------------------------------------------------------ assignment

    def free(self, now: datetime) -> list[Agent]:
        """Available agents with a contact, idle the longest first."""
        return sorted(
            (a for a in self.agents.values() if a.state is AgentState.AVAILABLE and a.sip_uri),
            key=lambda a: (a.idle_since or now, a.user_id),
        )

    def fitting(self, entry: Waiting, free: list[Agent], now: datetime) -> list[Agent]:
        """Of `free` (in order), the agents who may take the caller of `entry`."""
        if entry.agent is not None:
            return [a for a in free if a.user_id == entry.agent]
        queues = self.queues_for(entry, now)
        return [a for a in free if a.takes(queues)]

    def assign(self, now: datetime, limit: int | None = None) -> list[tuple[Waiting, Agent]]:
        """Pair waiting callers with available agents (at most `limit` pairs); the pairs
        leave the queue."""
        free = self.free(now)
        pairs = []
        for entry in self.waiting():
            if not free or (limit is not None and len(pairs) >= limit):
                break
            fitting = self.fitting(entry, free, now)
            if not fitting:
                continue
            agent = fitting[0]
            free.remove(agent)
            del self._waiting[entry.leg]
            pairs.append((entry, agent))
        return pairs


@dataclass(frozen=True)
class QueueStatus:
    queue: str
    waiting: int
    longest_wait_seconds: float
    agents_available: int  # available agents who take this queue
    agents_busy: int  # ringing, talking or in wrap-up, who take it
    estimated_wait_seconds: float | None  # for a caller joining now; None: nobody staffs it


def queue_status(acd: Acd, queue: str, now: datetime, handle_seconds: float) -> QueueStatus:
    """Waiting callers, staffing and a simple estimate of the wait for a new caller:
    callers ahead / agents staffing the queue × average handle time, less the agents
    free right now."""
    waiting = acd.waiting(queue)
    takers = [a for a in acd.agents.values() if a.sip_uri and a.takes({queue})]
    available = sum(a.state is AgentState.AVAILABLE for a in takers)
    busy_states = (AgentState.RINGING, AgentState.TALKING, AgentState.WRAP_UP)
    busy = sum(a.state in busy_states for a in takers)
    staffed = available + busy
    if staffed == 0:
        estimate = None
    elif available > len(waiting):
        estimate = 0.0
    else:
        estimate = round((len(waiting) + 1 - available) / staffed * handle_seconds, 1)
    longest = max(((now - w.since).total_seconds() for w in waiting), default=0.0)
    return QueueStatus(queue, len(waiting), round(longest, 1), available, busy, estimate)
