"""Use cases of dispatch: register an order, act on it, read it, scan its deadlines.

Each public method is one transaction (`unit_of_work`): the event is appended, the
projection rewritten and the notifications written together, or nothing is.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, Integer, bindparam, case, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import make_transient_to_detached, selectinload
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import ColumnElement

from accounts import audit
from accounts.domain import SYSTEM_ACTOR, UNIT_ROLES, Actor, Role
from app.bus import announce
from app.db import insert_rows, scalar_write, unit_of_work
from classifiers import extract_district
from config import Settings
from dispatch import search
from dispatch.calendar import WallClock, WorkingCalendar
from dispatch.exceptions import (
    ActionForbidden,
    ActionRejected,
    ConcurrentUpdate,
    IllegalTransition,
    OrderNotFound,
)
from dispatch.lifecycle import (
    SYSTEM_ACTIONS,
    Context,
    Event,
    Flag,
    OrderView,
    Policy,
    State,
    apply,
    decide,
    due_alarms,
    replay,
)
from dispatch.storage import (
    CalendarDay,
    Category,
    Hotline,
    Order,
    OrderEvent,
    OrderFlag,
    OrderSequence,
    OrderUnit,
    Unit,
)

log = logging.getLogger(__name__)

# Roles that may register orders through the API (citizens come through web/Open311).
REGISTER_ROLES = frozenset(
    {Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.INSPECTOR, Role.SYSTEM, Role.CITIZEN}
)


@dataclass(frozen=True)
class Appended:
    """Domain event: one entry was appended to an order's log (subscribers notify)."""

    order_id: int
    number: str
    hotline: str
    event: Event
    view: OrderView
    # The order's times that statistics by day read it by (`anchors`), before and after
    # this event, and the event's own: the days to count again (stats/rollup.py).
    times: frozenset[datetime] = frozenset()


def anchors(order: Order) -> set[datetime]:
    """The times that put an order's rows into a statistics period (stats/queries.py's
    sources: registered, dispatched, replied, finish due, closed)."""
    times = (
        order.created_at,
        order.dispatched_at,
        order.replied_at,
        order.finish_due,
        order.closed_at,
    )
    return {at for at in times if at is not None}


Subscriber = Callable[[AsyncSession, Appended, "UnitDirectory"], Awaitable[None]]


@dataclass(frozen=True)
class UnitDirectory:
    """All units by code and id: the hierarchy as the domain and the views need it."""

    by_code: Mapping[str, Unit]
    by_id: Mapping[int, Unit]

    def exists(self, code: str) -> bool:
        unit = self.by_code.get(code)
        return unit is not None and unit.active

    def within(self, code: str, ancestor: str) -> bool:
        unit, top = self.by_code.get(code), self.by_code.get(ancestor)
        return unit is not None and top is not None and unit.path.startswith(top.path)

    def code(self, unit_id: int | None) -> str | None:
        return self.by_id[unit_id].code if unit_id is not None else None


async def load_units(session: AsyncSession) -> UnitDirectory:
    units = list(await session.scalars(select(Unit)))
    return UnitDirectory({u.code: u for u in units}, {u.id: u for u in units})


@dataclass(frozen=True)
class Reference:
    """What every use case reads and an admin rarely changes: units, hotlines and the
    catalogue's codes. Held by the service (detached rows, never changed through it) and
    forgotten when a commit changes one of them (`forget_reference`)."""

    units: UnitDirectory
    hotlines: Mapping[str, Hotline]
    categories: frozenset[str]

    def handoff_unit(self, hotline: Hotline | None) -> str | None:
        """Mode `external` (DESIGN §2, §8): the active unit standing for the hotline's
        own system, to which its orders are dispatched at registration."""
        if hotline is None or hotline.mode != "external" or hotline.handoff_unit_id is None:
            return None
        unit = self.units.by_id.get(hotline.handoff_unit_id)
        return unit.code if unit is not None and unit.active else None


_SERVICES: weakref.WeakSet[DispatchService] = weakref.WeakSet()

NUMBER_BLOCK = 100  # order numbers a process takes at once on PostgreSQL


