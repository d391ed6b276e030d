"""The KPI, hotspot and export queries: SQL GROUP BY over `orders` and `order_events`.

Each order KPI of DESIGN §7 is defined once, in `RATE_SQL` below, as a ratio of two
*measures*; a measure is a count of the rows of one *source* that satisfy one SQL
condition, and a source is a table anchored on one timestamp that puts its rows into
the period (the rules are in `stats/domain.py`'s docstring). One statement computes a
whole KPI table:

    facts  = UNION ALL over sources of
             SELECT <group key>, SUM(CASE WHEN <measure condition> THEN 1 ELSE 0 END) ...
             FROM <source> WHERE <anchor> IN [from, to) AND <scope> GROUP BY <group key>
    sums   = SELECT key, SUM(<measure>) ... FROM facts GROUP BY key
             (units with sub-units: joined to the unit tree and summed again per ancestor)
    rates  = SELECT key, CAST(numerator AS FLOAT) / NULLIF(denominator, 0) ... FROM sums
    answer = SELECT rates.*, <三率 score> FROM rates

Each order source reads only its period's rows, from a covering index that starts
with its anchor (`dispatch.storage.KPI_INDEXES`); event sources read the event log by
(action, at). `benchmarks/stats/bench_kpis.py` times this at 1M orders.

Over whole local days grouped by unit, hotline or in total, `facts` come from the
daily sums instead (`daily_plan`, `_daily_branches`; kept by stats/rollup.py): the same
sums, read from one row per day, unit and hotline (`bench_daily.py`: 10M orders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Float,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement, FromClause

from accounts.storage import User
from callcenter.storage import Call
from dispatch.lifecycle import Satisfaction, State
from dispatch.storage import Category, Hotline, Order, OrderEvent, Unit
from quality.storage import QaReview
from stats.domain import (
    CALL_KPIS,
    CHANNEL_LABELS,
    KPI_NAMES,
    NO_KEY_LABELS,
    SCORE,
    Dimension,
    Period,
)
from stats.storage import KpiDaily, KpiDay

# Orders that are not requests anyone handles: duplicates merged into a parent, and
# invalid/harassment registrations. Left out of the "orders registered" denominator.
NOT_REQUESTS = (State.MERGED.value, State.INVALID.value)
DISPATCH_ACTIONS = ("dispatch", "redispatch")


# ---------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """Rows anchored on one timestamp: `at` in the period puts a row in."""

    name: str
    from_: FromClause
    at: ColumnElement
    unit_id: ColumnElement  # the unit a row is attributed to
    where: tuple[ColumnElement[bool], ...] = ()
    # The same rows without the join to `orders`, when nothing of the order is needed
    # (grouped by unit, no hotline scope): one primary-key probe less per event.
    from_alone: FromClause | None = None


_dispatch_unit = aliased(Unit, name="dispatch_unit")
_return_unit = aliased(Unit, name="return_unit")
_events = OrderEvent.__table__.join(Order.__table__, Order.id == OrderEvent.order_id)

REGISTERED = Source(
    "registered",
    Order.__table__,
    Order.created_at,
    Order.lead_unit_id,
    (Order.state.not_in(NOT_REQUESTS),),
)
DISPATCHED = Source("dispatched", Order.__table__, Order.dispatched_at, Order.lead_unit_id)
REPLIED = Source("replied", Order.__table__, Order.replied_at, Order.lead_unit_id)
DUE = Source("due", Order.__table__, Order.finish_due, Order.lead_unit_id)
CLOSED = Source("closed", Order.__table__, Order.closed_at, Order.lead_unit_id)
DISPATCH_EVENTS = Source(
    "dispatch_events",
    _events.outerjoin(_dispatch_unit, _dispatch_unit.code == OrderEvent.data["unit"].as_string()),
    OrderEvent.at,
    _dispatch_unit.id,
    (OrderEvent.action.in_(DISPATCH_ACTIONS),),
    OrderEvent.__table__.outerjoin(
        _dispatch_unit, _dispatch_unit.code == OrderEvent.data["unit"].as_string()
    ),
)
RETURN_EVENTS = Source(
    "return_events",
    # The returning unit is the actor's unit (the same code as the event's data.unit).
    _events.outerjoin(_return_unit, _return_unit.code == OrderEvent.actor_unit),
    OrderEvent.at,
    _return_unit.id,
    # A sub-unit handing an order back to its lead unit keeps the state: not a 退单.
    (OrderEvent.action == "return", OrderEvent.to_state == State.RETURNED.value),
    OrderEvent.__table__.outerjoin(_return_unit, _return_unit.code == OrderEvent.actor_unit),
)
CALLBACK_EVENTS = Source(
    "callback_events",
    _events,
    OrderEvent.at,
    Order.lead_unit_id,
    (OrderEvent.action == "callback",),
)
SOURCES = (
    REGISTERED,
    DISPATCHED,
    REPLIED,
    DUE,
    CLOSED,
    DISPATCH_EVENTS,
    RETURN_EVENTS,
    CALLBACK_EVENTS,
)


@dataclass(frozen=True)
class Measure:
    """COUNT of a source's rows in the period for which `condition` holds."""

    name: str
    source: Source
    condition: ColumnElement[bool] | None = None


