"""The per-process index of open orders that new requests are compared with (并单).

    index = DuplicateIndex.from_settings(settings.classifiers)                 # start-up
    service.subscribers.append(index_subscriber(index))                      # kept in step
    task = fill_in_background(index, sessions, settings.classifiers, now)    # built meanwhile
    index.query(content, address, district, actor, now)                      # per request

Every open order (registered, dispatched, accepted, returned) of the last
`duplicate_days` is held with its `Record` (dispatch/duplicate_pairs.py: bigram ids in
arrays), in a slot; each bigram id has a posting (an int64 array of slot and slot
generation) and the count of orders holding it (the IDF that tells a place's name from
everyday words). A removed order's posting entries go stale with its slot's generation
and are compacted once a posting holds more stale entries than live ones. A query reads
the postings of its rarest bigrams first and stops at `duplicate_max_candidates`
postings, ranks the orders it met by the IDF mass they share with it (numpy) and scores
the best `duplicate_shortlist` with the pair model, all of them at once
(`pair_matrix`), so its cost depends on how busy the request's place is, not on how
many orders are open. Bigrams held by more than COMMON_SHARE of the orders are not read
at all: they name no place. Visibility is checked on the held hotline, creator and unit
paths before scoring, with the rules of `dispatch.services.visible_to`.

At start-up the index is built in the background (`fill`): the node serves at once and
suggests no duplicates until it is ready (/metrics `hotline_duplicate_index_ready`,
/healthz `duplicate_index`); the changes made meanwhile are filed as they come and the
orders they touched are read again once the build is done.

Changes reach the index after their transaction commits (never for a rolled-back one).
One index per process: on a cluster (or several worker processes, `[server] workers`)
each node files its own changes at once and tells the others on the bus (topic
`duplicates`, see `follow`); they file them when the message arrives (milliseconds
later), and build the index again from the database after the bus was down.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import UNIT_ROLES, Actor, Role
from app.bus import RESYNC, Bus, announce
from app.db import after_commit
from app.metrics import Sample
from config import ClassifierSettings
from dispatch.duplicate_pairs import (
    FLOOR,
    NAME_OTHER,
    PLACE_COVER,
    PairModel,
    Record,
    Weight,
    apart,
    known_grams,
    load_model,
    pair_matrix,
    record,
    weights_of,
)
from dispatch.duplicate_vectors import ProblemVectors, load_vectors
from dispatch.lifecycle import State
from dispatch.services import Appended, UnitDirectory
from dispatch.storage import Order, OrderUnit, Unit

log = logging.getLogger(__name__)

OPEN_STATES = frozenset({State.REGISTERED, State.DISPATCHED, State.ACCEPTED, State.RETURNED})
LOAD_BATCH = 5000  # orders read and featurised per step of the start-up build
CONTENT_CLIP = 80  # characters of a candidate's content shown to the agent


@dataclass(frozen=True, slots=True)
class IndexedOrder:
    number: str
    content: str
    address: str | None
    state: str
    created_at: datetime
    hotline: str
    created_by: str
    unit_paths: tuple[str, ...]  # of its lead, assignee and co-units: who may see it
    features: Record


@dataclass(frozen=True)
class Duplicate:
    number: str
    similarity: float
    same_place: bool
    certain: bool
    content: str
    address: str | None
    state: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        clipped = self.content[:CONTENT_CLIP] + ("…" if len(self.content) > CONTENT_CLIP else "")
        return {
            "number": self.number,
            "similarity": self.similarity,
            "same_place": self.same_place,
            "certain": self.certain,
            "content": clipped,
            "address": self.address,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Thresholds:
    """From `[classifiers]`: the pair model's probabilities from which a pair is shown
    to the agent (`suggest`) or certain enough to merge without asking (`certain`)."""

    suggest: float | None = None  # None: the pair model's own (chosen when it was fitted)
    certain: float | None = None


def thresholds_from(settings: ClassifierSettings) -> Thresholds:
    return Thresholds(suggest=settings.duplicate_threshold, certain=settings.duplicate_certain)


def visible(order: IndexedOrder, actor: Actor) -> bool:
    """`dispatch.services.visible_to`, on an indexed order."""
    if actor.role in UNIT_ROLES:
        top = actor.unit.path if actor.unit else None
        return top is not None and any(path.startswith(top) for path in order.unit_paths)
    if actor.role == Role.INSPECTOR:
        return order.created_by == actor.username
    if actor.hotlines:
        return order.hotline in actor.hotlines
    return True


COMMON_SHARE = 0.05  # a bigram in more than this share of the open orders names no place
EXAMINED = 5  # at most this many times the shortlist's length are checked for `apart`
SAME_PLACE = 0.8  # the share of a side's place (IDF) the other names: shown as 同一地点
# merged without asking only from this share on (阳光花园3栋 / 锦绣花园小区3栋: 0.46); on
# the labelled sets it costs no certain match
CERTAIN_PLACE = 0.5


class DuplicateIndex:
    def __init__(
        self,
        thresholds: Thresholds,
        days: float,
        max_candidates: int,
        shortlist: int = 10,
        vectors: ProblemVectors | None = None,
        model: PairModel | None = None,
    ) -> None:
        self.vectors = vectors
        self.model = model or load_model(with_vectors=vectors is not None)
        self.suggest = self.model.suggest if thresholds.suggest is None else thresholds.suggest
        self.certain = self.model.certain if thresholds.certain is None else thresholds.certain
        self.window = timedelta(days=days)
        self.max_candidates = max_candidates
        self.shortlist = shortlist
        # False until the start-up build (`fill`) is done: queries find nothing till then
        self.ready = True
        # while a build runs: the numbers changed meanwhile, read again when it is done
        self._touched: set[str] | None = None
        self._clear()

    def _clear(self) -> None:
        # Each held order has a slot; postings (per bigram id, an array of slot and
        # generation as one int64) are not cleaned when an order goes: an entry whose
        # generation is no longer its slot's is stale, and a posting is compacted once
        # it holds more stale entries than live ones.
        self._slot_of: dict[str, int] = {}
        self._orders: list[IndexedOrder | None] = []
        self._numbers: list[str | None] = []  # of the orders in the slots (ties go by them)
        self._generation = np.zeros(1024, np.int64)
        self._free: list[int] = []
        self._postings: dict[int, array] = {}
        self._counts = np.zeros(1024, np.int32)  # open orders holding each bigram id
        self._ages: list[tuple[datetime, str]] = []  # a heap: the oldest order first

    @classmethod
    def from_settings(
        cls, settings: ClassifierSettings, vectors: ProblemVectors | None = None
    ) -> DuplicateIndex:
        """With `vectors`, or else those of `duplicate_vectors` if that file exists."""
        return cls(
            thresholds_from(settings),
            settings.duplicate_days,
            settings.duplicate_max_candidates,
            settings.duplicate_shortlist,
            vectors or load_vectors(settings.duplicate_vectors_path),
        )

    def record(self, content: str, address: str | None, district: str | None) -> Record:
        """What the pair model needs of a text, with this index's problem vectors."""
        return _record(content, address, district, self.vectors)

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, number: str) -> bool:
        return number in self._slot_of

    def _order(self, number: str) -> IndexedOrder | None:
        slot = self._slot_of.get(number)
        return None if slot is None else self._orders[slot]

    def held(self, number: str) -> Record:
        """The record of a held order."""
        return self._orders[self._slot_of[number]].features

    # ------------------------------------------------------------ changes

    def add(
        self,
        number: str,
        content: str,
        address: str | None,
        district: str | None,
        *,
        state: str,
        created_at: datetime,
        hotline: str,
        created_by: str,
        unit_paths: Iterable[str] = (),
    ) -> None:
        """File an open order (again, if it is already held)."""
        self.put(
            IndexedOrder(
                number,
                content,
                address,
                state,
                created_at,
                hotline,
                created_by,
                tuple(unit_paths),
                self.record(content, address, district),
            )
        )

    def put(self, order: IndexedOrder) -> None:
        if self._touched is not None:
            self._touched.add(order.number)
        self._file(order)

    def _file(self, order: IndexedOrder) -> None:
        self._forget(order.number)
        if self._free:
            slot = self._free.pop()
            self._orders[slot] = order
            self._numbers[slot] = order.number
        else:
            slot = len(self._orders)
            self._orders.append(order)
            self._numbers.append(order.number)
            if slot >= len(self._generation):
                self._generation = np.concatenate(
                    [self._generation, np.zeros_like(self._generation)]
                )
        self._slot_of[order.number] = slot
        entry = slot | int(self._generation[slot]) << 32
        grams = order.features.whole
        if len(grams) and int(grams[-1]) >= len(self._counts):
            self._grow(int(grams[-1]) + 1)
        self._counts[grams] += 1
        postings = self._postings
        for gram in grams.tolist():
            posting = postings.get(gram)
            if posting is None:
                posting = postings[gram] = array("q")
            posting.append(entry)
        heapq.heappush(self._ages, (order.created_at, order.number))

    def remove(self, number: str) -> None:
        """Forget an order (answered, closed, merged, invalid, aged out); unknown is fine."""
        if self._touched is not None:
            self._touched.add(number)
        self._forget(number)

    def _forget(self, number: str) -> None:
        slot = self._slot_of.pop(number, None)
        if slot is None:
            return
        grams = self._orders[slot].features.whole
        self._orders[slot] = self._numbers[slot] = None
        self._generation[slot] += 1  # its posting entries are stale from now on
        self._free.append(slot)
        self._counts[grams] -= 1
        for gram, count in zip(grams.tolist(), self._counts[grams].tolist(), strict=True):
            posting = self._postings[gram]
            if not count:
                del self._postings[gram]
            elif len(posting) > 2 * count + STALE:
                self._postings[gram] = array("q", self._live(posting).tobytes())

    def _live(self, posting: array) -> np.ndarray:
        """The entries of `posting` whose order is still held."""
        entries = np.frombuffer(posting, np.int64)
        return entries[self._generation[entries & SLOT] == entries >> 32]

    def update(self, number: str, state: str, unit_paths: Iterable[str]) -> None:
        """A held order changed state or units: re-filed while open, dropped otherwise."""
        if self._touched is not None:
            self._touched.add(number)
        if state not in OPEN_STATES:
            self.remove(number)
        elif (slot := self._slot_of.get(number)) is not None:
            order = self._orders[slot]
            self._orders[slot] = replace(order, state=state, unit_paths=tuple(unit_paths))

    def take(self, other: DuplicateIndex) -> None:
        """Hold what `other` holds (a rebuilt index replaces this one's contents)."""
        for name in _HELD:
            setattr(self, name, getattr(other, name))

    def expire(self, now: datetime) -> int:
        """Drop the orders older than the window; returns how many."""
        cutoff, dropped = now - self.window, 0
        while self._ages and self._ages[0][0] < cutoff:
            created_at, number = heapq.heappop(self._ages)
            order = self._order(number)
            if order is not None and order.created_at == created_at:
                self._forget(number)
                dropped += 1
        return dropped

    def memory(self) -> int:
        """Bytes held by the postings and counts (not the records)."""
        postings = sum(p.buffer_info()[1] * p.itemsize for p in self._postings.values())
        return postings + self._counts.nbytes + self._generation.nbytes

    # ------------------------------------------------------------ queries

    def weight(self) -> Weight:
        """Bigrams' weights (`duplicate_pairs.weight_of`) over the orders held now."""
        if len(self._counts) < known_grams():  # every id a record may hold has a count
            self._grow(known_grams())
        held, counts = len(self), self._counts
        return lambda grams: weights_of(counts[grams], held)

    def _grow(self, size: int) -> None:
        grown = np.zeros(max(2 * len(self._counts), size), np.int32)
        grown[: len(self._counts)] = self._counts
        self._counts = grown

    def _shortlist(
        self, new: Record, weight: Weight, accept: Callable[[IndexedOrder], bool]
    ) -> list[IndexedOrder]:
        """The orders `accept` lets through (the caller's scope) that share most IDF mass
        with `new`, read from its rarest bigrams on, and are not `apart` from it."""
        common = COMMON_SHARE * max(len(self), FLOOR)
        grams = new.whole[new.whole < len(self._counts)]
        counts = self._counts[grams]
        rarest_first = np.argsort(counts, kind="stable")
        read, parts, sizes, taken = 0, [], [], []
        for gram, count in zip(
            grams[rarest_first].tolist(), counts[rarest_first].tolist(), strict=True
        ):
            if not count:
                continue
            if count > common or (read and read + count > self.max_candidates):
                break  # the rarest bigram is always read, the others within the budget
            parts.append(self._live(self._postings[gram]))
            sizes.append(len(parts[-1]))
            taken.append(gram)
            read += count
        if not parts:
            return []
        entries = np.concatenate(parts)
        gram_weights = weight(np.asarray(taken, np.int32))
        slots, where = np.unique(entries & SLOT, return_inverse=True)
        mass = np.bincount(where, np.repeat(gram_weights, sizes), minlength=len(slots))
        found: list[IndexedOrder] = []
        examined = 0  # in scope; on a busy estate most are other buildings (apart)
        for slot in _best_first(slots, mass, self._numbers):
            if len(found) == self.shortlist or examined == EXAMINED * self.shortlist:
                break
            order = self._orders[slot]
            if accept(order):
                examined += 1
                if not apart(new, order.features):
                    found.append(order)
        return found

    def pairs(
        self, new: Record, accept: Callable[[IndexedOrder], bool] = lambda order: True
    ) -> tuple[list[IndexedOrder], np.ndarray]:
        """The shortlisted orders, and their pair features (a row each)."""
        weight = self.weight()
        orders = self._shortlist(new, weight, accept)
        return orders, pair_matrix(new, [order.features for order in orders], weight)

    def query(
        self,
        content: str,
        address: str | None,
        district: str | None,
        actor: Actor,
        now: datetime,
        *,
        exclude: str | None = None,
        limit: int = 3,
    ) -> list[Duplicate]:
        """Open orders the actor may see that are likely the same incident, best first."""
        if not self.ready:
            return []
        self.expire(now)

        def accept(order: IndexedOrder) -> bool:
            return order.number != exclude and visible(order, actor)

        orders, rows = self.pairs(self.record(content, address, district), accept)
        probabilities = self.model.probabilities(rows).tolist()
        found = [(p, rows[i], orders[i]) for i, p in enumerate(probabilities) if p >= self.suggest]
        # best first; between equals the older order, the natural parent of a merge
        found.sort(key=lambda hit: (-hit[0], hit[2].created_at))
        return [
            Duplicate(
                order.number,
                round(probability, 3),
                bool(row[PLACE_COVER] >= SAME_PLACE),
                # merged without asking only where both name their place in an address
                # and it is the same place (not 阳光花园 / 锦绣花园)
                probability >= self.certain
                and bool(address)
                and bool(order.address)
                and row[PLACE_COVER] >= CERTAIN_PLACE
                and not row[NAME_OTHER],
                order.content,
                order.address,
                order.state,
                order.created_at,
            )
            for probability, row, order in found[:limit]
        ]