@functools.cache
def number_statement(dialect: str) -> Insert:
    """Take `count` numbers of `day` (bound parameters): returns the last one taken."""
    table = OrderSequence.__table__
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    count = bindparam("count", type_=Integer)
    return (
        insert(table)
        .values(day=bindparam("day"), last=count)
        .on_conflict_do_update(index_elements=[table.c.day], set_={"last": table.c.last + count})
        .returning(table.c.last)
    )


@dataclass
class NumberBlock:
    """Numbers `next`..`last` of `day`, taken by this process and not yet handed out."""

    day: str = ""
    next: int = 1
    last: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def forget_reference() -> None:
    """Units, hotlines or categories changed (here or on another node): read them again."""
    for service in list(_SERVICES):
        service.reference = None
        service.generation += 1


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    events: list[OrderEvent]
    units: UnitDirectory
    view: OrderView


def event_from_row(row: OrderEvent) -> Event:
    return Event(
        action=row.action,
        at=row.at,
        by=row.actor,
        role=Role(row.actor_role),
        from_state=State(row.from_state) if row.from_state else None,
        to_state=State(row.to_state),
        note=row.note,
        data=row.data,
    )


def build_policy(settings: Settings, overrides: Mapping[date, bool]) -> Policy:
    cal = settings.calendar
    calendar = WorkingCalendar(
        work_periods=tuple(cal.working_hours), tz=ZoneInfo(cal.timezone), overrides=dict(overrides)
    )
    return Policy(calendar=calendar, wall=WallClock(), rules=settings.deadlines)


def visible_to(actor: Actor, *, listing: bool = False) -> ColumnElement[bool] | None:
    """The SQL condition for orders this actor may see (None: all of them).

    `listing`: the condition of a list, where a unit's orders are a set to start from
    (a few thousand of a million orders) rather than a probe into `order_units` for
    each order the list would otherwise read in its sort order.
    """
    if actor.role in UNIT_ROLES:
        if actor.unit is None:
            return Order.id.is_(None)
        if listing:
            return in_units(actor.unit.path)
        return exists(
            select(OrderUnit.order_id)
            .join(Unit, Unit.id == OrderUnit.unit_id)
            .where(OrderUnit.order_id == Order.id, Unit.path.startswith(actor.unit.path))
        )
    if actor.role == Role.INSPECTOR:
        return Order.created_by == actor.username
    if actor.hotlines:
        return Order.hotline_number.in_(sorted(actor.hotlines))
    return None


def in_units(path: str) -> ColumnElement[bool]:
    """Orders involving a unit of the subtree at `path` (lead, handling or co-unit)."""
    return Order.id.in_(
        select(OrderUnit.order_id)
        .join(Unit, Unit.id == OrderUnit.unit_id)
        .where(Unit.path.startswith(path))
    )


NOTE_ACTIONS = frozenset({"linkage"})  # DispatchService.note: log-only facts
# A search's (`q=`) count stops this far beyond the page asked for: an exact count
# reads every match (on PostgreSQL each one's row, to recheck the trigram index: 0.5 s
# for a fragment found in 6 % of 1M orders), and "more than 1,000" is all an agent can
# use of it. Lists without `q` (queues, boards) are counted exactly.
SEARCH_COUNT_CAP = 1000
SCAN_LIMIT = 1000  # due orders looked at per scanner round; the rest wait for the next
SCAN_CHUNK = 50  # due orders per transaction (a short write lock on SQLite)


class Sort(StrEnum):
    DUE = "due"  # work queue: the oldest running deadline first, then the oldest order
    NEWEST = "newest"  # history and search: the latest registered first


# States in which an order waits for someone (a work queue); flags that record history
# rather than call for work. A list of the one kind is by deadline, of the other newest first.
QUEUE_STATES = frozenset(
    {
        State.REGISTERED,
        State.DISPATCHED,
        State.ACCEPTED,
        State.RETURNED,
        State.REPLIED,
        State.CALLBACK_PENDING,
    }
)
HISTORY_FLAGS = frozenset({Flag.DIRECT, Flag.EXTENDED, Flag.INSPECTED})


class OrderList(NamedTuple):
    """A page of a list of orders; `total` counts every order of the list, or with
    `exact` false a lower bound: there are more than `total`."""

    rows: list[Order]
    total: int
    exact: bool
    units: UnitDirectory