# "Orders with the direct flag or answered via `answer`": the `direct` flag is set only
# by an `answer` event (and dropped again when a review sends the answer back), so the
# order's first `answer` time (`answered_at`, kept by the life cycle) covers both.
answered_directly = Order.answered_at.is_not(None)

M_REGISTERED = Measure("registered", REGISTERED)
M_DIRECT = Measure("direct", REGISTERED, answered_directly)
M_DISPATCHED = Measure("dispatched", DISPATCHED)
# Judged: accepted, or the accept deadline has passed (`:as_of` is bound per query).
M_ACCEPT_JUDGED = Measure(
    "accept_judged",
    DISPATCHED,
    or_(Order.accepted_at.is_not(None), Order.accept_due <= bindparam("as_of")),
)
M_ACCEPTED_ON_TIME = Measure(
    "accepted_on_time",
    DISPATCHED,
    and_(Order.accepted_at.is_not(None), Order.accepted_at <= Order.accept_due),
)
M_EXTENDED = Measure("extended", DISPATCHED, Order.extensions > 0)
M_REPLIED = Measure("replied", REPLIED)
M_REPLIED_WITH_DUE = Measure("replied_with_due", REPLIED, Order.finish_due.is_not(None))
M_REPLIED_ON_TIME = Measure(
    "replied_on_time",
    REPLIED,
    and_(Order.finish_due.is_not(None), Order.replied_at <= Order.finish_due),
)
# A callback by the centre at or after the reply: then the latest (`last_callback_at`,
# which a citizen's own rating does not move) is too.
M_CALLED_BACK = Measure("called_back", REPLIED, Order.last_callback_at >= Order.replied_at)
M_DUE = Measure("due", DUE)
M_DUE_CLOSED = Measure("due_closed", DUE, Order.closed_at.is_not(None))
M_CLOSED = Measure("closed", CLOSED)
M_CLOSED_REOPENED = Measure("closed_reopened", CLOSED, Order.reopen_count > 0)
M_DISPATCH_EVENTS = Measure("dispatch_events", DISPATCH_EVENTS)
M_RETURN_EVENTS = Measure("return_events", RETURN_EVENTS)
M_RATED = Measure("rated", CALLBACK_EVENTS)
M_RATED_SATISFIED = Measure(
    "rated_satisfied",
    CALLBACK_EVENTS,
    OrderEvent.data["satisfaction"]
    .as_string()
    .in_([Satisfaction.SATISFIED.value, Satisfaction.BASIC.value]),
)
M_RATED_RESOLVED = Measure(
    "rated_resolved", CALLBACK_EVENTS, OrderEvent.data["resolved"].as_boolean() == true()
)

MEASURES: tuple[Measure, ...] = (
    M_REGISTERED,
    M_DIRECT,
    M_DISPATCHED,
    M_ACCEPT_JUDGED,
    M_ACCEPTED_ON_TIME,
    M_EXTENDED,
    M_REPLIED,
    M_REPLIED_WITH_DUE,
    M_REPLIED_ON_TIME,
    M_CALLED_BACK,
    M_DUE,
    M_DUE_CLOSED,
    M_CLOSED,
    M_CLOSED_REOPENED,
    M_DISPATCH_EVENTS,
    M_RETURN_EVENTS,
    M_RATED,
    M_RATED_SATISFIED,
    M_RATED_RESOLVED,
)