SLOT = (1 << 32) - 1  # a posting entry: slot in the low 32 bits, generation above
STALE = 16  # stale entries a posting may hold beyond as many as its live ones
_HELD = ("_slot_of", "_orders", "_numbers", "_generation", "_free", "_postings", "_counts", "_ages")


def _best_first(slots: np.ndarray, mass: np.ndarray, numbers: list) -> Iterator[int]:
    """The slots by shared mass, most first; between equals by order number (so that the
    figures do not depend on the order the orders were filed in)."""
    by_mass = np.argsort(-mass, kind="stable")
    ranked_mass = mass[by_mass].tolist()
    ranked = slots[by_mass].tolist()
    start = 0
    while start < len(ranked):
        end = start + 1
        while end < len(ranked) and ranked_mass[end] == ranked_mass[start]:
            end += 1
        tied = ranked[start:end]
        if len(tied) > 1:
            tied.sort(key=numbers.__getitem__)
        yield from tied
        start = end


@lru_cache(maxsize=4096)
def _record(
    content: str, address: str | None, district: str | None, vectors: ProblemVectors | None
) -> Record:
    """`record`, kept: a registration asks for its duplicates and is then filed."""
    return record(content, address, district, vectors)


# ---------------------------------------------------------------- start-up build


def _indexed(
    index: DuplicateIndex, rows: list[tuple], paths: dict[int, list[str]]
) -> list[IndexedOrder]:
    orders = []
    for order_id, number, content, address, district, state, created_at, hotline, by in rows:
        found = index.record(content, address, district)
        unit_paths = tuple(paths.get(order_id, ()))
        orders.append(
            IndexedOrder(
                number, content, address, state, created_at, hotline, by, unit_paths, found
            )
        )
    return orders