@dataclass(frozen=True)
class OrderFilter:
    state: str | None = None
    unit: str | None = None
    flag: str | None = None
    hotline: str | None = None
    q: str | None = None
    caller_phone: str | None = None
    # Any of these flags (one query for a board of several alarm lists).
    flags: tuple[str, ...] = ()
    sort: Sort | None = None  # None: by deadline for a work queue, else newest first

    def effective_sort(self) -> Sort:
        if self.sort is not None:
            return self.sort
        flags = {*self.flags, *([self.flag] if self.flag else [])}
        if self.state in QUEUE_STATES or (flags and not flags <= HISTORY_FLAGS):
            return Sort.DUE
        return Sort.NEWEST


def ordering(filters: OrderFilter, found: search.OrderSearch) -> list[ColumnElement[Any]]:
    """ORDER BY of a list: its pages are cut in SQL, so an old overdue order is on page 1.

    The running deadline is `accept_due` while dispatched (签收时限) and `finish_due`
    otherwise (办结时限), as the lists show it; orders without one come last, the
    oldest first. For one state the indexes of migration 0016 give this order. Newest
    first is id order: ids are given at registration, and the primary key (or the
    search's own index) gives it without a sort.
    """
    if filters.effective_sort() is Sort.NEWEST:
        return found.newest_first()
    if filters.state == State.DISPATCHED:
        due: ColumnElement[Any] = Order.accept_due
    elif filters.state:
        due = Order.finish_due
    else:
        due = case((Order.state == State.DISPATCHED, Order.accept_due), else_=Order.finish_due)
    return [due.asc().nulls_last(), Order.created_at.asc(), Order.id.asc()]