# ---------------------------------------------------------------------- the KPIs, once

RATE_SQL: Mapping[str, tuple[Measure, Measure]] = {
    "direct_rate": (M_DIRECT, M_REGISTERED),
    "ontime_accept_rate": (M_ACCEPTED_ON_TIME, M_ACCEPT_JUDGED),
    "ontime_finish_rate": (M_REPLIED_ON_TIME, M_REPLIED_WITH_DUE),
    "completion_rate": (M_DUE_CLOSED, M_DUE),
    "return_rate": (M_RETURN_EVENTS, M_DISPATCH_EVENTS),
    "extension_rate": (M_EXTENDED, M_DISPATCHED),
    "reopen_rate": (M_CLOSED_REOPENED, M_CLOSED),
    "callback_rate": (M_CALLED_BACK, M_REPLIED),
    "satisfaction_rate": (M_RATED_SATISFIED, M_RATED),
    "resolution_rate": (M_RATED_RESOLVED, M_RATED),
}
assert set(RATE_SQL) | set(CALL_KPIS) | {SCORE} == set(KPI_NAMES)


def rate_expression(numerator: ColumnElement, denominator: ColumnElement) -> ColumnElement:
    """A fraction, NULL when the denominator is 0."""
    return cast(numerator, Float) / func.nullif(denominator, 0)


def score_expression(
    rates: Mapping[str, ColumnElement], weights: Mapping[str, float]
) -> ColumnElement:
    """三率 score: weighted mean of the non-NULL rates (weights renormalised), else NULL."""
    weighted = [literal(w, Float) * func.coalesce(rates[k], 0.0) for k, w in weights.items()]
    present = [case((rates[k].is_(None), 0.0), else_=literal(w, Float)) for k, w in weights.items()]
    return sum(weighted[1:], weighted[0]) / func.nullif(sum(present[1:], present[0]), 0.0)


# ---------------------------------------------------------------------- scope, query


@dataclass(frozen=True)
class Scope:
    """What the caller may see: a unit subtree (unit users) and/or some hotlines."""

    unit_path: str | None = None
    hotlines: frozenset[str] = frozenset()

    @property
    def unit_level(self) -> int:
        return self.unit_path.strip("/").count("/") + 1 if self.unit_path else 1

    def conditions(
        self, unit_id: ColumnElement, hotline: ColumnElement = Order.hotline_number
    ) -> list[ColumnElement[bool]]:
        found = []
        if self.unit_path is not None:
            found.append(unit_id.in_(select(Unit.id).where(Unit.path.startswith(self.unit_path))))
        if self.hotlines:
            found.append(hotline.in_(sorted(self.hotlines)))
        return found


@dataclass(frozen=True)
class KpiQuery:
    period: Period
    dimension: Dimension
    as_of: datetime  # "now": decides which accept deadlines have passed
    include_sub_units: bool = False
    level: int = 1  # with sub-units: roll up to the units of this level (1 = top)
    scope: Scope = field(default_factory=Scope)


_KEY_COLUMNS = {
    Dimension.HOTLINE: Order.hotline_number,
    Dimension.CATEGORY: Order.category_code,
    Dimension.DISTRICT: Order.district,
    Dimension.CHANNEL: Order.channel,
    Dimension.AGENT: Order.created_by,
    Dimension.TOTAL: literal_column("'all'"),
}
TOTAL_KEY = "all"


def _group_key(source: Source, dimension: Dimension) -> ColumnElement:
    return source.unit_id if dimension == Dimension.UNIT else _KEY_COLUMNS[dimension]


def source_facts(
    source: Source,
    keys: Mapping[str, ColumnElement],
    period: Period,
    *,
    from_: FromClause | None = None,
    where: Sequence[ColumnElement[bool]] = (),
    conditions: Mapping[str, ColumnElement[bool]] | None = None,
    grouped: bool = True,
):
    """`source`'s rows in `period` (and `where`) as one aggregate row per `keys`, every
    measure a column (0 for other sources' measures); `conditions` replaces some
    measures' conditions (the daily sums' `accept_judged`). Not `grouped`: one row."""
    stmt = (
        select(*(key.label(name) for name, key in keys.items()), *_measures(source, conditions))
        .select_from(source.from_ if from_ is None else from_)
        .where(source.at >= period.start, source.at < period.end, *source.where, *where)
    )
    return stmt.group_by(*keys.values()) if grouped else stmt