async def _rows(
    session: AsyncSession, conditions: list, limit: int
) -> tuple[list[tuple], dict[int, list[str]]]:
    """Orders as `_indexed` takes them, in id order, and the paths of their units."""
    rows = list(
        await session.execute(
            select(
                Order.id,
                Order.number,
                Order.content,
                Order.address,
                Order.district,
                Order.state,
                Order.created_at,
                Order.hotline_number,
                Order.created_by,
            )
            .where(*conditions)
            .order_by(Order.id)
            .limit(limit)
        )
    )
    paths: dict[int, list[str]] = defaultdict(list)
    if rows:
        for order_id, path in await session.execute(
            select(OrderUnit.order_id, Unit.path)
            .join(Unit, Unit.id == OrderUnit.unit_id)
            .where(OrderUnit.order_id.in_([row[0] for row in rows]))
        ):
            paths[order_id].append(path)
    return rows, paths


async def _read(
    index: DuplicateIndex, sessions: async_sessionmaker[AsyncSession], conditions: list
) -> list[IndexedOrder]:
    """The open orders matching `conditions` (a few), as the index holds them."""
    async with sessions() as session:
        rows, paths = await _rows(session, [Order.state.in_(OPEN_STATES), *conditions], 100)
    return _indexed(index, rows, paths)