class DispatchService:
    """The dispatch use cases, bound to a database and the current deadline policy."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        now: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.now = now
        self.policy = build_policy(settings, {})
        self.subscribers: list[Subscriber] = []
        self.tz = ZoneInfo(settings.calendar.timezone)
        self.reference: Reference | None = None  # see `read_reference`
        self.generation = 0  # counts `forget_reference` calls
        # PostgreSQL: this process's block of order numbers (see `_reserved_number`)
        bind = sessions.kw.get("bind")
        postgres = bind is not None and bind.dialect.name == "postgresql"
        self.numbers = NumberBlock() if postgres else None
        _SERVICES.add(self)

    async def read_reference(self, session: AsyncSession) -> Reference:
        """Units, hotlines and category codes: read once, kept until one changes."""
        reference = self.reference
        if reference is None:
            generation = self.generation
            units = await load_units(session)
            hotlines = {h.number: h for h in await session.scalars(select(Hotline))}
            categories = frozenset(await session.scalars(select(Category.code)))
            reference = Reference(units, hotlines, categories)
            if generation == self.generation:  # nothing changed while it was read
                self.reference = reference
        return reference

    async def current_reference(self) -> Reference:
        """`read_reference` in a session of its own, opened only when not held."""
        if (reference := self.reference) is not None:
            return reference
        async with self.sessions() as session:
            return await self.read_reference(session)

    async def units(self, session: AsyncSession) -> UnitDirectory:
        return (await self.read_reference(session)).units

    # ------------------------------------------------------------ calendar

    async def reload_calendar(self) -> None:
        """Rebuild the policy after the calendar table changed."""
        async with self.sessions() as session:
            rows = await session.execute(select(CalendarDay.day, CalendarDay.working))
            self.policy = build_policy(self.settings, dict(rows.all()))

    async def _calendar_changed(self) -> None:
        await self.reload_calendar()
        announce("calendar")  # the other nodes of a cluster read it again too

    async def set_calendar_day(
        self, actor: Actor, day: date, working: bool, note: str, trail: audit.Trail | None = None
    ) -> None:
        """调休/节假日调整 by an admin; recorded in the audit trail when one is given."""
        async with unit_of_work(self.sessions) as session:
            row = await session.get(CalendarDay, day)
            if trail is not None:
                before = None if row is None else {"working": row.working, "note": row.note}
                detail = {"action": "set", "working": working, "note": note, "before": before}
                await trail.record(session, audit.Event.CALENDAR, day.isoformat(), detail=detail)
            if row is None:
                session.add(
                    CalendarDay(
                        day=day,
                        working=working,
                        note=note,
                        updated_by=actor.username,
                        updated_at=self.now(),
                    )
                )
            else:
                row.working, row.note = working, note
                row.updated_by, row.updated_at = actor.username, self.now()
        await self._calendar_changed()

    async def clear_calendar_day(self, day: date, trail: audit.Trail | None = None) -> bool:
        """Drop the admin's correction: the day follows the statutory calendar again."""
        async with unit_of_work(self.sessions) as session:
            row = await session.get(CalendarDay, day)
            if row is not None:
                await session.delete(row)
                if trail is not None:
                    before = {"working": row.working, "note": row.note}
                    detail = {"action": "clear", "before": before}
                    event = audit.Event.CALENDAR
                    await trail.record(session, event, day.isoformat(), detail=detail)
        await self._calendar_changed()
        return row is not None

    # ------------------------------------------------------------ registration

    async def _next_number(self, session: AsyncSession, now: datetime) -> str:
        """The next number of the day, in the registration's transaction (SQLite: its one
        writer takes them in turn; a rolled-back registration leaves no gap)."""
        day = now.astimezone(self.tz).strftime("%Y%m%d")
        stmt = number_statement(session.bind.dialect.name)
        last = await scalar_write(session, stmt, {"day": day, "count": 1})
        return f"{day}{last:06d}"

    async def _reserved_number(self, now: datetime) -> str | None:
        """PostgreSQL: a number from this process's block of the day, or None (SQLite).

        Taking each number in the registration's transaction would hold the day's
        counter row locked until that transaction commits: every registration of the
        cluster would wait for the one before it. Here a process takes NUMBER_BLOCK
        numbers at once in a statement of its own (committed at once), and hands them out
        in memory. Numbers stay unique and of the day (DESIGN §4); the ones a process
        had not handed out when it stopped, or whose registration failed, are never
        used (gaps), and numbers of different nodes are not in registration order.
        """
        if self.numbers is None:
            return None
        day = now.astimezone(self.tz).strftime("%Y%m%d")
        async with self.numbers.lock:
            block = self.numbers
            if block.day != day or block.next > block.last:
                stmt = number_statement("postgresql")
                async with self.sessions() as session, session.begin():
                    taken = {"day": day, "count": NUMBER_BLOCK}
                    last = (await session.execute(stmt, taken)).scalar_one()
                block.day, block.next, block.last = day, last - NUMBER_BLOCK + 1, last
            number = block.next
            block.next += 1
        return f"{day}{number:06d}"

    async def register(
        self,
        actor: Actor,
        fields: Mapping[str, Any],
        automatic: Sequence[tuple[str, Mapping[str, Any]]] = (),
        also: Callable[[AsyncSession, Order, str | None], Awaitable[None]] | None = None,
    ) -> OrderDetail:
        """受理: register a request as a work order; the citizen may be told its number.

        One transaction for the whole use case: the first of the `automatic` actions
        (name, payload) the rules accept follows at once, by the `system` actor (并单,
        智能派单); refused ones are skipped and the order may stay registered. `also`
        writes what else belongs to the registration (the stored suggestion), told which
        automatic action was applied.
        """
        if actor.role not in REGISTER_ROLES:
            raise ActionForbidden("当前角色无权登记工单")
        now = self.now()
        number = await self._reserved_number(now)
        async with unit_of_work(self.sessions) as session:
            reference = await self.read_reference(session)
            hotline = reference.hotlines.get(fields["hotline"])
            if hotline is None:
                raise ActionRejected(f"未知热线号码: {fields['hotline']}", code="unknown_hotline")
            if actor.hotlines and hotline.number not in actor.hotlines:
                raise ActionForbidden("无权登记该热线的工单")
            category = fields.get("category")
            if category and category not in reference.categories:
                raise ActionRejected(f"未知分类: {category}", code="unknown_category")
            units = reference.units
            proposed = fields.get("proposed_unit")
            if proposed and not units.exists(proposed):
                raise ActionRejected(
                    f"建议派往的单位不存在或已停用: {proposed}", code="unknown_unit"
                )
            if number is None:
                number = await self._next_number(session, now)
            order = Order(
                number=number,
                hotline_number=hotline.number,
                channel=fields["channel"],
                request_type=fields["type"],
                urgency=fields["urgency"],
                title=fields.get("title"),
                content=fields["content"],
                caller_phone=fields.get("caller_phone"),
                caller_name=fields.get("caller_name"),
                contact_preference=fields.get("contact_preference"),
                confidential=bool(fields.get("confidential")),
                address=fields.get("address"),
                district=fields.get("district") or extract_district(fields.get("address")),
                latitude=fields.get("latitude"),
                longitude=fields.get("longitude"),
                created_at=now,
                created_by=actor.username,
                tracking_token=secrets.token_urlsafe(24),
                state=State.REGISTERED,
                updated_at=now,
            )  # its collections start empty on first use (setting them cost 40 us)
            event = Event(
                action="register",
                at=now,
                by=actor.username,
                role=actor.role,
                from_state=None,
                to_state=State.REGISTERED,
                data={
                    "hotline": hotline.number,
                    "channel": fields["channel"],
                    "type": fields["type"],
                    "urgency": fields["urgency"],
                    **({"category": category} if category else {}),
                    **({"proposed_unit": proposed} if proposed else {}),
                },
            )
            view = replay([event], self.policy)
            steps = [(event, actor, view)]
            applied = None
            for action, payload in automatic:
                draft = OrderDetail(order, [], units, view)
                if (follow := await self._automatic(session, draft, action, payload)) is not None:
                    view = apply(view, follow, self.policy)
                    steps.append((follow, SYSTEM_ACTOR, view))
                    applied = action
                    break
            detail = await self._insert_new(session, order, steps, units)
            if also is not None:
                await also(session, order, applied)
            return detail

    async def _insert_new(
        self,
        session: AsyncSession,
        order: Order,
        steps: Sequence[tuple[Event, Actor, OrderView]],
        units: UnitDirectory,
    ) -> OrderDetail:
        """Write a new order with its first events (each with the view after it) by a
        few plain INSERTs, then give it to `session` as if it had been loaded.

        Registration is the hot path (issue 11): the ORM's unit of work spent more CPU
        on the new order, its events and its projection rows than everything else of
        the request. The subscribers then hear each event in turn, as `_append` tells
        them of later ones.
        """
        view = steps[-1][2]
        if view.parent:
            stmt = select(Order.id).where(Order.number == view.parent)
            order.parent_id = await session.scalar(stmt)
        self._project(order, view, units)
        order.version = 1
        await insert_rows(session, [order])
        rows = [
            self._event_row(order.id, seq, event, actor)
            for seq, (event, actor, _view) in enumerate(steps, start=1)
        ]
        await insert_rows(session, rows)
        for links in (order.units, order.flag_rows):
            for link in links:
                link.order_id = order.id
            await insert_rows(session, links)
        order.events = rows
        for instance in (*rows, *order.units, *order.flag_rows, order):
            make_transient_to_detached(instance)
        session.add(order)  # persistent now, with nothing to flush
        times = frozenset(anchors(order) | {event.at for event, _actor, _view in steps})
        for n, (event, _actor, after) in enumerate(steps, start=1):
            appended = Appended(
                order.id,
                order.number,
                order.hotline_number,
                event,
                after,
                times if n == len(steps) else frozenset(),  # the days once
            )
            for subscriber in self.subscribers:
                await subscriber(session, appended, units)
        return OrderDetail(order, rows, units, view)

    async def _automatic(
        self, session: AsyncSession, detail: OrderDetail, action: str, payload: Mapping[str, Any]
    ) -> Event | None:
        """The event of an automatic action on a new order, or None when refused."""
        parent_state = None
        if action == "merge":
            parent_state = await self._parent_state(
                session, SYSTEM_ACTOR, payload["parent"], detail.order.number
            )
        ctx = Context(
            policy=self.policy,
            units=detail.units,
            now=self.now(),
            order_state=lambda _n: parent_state,
        )
        try:
            return decide(detail.view, action, payload, SYSTEM_ACTOR, ctx)
        except (ActionRejected, IllegalTransition) as exc:
            log.info("automatic %s of %s refused: %s", action, detail.order.number, exc)
            return None

    # ------------------------------------------------------------ actions

    async def _load(self, session: AsyncSession, actor: Actor, number: str) -> Order:
        stmt = (
            select(Order)
            .where(Order.number == number)
            .options(
                selectinload(Order.events), selectinload(Order.units), selectinload(Order.flag_rows)
            )
        )
        if (cond := visible_to(actor)) is not None:
            stmt = stmt.where(cond)
        order = await session.scalar(stmt)
        if order is None:
            raise OrderNotFound(number)
        return order

    async def act(
        self, actor: Actor, number: str, action: str, payload: Mapping[str, Any]
    ) -> OrderDetail:
        """Perform one life-cycle action on an order, all or nothing."""
        try:
            async with unit_of_work(self.sessions) as session:
                order = await self._load(session, actor, number)
                units = await self.units(session)
                view = replay(map(event_from_row, order.events), self.policy)
                parent_state = None
                if action == "merge" and isinstance(payload.get("parent"), str):
                    parent_state = await self._parent_state(
                        session, actor, payload["parent"], number
                    )
                ctx = Context(
                    policy=self.policy,
                    units=units,
                    now=self.now(),
                    order_state=lambda _n: parent_state,
                )
                event = decide(view, action, payload, actor, ctx)
                return await self._append(session, order, order.events, event, units, actor, view)
        except (StaleDataError, IntegrityError) as exc:
            log.info("concurrent update of order %s: %s", number, exc)
            raise ConcurrentUpdate("工单已被他人更新,请刷新后重试") from None

    async def note(
        self, actor: Actor, number: str, action: str, note: str, data: Mapping[str, Any]
    ) -> OrderDetail:
        """A fact on the order's log that changes nothing else (an action of
        SYSTEM_ACTIONS other than the alarms, e.g. `linkage` 应急联动), by `actor`."""
        if action not in NOTE_ACTIONS:
            raise ValueError(action)
        async with unit_of_work(self.sessions) as session:
            order = await self._load(session, actor, number)
            units = await self.units(session)
            view = replay(map(event_from_row, order.events), self.policy)
            event = Event(
                action, self.now(), actor.username, actor.role, view.state, view.state, note, data
            )
            return await self._append(session, order, order.events, event, units, actor, view)

    async def _parent_state(
        self, session: AsyncSession, actor: Actor, parent: str, number: str
    ) -> State | None:
        if parent == number:
            return None
        stmt = select(Order.state).where(Order.number == parent)
        if (cond := visible_to(actor)) is not None:
            stmt = stmt.where(cond)
        state = await session.scalar(stmt)
        return State(state) if state else None

    async def _append(
        self,
        session: AsyncSession,
        order: Order,
        rows: list[OrderEvent],
        event: Event,
        units: UnitDirectory,
        actor: Actor,
        view: OrderView | None = None,
    ) -> OrderDetail:
        new_view = replay([event], self.policy) if view is None else apply(view, event, self.policy)
        row = self._event_row(order.id, len(rows) + 1, event, actor)
        session.add(row)
        events = [*rows, row]
        if new_view.parent and order.parent_id is None:
            order.parent_id = await session.scalar(
                select(Order.id).where(Order.number == new_view.parent)
            )
        before, lead = anchors(order), order.lead_unit_id
        self._project(order, new_view, units)
        times = before | anchors(order) | {event.at}
        if order.lead_unit_id != lead and order.last_callback_at is not None:
            # 回访 count for the order's lead unit now: their days move with it
            times |= {r.at for r in events if r.action == "callback"}
        await session.flush()
        appended = Appended(
            order.id, order.number, order.hotline_number, event, new_view, frozenset(times)
        )
        for subscriber in self.subscribers:
            await subscriber(session, appended, units)
        if event.to_state == State.REPLIED and event.action in ("reply", "answer"):
            await self._close_children(session, order, event, units)
        return OrderDetail(order, events, units, new_view)

    async def _close_children(
        self, session: AsyncSession, parent: Order, reply: Event, units: UnitDirectory
    ) -> None:
        """The parent's reply closes the orders merged into it (并单), in the same transaction."""
        children = await session.scalars(
            select(Order)
            .where(Order.parent_id == parent.id, Order.state == State.MERGED)
            .options(
                selectinload(Order.events), selectinload(Order.units), selectinload(Order.flag_rows)
            )
        )
        for child in children:
            view = replay(map(event_from_row, child.events), self.policy)
            event = Event(
                action="parent_replied",
                at=reply.at,
                by=SYSTEM_ACTOR.username,
                role=Role.SYSTEM,
                from_state=State.MERGED,
                to_state=State.CLOSED,
                note=reply.note,
                data={"parent": parent.number},
            )
            await self._append(session, child, list(child.events), event, units, SYSTEM_ACTOR, view)

    @staticmethod
    def _event_row(order_id: int, seq: int, event: Event, actor: Actor) -> OrderEvent:
        return OrderEvent(
            order_id=order_id,
            seq=seq,
            at=event.at,
            actor=event.by,
            actor_role=event.role.value,
            actor_unit=actor.unit.code if actor.unit else None,
            action=event.action,
            from_state=event.from_state,
            to_state=event.to_state,
            note=event.note,
            data=dict(event.data),
        )

    def _project(self, order: Order, view: OrderView, units: UnitDirectory) -> None:
        """Rewrite the order's projection columns from its view."""
        unit_id = {
            code: units.by_code[code].id
            for code in filter(
                None, (view.lead_unit, view.assignee, view.proposed_unit, *view.co_units)
            )
        }
        order.state = view.state.value
        order.category_code = view.category
        order.lead_unit_id = unit_id.get(view.lead_unit)
        order.assignee_unit_id = unit_id.get(view.assignee)
        order.proposed_unit_id = unit_id.get(view.proposed_unit)
        order.accept_due = view.accept_due
        order.finish_due = view.finish_due
        order.next_alarm_at = view.next_alarm(self.policy)
        order.dispatched_at = view.dispatched_at
        order.accepted_at = view.accepted_at
        order.replied_at = view.replied_at
        order.closed_at = view.closed_at
        order.answered_at = view.answered_at
        order.last_callback_at = view.last_callback_at
        order.extensions = view.extensions
        order.return_count = view.return_count
        order.reopen_count = view.reopen_count
        order.satisfaction = view.satisfaction.value if view.satisfaction else None
        order.resolved = view.resolved
        order.updated_at = self.now()
        roles = {
            (view.lead_unit, "lead"),
            (view.assignee, "assignee"),
            *((c, "co") for c in view.co_units),
        }
        wanted = {(unit_id[code], role) for code, role in roles if code}
        order.units = [u for u in order.units if (u.unit_id, u.role) in wanted] + [
            OrderUnit(unit_id=uid, role=role)
            for uid, role in sorted(wanted)
            if not any(u.unit_id == uid and u.role == role for u in order.units)
        ]
        flags = {f.value for f in view.flags}
        order.flag_rows = [f for f in order.flag_rows if f.flag in flags] + [
            OrderFlag(flag=f) for f in sorted(flags - {r.flag for r in order.flag_rows})
        ]

    # ------------------------------------------------------------ reading

    async def get(self, actor: Actor, number: str) -> OrderDetail:
        async with self.sessions() as session:
            order = await self._load(session, actor, number)
            units = await self.units(session)
            view = replay(map(event_from_row, order.events), self.policy)
            return OrderDetail(order, list(order.events), units, view)

    async def list(
        self, actor: Actor, filters: OrderFilter, page: int, page_size: int
    ) -> OrderList:
        conditions = []
        if (cond := visible_to(actor, listing=True)) is not None:
            conditions.append(cond)
        if filters.state:
            conditions.append(Order.state == filters.state)
        if filters.hotline:
            conditions.append(Order.hotline_number == filters.hotline)
        if filters.caller_phone:
            conditions.append(Order.caller_phone == filters.caller_phone)
        if filters.flag:
            conditions.append(
                exists(
                    select(OrderFlag.order_id).where(
                        OrderFlag.order_id == Order.id, OrderFlag.flag == filters.flag
                    )
                )
            )
        if filters.flags:
            conditions.append(
                exists(
                    select(OrderFlag.order_id).where(
                        OrderFlag.order_id == Order.id, OrderFlag.flag.in_(filters.flags)
                    )
                )
            )
        async with self.sessions() as session:
            dialect = session.bind.dialect.name
            found = search.parse(filters.q, dialect)
            units = await self.units(session)
            if filters.unit:
                unit = units.by_code.get(filters.unit)
                if unit is None:
                    raise ActionRejected(f"未知单位: {filters.unit}", code="unknown_unit")
                conditions.append(in_units(unit.path))
            cap = max(SEARCH_COUNT_CAP, page * page_size) if filters.q else None
            total = await session.scalar(found.count(conditions, cap)) or 0
            exact = cap is None or total <= cap
            if filters.q and dialect == "postgresql":
                found = search.parse(filters.q, dialect, dense=not exact)
            rows = await session.scalars(
                found.apply(select(Order).where(*conditions))
                .options(selectinload(Order.units), selectinload(Order.flag_rows))
                .order_by(*ordering(filters, found))
                .offset((page - 1) * page_size)
                .limit(page_size)
            )
            return OrderList(list(rows), total if exact else cap, exact, units)

    # ------------------------------------------------------------ the deadline scanner

    async def scan(self) -> list[tuple[str, str]]:
        """Raise warnings (75 %) and overdue flags that are due; each exactly once.

        The due orders come from the `next_alarm_at` index (a few ms among 1M open
        orders); each is replayed from its log like any action. They are handled
        SCAN_CHUNK to a transaction, loaded in one query: one commit (an fsync on
        SQLite) for many orders. If one of them changed meanwhile (its version moved),
        the chunk is redone one order per transaction and that order is left for the
        next round. (No savepoints: pysqlite's implicit transactions make a savepoint
        released outside BEGIN a commit.)
        """
        now = self.now()
        async with self.sessions() as session:
            numbers = list(
                await session.scalars(
                    select(Order.number)
                    .where(Order.next_alarm_at <= now)
                    .order_by(Order.next_alarm_at)
                    .limit(SCAN_LIMIT)
                )
            )
        raised = []
        for start in range(0, len(numbers), SCAN_CHUNK):
            raised += await self._scan_chunk(numbers[start : start + SCAN_CHUNK], now)
        return raised

    async def _scan_chunk(self, numbers: list[str], now: datetime) -> list[tuple[str, str]]:
        try:
            async with unit_of_work(self.sessions) as session:
                return await self._raise_all(session, numbers, now)
        except (StaleDataError, IntegrityError):
            log.info("an order changed during the scan; its chunk is redone order by order")
        raised = []
        for number in numbers:
            try:
                async with unit_of_work(self.sessions) as session:
                    raised += await self._raise_all(session, [number], now)
            except (StaleDataError, IntegrityError):
                log.info("order %s changed during the scan; it is looked at next time", number)
        return raised

    async def _raise_all(
        self, session: AsyncSession, numbers: list[str], now: datetime
    ) -> list[tuple[str, str]]:
        units = await self.units(session)
        orders = await session.scalars(
            select(Order)
            .where(Order.number.in_(numbers))
            .options(
                selectinload(Order.events),
                selectinload(Order.units),
                selectinload(Order.flag_rows),
            )
        )
        by_number = {order.number: order for order in orders}
        raised = []
        for number in numbers:
            if (order := by_number.get(number)) is not None:
                raised += await self._raise_due(session, order, now, units)
        return raised

    async def _raise_due(
        self, session: AsyncSession, order: Order, now: datetime, units: UnitDirectory
    ) -> list[tuple[str, str]]:
        raised = []
        rows = list(order.events)
        view = replay(map(event_from_row, rows), self.policy)
        for flag in due_alarms(view, now, self.policy):
            event = Event(
                action=flag.value,
                at=now,
                by=SYSTEM_ACTOR.username,
                role=Role.SYSTEM,
                from_state=view.state,
                to_state=view.state,
                note=SYSTEM_ACTIONS[flag.value],
            )
            detail = await self._append(session, order, rows, event, units, SYSTEM_ACTOR, view)
            rows, view = detail.events, detail.view
            raised.append((order.number, flag.value))
        if not raised:  # stale alarm time (e.g. calendar changed): refresh it
            self._project(order, view, units)
            await session.flush()
        return raised