def _measures(
    source: Source, conditions: Mapping[str, ColumnElement[bool]] | None
) -> list[ColumnElement]:
    columns = []
    for measure in MEASURES:
        condition = (conditions or {}).get(measure.name, measure.condition)
        if measure.source is not source:
            columns.append(literal_column("0").label(measure.name))
        elif condition is None:
            columns.append(func.count().label(measure.name))
        else:
            one = case((condition, literal_column("1")), else_=literal_column("0"))
            columns.append(func.sum(one).label(measure.name))
    return columns


def _branch(source: Source, query: KpiQuery):
    from_ = source.from_
    if source.from_alone is not None and query.dimension == Dimension.UNIT:
        from_ = source.from_ if query.scope.hotlines else source.from_alone
    return source_facts(
        source,
        {"k": _group_key(source, query.dimension)},
        query.period,
        from_=from_,
        where=query.scope.conditions(source.unit_id),
        # `total`: one aggregate row (PostgreSQL refuses GROUP BY a constant)
        grouped=query.dimension != Dimension.TOTAL,
    )


# ---------------------------------------------------------------------- daily sums

# The groupings the daily sums (`kpi_daily`: per day, unit and hotline) can answer.
DAILY_KEYS = {
    Dimension.UNIT: KpiDaily.unit_id,
    Dimension.HOTLINE: KpiDaily.hotline,
    Dimension.TOTAL: literal_column("'all'"),
}
# What `kpi_daily` holds of a measure whose condition depends on the query's "as of":
# the accepted orders; the others whose deadline has passed are read at query time.
DAILY_CONDITIONS: Mapping[str, ColumnElement[bool]] = {
    M_ACCEPT_JUDGED.name: Order.accepted_at.is_not(None)
}
# kpi_daily has a column per measure, in their order, after its id, day, unit and hotline
assert [c.key for c in KpiDaily.__table__.columns][4:] == [m.name for m in MEASURES]


@dataclass(frozen=True)
class DailyPlan:
    """A KPI query over whole local days, read from `kpi_daily` for the days computed
    (stats/rollup.py: `kpi_days`) and from the rows for the others."""

    first: date
    end: date  # the day after the last
    uncomputed: tuple[date, ...]
    raw: tuple[Period, ...]  # the days not computed, consecutive ones joined


async def daily_plan(session: AsyncSession, query: KpiQuery, tz: ZoneInfo) -> DailyPlan | None:
    """How to read `query` from the daily sums in the centre's time zone `tz`, or None
    when they cannot answer it (another grouping, a period not of whole days)."""
    if query.dimension not in DAILY_KEYS:
        return None
    first, end = query.period.start.astimezone(tz).date(), query.period.end.astimezone(tz).date()
    if _midnight(first, tz) != query.period.start or _midnight(end, tz) != query.period.end:
        return None
    stmt = select(KpiDay.day).where(KpiDay.day >= first, KpiDay.day < end)
    computed = set(await session.scalars(stmt))
    days = (first + timedelta(days=n) for n in range((end - first).days))
    uncomputed = [day for day in days if day not in computed]
    raw: list[Period] = []
    for day in uncomputed:
        start, stop = _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
        if raw and raw[-1].end == start:
            raw[-1] = Period(raw[-1].start, stop)
        else:
            raw.append(Period(start, stop))
    return DailyPlan(first, end, tuple(uncomputed), tuple(raw))


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz)