async def fill(
    index: DuplicateIndex,
    sessions: async_sessionmaker[AsyncSession],
    settings: ClassifierSettings,
    now: datetime,
) -> None:
    """Hold the open orders of the window, read from the database, and mark `index`
    ready. While it reads, `index` keeps taking the changes it is told of (its
    previous contents, or nothing yet, keep answering); the orders they touched are read
    again once the build is done, so a change during the build is never lost.

    Features are computed in a worker thread, a batch at a time, so a large build
    (100,000 open orders take tens of seconds) logs its progress and leaves the loop free.
    """
    fresh = DuplicateIndex(
        Thresholds(index.suggest, index.certain),
        settings.duplicate_days,
        index.max_candidates,
        index.shortlist,
        index.vectors,
        index.model,
    )
    index._touched = set()
    try:
        since = now - fresh.window
        loop = asyncio.get_running_loop()
        started, last_id = time.monotonic(), 0
        async with sessions() as session:
            window = (Order.state.in_(OPEN_STATES), Order.created_at >= since)
            total = await session.scalar(select(func.count(Order.id)).where(*window))
            while True:
                rows, paths = await _rows(session, [*window, Order.id > last_id], LOAD_BATCH)
                if not rows:
                    break
                last_id = rows[-1][0]
                for order in await loop.run_in_executor(None, _indexed, fresh, rows, paths):
                    fresh._file(order)
                if total and total > LOAD_BATCH:
                    log.info("duplicate index: %d of %d open orders", len(fresh), total)
        index.take(fresh)
        while index._touched:  # changed while read: read them again
            touched, index._touched = sorted(index._touched), set()
            for start in range(0, len(touched), REREAD_BATCH):
                numbers = touched[start : start + REREAD_BATCH]
                found = {
                    order.number: order
                    for order in await _read(index, sessions, [Order.number.in_(numbers)])
                }
                for number in numbers:
                    if number in found:
                        index._file(found[number])
                    else:
                        index._forget(number)
    finally:
        index._touched = None
    index.ready = True
    log.info(
        "duplicate index: %d open orders of the last %g days in %.1f s",
        len(index),
        settings.duplicate_days,
        time.monotonic() - started,
    )