def _daily_branches(query: KpiQuery, plan: DailyPlan) -> list:
    """The facts of `query` by the plan: the sums of the computed days; the rows of the
    others; and, for the computed days, the orders not accepted whose accept deadline
    has passed at the query's "as of" (the rest of `accept_judged`)."""
    key = DAILY_KEYS[query.dimension]
    daily = select(
        key.label("k"), *(func.sum(KpiDaily.__table__.c[m.name]).label(m.name) for m in MEASURES)
    ).where(
        KpiDaily.day >= plan.first,
        KpiDaily.day < plan.end,
        *([KpiDaily.day.not_in(plan.uncomputed)] if plan.uncomputed else []),
        *query.scope.conditions(KpiDaily.unit_id, KpiDaily.hotline),
    )
    if query.dimension != Dimension.TOTAL:
        daily = daily.group_by(key)
    raw = [_branch(s, replace(query, period=p)) for p in plan.raw for s in SOURCES]
    at = DISPATCHED.at
    unaccepted = select(
        _group_key(DISPATCHED, query.dimension).label("k"),
        *(
            (func.count() if m is M_ACCEPT_JUDGED else literal_column("0")).label(m.name)
            for m in MEASURES
        ),
    ).where(
        at >= query.period.start,
        at < query.period.end,
        *(or_(at < p.start, at >= p.end) for p in plan.raw),
        Order.accepted_at.is_(None),
        Order.accept_due <= bindparam("as_of"),
        *query.scope.conditions(DISPATCHED.unit_id),
    )
    if query.dimension != Dimension.TOTAL:
        unaccepted = unaccepted.group_by(_group_key(DISPATCHED, query.dimension))
    return [daily, *raw, unaccepted]


def _sums(query: KpiQuery, plan: DailyPlan | None = None):
    if plan is None:
        branches = [_branch(s, query) for s in SOURCES]
    else:
        branches = _daily_branches(query, plan)
    facts = union_all(*branches).subquery("facts")
    sums = select(facts.c.k, *(func.sum(facts.c[m.name]).label(m.name) for m in MEASURES))
    sums = sums.group_by(facts.c.k).subquery("sums")
    if query.dimension != Dimension.UNIT or not query.include_sub_units:
        return sums
    # Sums are additive: roll each unit's sums up to its ancestor at `level` (a unit
    # above that level stands for itself); only a few rows per unit get here.
    level = max(query.level, query.scope.unit_level)
    unit, top = aliased(Unit, name="unit"), aliased(Unit, name="top")
    top_level = case((unit.level < level, unit.level), else_=level)
    rolled = (
        select(top.id.label("k"), *(func.sum(sums.c[m.name]).label(m.name) for m in MEASURES))
        .select_from(
            sums.outerjoin(unit, unit.id == sums.c.k).outerjoin(
                top, and_(unit.path.startswith(top.path), top.level == top_level)
            )
        )
        .group_by(top.id)
    )
    return rolled.subquery("rolled")


def kpi_statement(query: KpiQuery, weights: Mapping[str, float], plan: DailyPlan | None = None):
    """The one SELECT of a KPI table: rows (k, <order KPIs>..., three_rate_score); with
    `plan`, read from the daily sums."""
    sums = _sums(query, plan)
    rates = select(
        sums.c.k,
        sums.c.dispatched,  # the orders behind the rates (kpi_table(..., counts=True))
        *(
            rate_expression(sums.c[num.name], sums.c[den.name]).label(name)
            for name, (num, den) in RATE_SQL.items()
        ),
    ).subquery("rates")
    score = score_expression({k: rates.c[k] for k in weights}, weights)
    stmt = select(rates, score.label(SCORE))
    return stmt.params(as_of=query.as_of)


# Answered within this many seconds counts for the service level (GB/T 33358: 15 s).
SERVICE_LEVEL_SECONDS = 15
_CALL_KEYS = {
    Dimension.HOTLINE: Call.hotline,
    Dimension.AGENT: Call.agent,
    Dimension.TOTAL: literal_column("'all'"),
}


def _wait_seconds(dialect: str) -> ColumnElement:
    """answered_at - offered_at in seconds, per database."""
    if dialect == "postgresql":
        return func.extract("epoch", Call.answered_at - Call.offered_at)
    return (func.julianday(Call.answered_at) - func.julianday(Call.offered_at)) * 86400.0


async def call_kpis(session: AsyncSession, query: KpiQuery) -> dict[Any, dict[str, float | None]]:
    """Call-side KPIs from the call records (话单), for calls offered in the period.

    接通率 = answered / offered; 15秒接通率 = answered within 15 s / offered; ASA = mean
    wait of answered calls in seconds; 呼损率 = abandoned / offered. Only groupings with a
    call side (hotline, agent) have them, and not for unit users (calls have no unit).
    """
    key = _CALL_KEYS.get(query.dimension)
    if key is None or query.scope.unit_path is not None:
        return {}
    wait = _wait_seconds(session.bind.dialect.name)
    answered = Call.answered_at.is_not(None)
    offered = func.count(Call.id)
    stmt = select(
        key.label("k"),
        offered.label("offered"),
        func.count(Call.answered_at).label("answered"),
        func.sum(case((and_(answered, wait <= SERVICE_LEVEL_SECONDS), 1), else_=0)).label("sl"),
        func.avg(case((answered, wait))).label("asa"),
        func.sum(case((Call.outcome == "abandoned", 1), else_=0)).label("abandoned"),
    ).where(Call.offered_at >= query.period.start, Call.offered_at < query.period.end)
    if query.scope.hotlines:
        stmt = stmt.where(Call.hotline.in_(sorted(query.scope.hotlines)))
    if query.dimension != Dimension.TOTAL:
        stmt = stmt.group_by(key)
    result = {}
    for row in (await session.execute(stmt)).mappings():
        n = row["offered"]
        result[row["k"]] = {
            "connection_rate": row["answered"] / n if n else None,
            "service_level_15s": row["sl"] / n if n else None,
            "asa_seconds": float(row["asa"]) if row["asa"] is not None else None,
            "abandon_rate": row["abandoned"] / n if n else None,
            # the counts behind the rates (the wallboard shows them; not KPIs of §7)
            "offered": n,
            "answered": row["answered"],
            "abandoned": row["abandoned"] or 0,
        }
    return result


async def qa_kpis(session: AsyncSession, query: KpiQuery) -> dict[Any, dict[str, Any]]:
    """质检 per agent: `qa_score`, the mean total (0-100) of the scored reviews of the
    agent's calls offered in the period, and `qa_reviews`, how many. Agent grouping only
    only; not for unit users (calls have no unit)."""
    if query.dimension != Dimension.AGENT or query.scope.unit_path is not None:
        return {}
    stmt = (
        select(QaReview.agent, func.avg(QaReview.total), func.count(QaReview.id))
        .join(Call, Call.id == QaReview.call_id)
        .where(
            QaReview.state == "scored",
            Call.offered_at >= query.period.start,
            Call.offered_at < query.period.end,
        )
    )
    if query.scope.hotlines:
        stmt = stmt.where(Call.hotline.in_(sorted(query.scope.hotlines)))
    stmt = stmt.group_by(QaReview.agent)
    return {
        k: {"qa_score": round(float(avg), 2), "qa_reviews": int(n)}
        for k, avg, n in await session.execute(stmt)
        if n
    }


async def kpi_table(
    session: AsyncSession,
    query: KpiQuery,
    weights: Mapping[str, float],
    counts: bool = False,
    tz: ZoneInfo | None = None,
) -> list[dict[str, Any]]:
    """`{"key","name", <every KPI>}` per group, in the order of DESIGN §7; with `counts`
    also `dispatched`, the orders dispatched to the group in the period (工单数); grouped
    by agent also `qa_score` and `qa_reviews` (质检, `qa_kpis`). With the centre's time
    zone `tz`, read from the daily sums where they can answer (the same table)."""
    plan = None if tz is None else await daily_plan(session, query, tz)
    stmt = kpi_statement(query, weights, plan)
    rows = (await session.execute(stmt)).mappings().all()
    calls = await call_kpis(session, query)
    names = await group_names(session, query.dimension, [r["k"] for r in rows])
    table = []
    for row in rows:
        key, name, order = names[row["k"]]
        values = {k: (calls.get(row["k"], {}).get(k)) for k in CALL_KPIS}
        values.update({k: row[k] for k in KPI_NAMES if k not in CALL_KPIS})
        table.append({"key": key, "name": name, **{k: values[k] for k in KPI_NAMES}, "_o": order})
        if counts:
            table[-1]["dispatched"] = int(row["dispatched"] or 0)
    # groups with calls but no orders in the period (an agent who only took calls)
    seen = {row["k"] for row in rows}
    extra = [k for k in calls if k not in seen and k is not None]
    if extra:
        more = await group_names(session, query.dimension, extra)
        for k in extra:
            key, name, order = more[k]
            values = {n: calls[k].get(n) for n in KPI_NAMES}
            table.append({"key": key, "name": name, **values, "_o": order})
            if counts:
                table[-1]["dispatched"] = 0
    table.sort(key=lambda r: (r["key"] is None, r["_o"]))
    for r in table:
        del r["_o"]
    if query.dimension == Dimension.AGENT:
        qa = await qa_kpis(session, query)
        for r in table:
            r.update(qa.get(r["key"]) or {"qa_score": None, "qa_reviews": 0})
    return table