REREAD_BATCH = 100  # orders read again per query after a build


def fill_in_background(
    index: DuplicateIndex,
    sessions: async_sessionmaker[AsyncSession],
    settings: ClassifierSettings,
    now: datetime,
) -> asyncio.Task:
    """Start `fill` as a task (the service answers meanwhile, without duplicates); a
    failed build is logged, and the index stays not ready."""
    index.ready = False
    task = asyncio.create_task(fill(index, sessions, settings, now), name="duplicate-index")

    def done(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("duplicate index: the build failed", exc_info=task.exception())

    task.add_done_callback(done)
    return task


def reader(index: DuplicateIndex):
    """/metrics: whether the index is built, and how many open orders it holds."""

    async def read() -> list[Sample]:
        return [
            Sample(
                "duplicate_index_ready",
                "1: the duplicate index (并单) is built and suggests; 0: building",
                int(index.ready),
            ),
            Sample("duplicate_index_orders", "Open orders the duplicate index holds", len(index)),
        ]

    return read


# ---------------------------------------------------------------- keeping in step


def index_subscriber(index: DuplicateIndex):
    """A `DispatchService` subscriber that keeps `index` in step with the orders."""

    async def on_appended(session: AsyncSession, appended: Appended, units: UnitDirectory) -> None:
        view = appended.view
        codes = {view.lead_unit, view.assignee, *view.co_units} - {None}
        paths = [units.by_code[code].path for code in codes if code in units.by_code]
        if appended.event.action == "register":
            order = await session.get(Order, appended.order_id)
            entry = IndexedOrder(
                order.number,
                order.content,
                order.address,
                view.state.value,
                order.created_at,
                order.hotline_number,
                order.created_by,
                tuple(paths),
                index.record(order.content, order.address, order.district),
            )
            message = {"put": _entry_json(entry, order.district)}

            def put() -> None:
                index.put(entry)
                announce(TOPIC, message)

            after_commit(session, put)
        elif appended.event.from_state != appended.event.to_state or codes:
            state = view.state.value

            def update() -> None:
                index.update(appended.number, state, paths)
                announce(TOPIC, {"update": [appended.number, state, paths]})

            after_commit(session, update)

    return on_appended


TOPIC = "duplicates"  # the bus topic of the index's changes
MAX_MESSAGE_CONTENT = 2000  # characters of content a message carries (else: read it)


def _entry_json(entry: IndexedOrder, district: str | None) -> dict[str, Any]:
    if len(entry.content) > MAX_MESSAGE_CONTENT:  # NOTIFY payloads stay under 8,000 bytes
        return {"number": entry.number}
    return {
        "number": entry.number,
        "content": entry.content,
        "address": entry.address,
        "district": district,
        "state": entry.state,
        "created_at": entry.created_at.isoformat(),
        "hotline": entry.hotline,
        "created_by": entry.created_by,
        "unit_paths": list(entry.unit_paths),
    }


def follow(
    index: DuplicateIndex,
    bus: Bus,
    sessions: async_sessionmaker[AsyncSession],
    settings: ClassifierSettings,
    now: Callable[[], datetime],
) -> None:
    """Keep `index` in step with what the other nodes change (their `announce`s)."""

    async def on_message(data: dict[str, Any]) -> None:
        if data == RESYNC:  # messages were lost while the bus was down: start afresh
            await fill(index, sessions, settings, now())
        elif "update" in data:
            number, state, paths = data["update"]
            index.update(number, state, paths)
        elif "content" in data["put"]:
            entry = data["put"]
            index.add(
                entry["number"],
                entry["content"],
                entry["address"],
                entry["district"],
                state=entry["state"],
                created_at=datetime.fromisoformat(entry["created_at"]),
                hotline=entry["hotline"],
                created_by=entry["created_by"],
                unit_paths=entry["unit_paths"],
            )
        else:
            for order in await _read(index, sessions, [Order.number == data["put"]["number"]]):
                index.put(order)

    bus.subscribe(TOPIC, on_message)