async def group_names(
    session: AsyncSession, dimension: Dimension, keys: Sequence[Any]
) -> dict[Any, tuple[str | None, str, str]]:
    """Group key -> (key shown, display name, sort key)."""
    wanted = [k for k in keys if k is not None]
    names: dict[Any, tuple[str | None, str, str]] = {None: (None, NO_KEY_LABELS[dimension], "")}
    if dimension == Dimension.UNIT:
        rows = await session.execute(
            select(Unit.id, Unit.code, Unit.name, Unit.path).where(Unit.id.in_(wanted))
        )
        names.update({i: (code, name, path) for i, code, name, path in rows})
    elif dimension == Dimension.HOTLINE:
        rows = await session.execute(
            select(Hotline.number, Hotline.name).where(Hotline.number.in_(wanted))
        )
        names.update({k: (k, name, k) for k, name in rows})
    elif dimension == Dimension.CATEGORY:
        rows = await session.execute(
            select(Category.code, Category.name).where(Category.code.in_(wanted))
        )
        names.update({k: (k, name, k) for k, name in rows})
    elif dimension == Dimension.AGENT:
        rows = await session.execute(
            select(User.username, User.display_name).where(User.username.in_(wanted))
        )
        names.update({k: (k, name or k, k) for k, name in rows})
    elif dimension == Dimension.CHANNEL:
        names.update({k: (k, CHANNEL_LABELS.get(k, k), k) for k in wanted})
    elif dimension == Dimension.TOTAL:
        names[TOTAL_KEY] = (TOTAL_KEY, NO_KEY_LABELS[dimension], "")
    for k in wanted:  # districts, and keys whose table row is gone
        names.setdefault(k, (str(k), str(k), str(k)))
    return names


# ---------------------------------------------------------------------- hotspots


def local_day(column: ColumnElement, dialect: str, offset: timedelta) -> ColumnElement:
    """'YYYY-MM-DD' of a stored (naive UTC) timestamp in the local time zone.

    A fixed offset (Asia/Shanghai has no daylight saving time); the literals are
    inlined so the expression is identical wherever PostgreSQL sees it.
    """
    minutes = int(offset.total_seconds() // 60)
    if dialect == "postgresql":
        shifted = column + literal_column(f"interval '{minutes} minutes'")
        return func.to_char(shifted, literal_column("'YYYY-MM-DD'"))
    return func.date(column, literal_column(f"'{minutes:+d} minutes'"))


async def daily_counts(
    session: AsyncSession, start: datetime, end: datetime, offset: timedelta, scope: Scope
) -> list[tuple[str | None, str | None, date, int]]:
    """(category, district, local day, orders registered) for [start, end).

    Every registration counts except invalid ones: merged duplicates are exactly the
    many-callers-one-problem signal a hotspot is made of.
    """
    dialect = session.bind.dialect.name
    cells = (
        select(
            Order.category_code.label("category"),
            Order.district.label("district"),
            local_day(Order.created_at, dialect, offset).label("day"),
        )
        .where(
            Order.created_at >= start,
            Order.created_at < end,
            Order.state != State.INVALID.value,
            *scope.conditions(Order.lead_unit_id),
        )
        .subquery("cells")
    )
    stmt = select(cells.c.category, cells.c.district, cells.c.day, func.count()).group_by(
        cells.c.category, cells.c.district, cells.c.day
    )
    rows = await session.execute(stmt)
    return [(c, d, date.fromisoformat(day), n) for c, d, day, n in rows]


async def daily_volume(
    session: AsyncSession, period: Period, offset: timedelta, scope: Scope, dimension: Dimension
) -> list[tuple[Any, date, int]]:
    """(group key, local day, orders registered) for the period, invalid ones left out.

    The same rows as the hotspot counts (`daily_counts`), grouped by another key.
    """
    dialect = session.bind.dialect.name
    key = Order.lead_unit_id if dimension == Dimension.UNIT else _KEY_COLUMNS[dimension]
    cells = (
        select(key.label("k"), local_day(Order.created_at, dialect, offset).label("day"))
        .where(
            Order.created_at >= period.start,
            Order.created_at < period.end,
            Order.state != State.INVALID.value,
            *scope.conditions(Order.lead_unit_id),
        )
        .subquery("cells")
    )
    stmt = select(cells.c.k, cells.c.day, func.count()).group_by(cells.c.k, cells.c.day)
    return [(k, date.fromisoformat(day), n) for k, day, n in await session.execute(stmt)]


async def first_order_at(session: AsyncSession) -> datetime | None:
    """When the service got its first order: the start of every observed series."""
    return await session.scalar(select(func.min(Order.created_at)))


async def category_names(session: AsyncSession) -> dict[str, str]:
    return dict((await session.execute(select(Category.code, Category.name))).all())


def _texts_where(period: Period, scope: Scope) -> list[ColumnElement[bool]]:
    return [
        Order.created_at >= period.start,
        Order.created_at < period.end,
        Order.state != State.INVALID.value,
        *scope.conditions(Order.lead_unit_id),
    ]


async def period_texts(
    session: AsyncSession, period: Period, scope: Scope, limit: int
) -> list[str]:
    """Title and content of the period's orders (the latest `limit`), for keywords."""
    rows = await session.execute(
        select(Order.title, Order.content)
        .where(*_texts_where(period, scope))
        .order_by(Order.created_at.desc())
        .limit(limit)
    )
    return [f"{title or ''} {content}" for title, content in rows]


async def period_texts_version(
    session: AsyncSession, period: Period, scope: Scope
) -> tuple[int, int | None]:
    """(how many, newest id) of the texts `period_texts` reads: texts never change, so
    equal versions mean equal texts (an order made invalid changes the count)."""
    row = (
        await session.execute(
            select(func.count(Order.id), func.max(Order.id)).where(*_texts_where(period, scope))
        )
    ).one()
    return int(row[0]), row[1]


# ---------------------------------------------------------------------- order lists


async def order_rows(
    session: AsyncSession,
    period: Period,
    conditions: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[dict[str, Any]]:
    """Orders registered in the period (oldest first) as flat rows for an export."""
    lead = aliased(Unit, name="lead")
    stmt = (
        select(Order, lead.code.label("lead_code"), lead.name.label("lead_name"))
        .outerjoin(lead, lead.id == Order.lead_unit_id)
        .where(Order.created_at >= period.start, Order.created_at < period.end, *conditions)
        .order_by(Order.created_at, Order.id)
        .limit(limit)
    )
    rows = []
    for order, lead_code, lead_name in await session.execute(stmt):
        rows.append(
            {
                "number": order.number,
                "created_at": order.created_at,
                "hotline": order.hotline_number,
                "channel": order.channel,
                "type": order.request_type,
                "urgency": order.urgency,
                "state": order.state,
                "category": order.category_code,
                "district": order.district,
                "address": order.address,
                "lead_unit": lead_code,
                "lead_unit_name": lead_name,
                "dispatched_at": order.dispatched_at,
                "accept_due": order.accept_due,
                "accepted_at": order.accepted_at,
                "finish_due": order.finish_due,
                "replied_at": order.replied_at,
                "closed_at": order.closed_at,
                "extensions": order.extensions,
                "return_count": order.return_count,
                "reopen_count": order.reopen_count,
                "satisfaction": order.satisfaction,
                "resolved": order.resolved,
                "title": order.title,
                "content": order.content,
            }
        )
    return rows


async def count_orders(
    session: AsyncSession, period: Period, conditions: Sequence[ColumnElement[bool]]
) -> int:
    stmt = select(func.count(Order.id)).where(
        Order.created_at >= period.start, Order.created_at < period.end, *conditions
    )
    return int(await session.scalar(stmt) or 0)
