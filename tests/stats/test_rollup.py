"""KPI daily sums (stats/rollup.py): the KPI table read from `kpi_daily` equals the one
computed from the orders and events, before and after the job's rounds, with changes
in between, for every grouping, scope and period the sums answer; on both databases."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import product

import pytest
from sqlalchemy import delete, func, select

from app.keys import DISPATCH, SESSIONS
from stats import rollup
from stats.domain import Dimension, Period, three_rate_weights
from stats.queries import KpiQuery, Scope, daily_plan, kpi_table
from stats.storage import KpiDaily, KpiMark
from tests.api.conftest import make_api
from tests.stats import scenario

WEIGHTS = three_rate_weights({"ontime_accept": 0.2, "resolution": 0.4, "satisfaction": 0.4})
MONDAY = date(2026, 11, 23)  # the scenario's first day
# the scenario's days with changes (a day nothing happened on is never computed: it is
# read from the rows, where it has none)
BUSY_DAYS = {MONDAY, MONDAY + timedelta(days=2), MONDAY + timedelta(days=3)}


def periods(tz) -> list[Period]:
    def day(d: date) -> datetime:
        return datetime.combine(d, time(), tz)

    week = [MONDAY + timedelta(days=n) for n in range(8)]
    return [
        Period(day(date(2026, 11, 1)), day(date(2026, 12, 1))),  # the month
        Period(day(MONDAY), day(MONDAY + timedelta(days=7))),  # the week
        *(Period(day(d), day(d + timedelta(days=1))) for d in week[:5]),  # each day
        Period(day(MONDAY + timedelta(days=1)), day(MONDAY + timedelta(days=3))),  # Tue-Wed
    ]


SCOPES = [Scope(), Scope(unit_path=None, hotlines=frozenset({"12319"}))]


async def assert_same(api, as_of: datetime, *, expect_daily: bool = True) -> None:
    """Every query the daily sums answer gives the raw query's table."""
    app = api.client.app
    tz = app[DISPATCH].tz
    unit_scope = Scope(unit_path=await _path(app, "ZJJ"))
    async with app[SESSIONS]() as session:
        for period, dimension, scope, sub in product(
            periods(tz),
            (Dimension.UNIT, Dimension.HOTLINE, Dimension.TOTAL),
            [*SCOPES, unit_scope],
            (False, True),
        ):
            if sub and dimension != Dimension.UNIT:
                continue
            query = KpiQuery(period, dimension, as_of, include_sub_units=sub, scope=scope)
            plan = await daily_plan(session, query, tz)
            assert plan is not None
            daily = await kpi_table(session, query, WEIGHTS, counts=True, tz=tz)
            raw = await kpi_table(session, query, WEIGHTS, counts=True)
            assert daily == raw, (period, dimension, scope, sub, plan)
        if expect_daily:  # no change left to count; the days with rows read from the sums
            assert not set(plan.uncomputed) & BUSY_DAYS
            assert not await session.scalar(select(func.count()).select_from(KpiMark))


async def _path(app, code: str) -> str:
    from dispatch.storage import Unit

    async with app[SESSIONS]() as session:
        return await session.scalar(select(Unit.path).where(Unit.code == code))


async def test_daily_sums_equal_the_raw_query(aiohttp_client, any_db_url, clock):
    api = await make_api(aiohttp_client, any_db_url, clock)
    app = api.client.app
    sessions, tz = app[SESSIONS], app[DISPATCH].tz
    o = await scenario.build(api, clock)
    now = clock()

    # before any round: no day computed, every one read from the rows
    async with sessions() as session:
        marked = set(await session.scalars(select(KpiMark.day)))
    assert {MONDAY, MONDAY + timedelta(days=3)} <= marked
    await assert_same(api, now, expect_daily=False)

    assert await rollup.refresh(sessions, tz) == len(marked)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(KpiDaily)) > 0
    await assert_same(api, now)
    # later "as of": O8's accept deadline (Thu 12:00) has passed, it is not accepted
    await assert_same(api, now + timedelta(days=7))

    # changes after the round: a late acceptance (a Monday dispatch), a redispatch of
    # an order with 回访 (its ratings move to the new lead unit), a new order
    clock.advance(hours=1)
    await api.act("cgj", o["O6"], "accept")
    await api.act("dispatcher", o["O8"], "redispatch", unit="CGJ")
    await api.act("supervisor", o["O2"], "reopen", reason="市民再次来电")
    await api.act("dispatcher", o["O2"], "redispatch", unit="ZJJ")
    await api.register("agent", content="新的诉求", type="complaint")
    await rollup.refresh(sessions, tz)
    await assert_same(api, clock())


async def test_a_change_counts_from_the_next_round_by_its_marks(api, clock):
    """The sums lag a change until the next round; the round counts it by the marks the
    change left (without them it would be missed: the marks, not luck, make the tables
    equal above)."""
    app = api.client.app
    sessions, tz = app[SESSIONS], app[DISPATCH].tz
    o = await scenario.build(api, clock)
    await rollup.refresh(sessions, tz)

    def one_day(day: date) -> KpiQuery:
        start = datetime.combine(day, time(), tz)
        return KpiQuery(Period(start, start + timedelta(days=1)), Dimension.UNIT, clock())

    async def tables(query: KpiQuery) -> tuple[list, list]:
        async with sessions() as session:
            daily = await kpi_table(session, query, WEIGHTS, tz=tz)
            return daily, await kpi_table(session, query, WEIGHTS)

    clock.advance(hours=1)
    await api.act("cgj", o["O6"], "accept")  # a Monday dispatch accepted on Thursday
    async with sessions() as session:
        marked = set(await session.scalars(select(KpiMark.day)))
    assert MONDAY in marked and MONDAY + timedelta(days=3) in marked
    daily, raw = await tables(one_day(MONDAY))
    assert daily != raw  # not yet counted
    await rollup.refresh(sessions, tz)
    await assert_same(api, clock())

    await api.act("cgj", o["O6"], "reply", text="已处理")  # replied on Thursday
    async with app[SESSIONS]() as session, session.begin():
        await session.execute(delete(KpiMark))
    await rollup.refresh(sessions, tz)
    daily, raw = await tables(one_day(MONDAY + timedelta(days=3)))
    assert daily != raw  # its marks gone: missed


@pytest.mark.parametrize("bounds", [("2026-11-23T10:00:00+08:00", "2026-11-24"), (None, None)])
async def test_other_queries_read_the_rows(api, clock, bounds):
    """A period not of whole days, or a grouping the sums do not hold: no plan."""
    app = api.client.app
    tz = app[DISPATCH].tz
    start, end = (
        datetime.combine(MONDAY, time(), tz),
        datetime.combine(MONDAY + timedelta(days=1), time(), tz),
    )
    if bounds[0]:
        start = datetime.fromisoformat(bounds[0])
    dimension = Dimension.UNIT if bounds[0] else Dimension.CATEGORY
    async with app[SESSIONS]() as session:
        plan = await daily_plan(session, KpiQuery(Period(start, end), dimension, clock()), tz)
    assert plan is None


async def test_a_new_lead_unit_takes_the_days_of_its_ratings(api, clock):
    """回访 count for the order's lead unit now: when it changes, the days of the order's
    earlier ratings are counted again, also where no other time of the order falls."""
    app = api.client.app
    sessions, tz = app[SESSIONS], app[DISPATCH].tz
    number = (await api.register("agent", content="路灯不亮", type="consultation"))["number"]
    await api.act("dispatcher", number, "dispatch", unit="CGJ")
    await api.act("cgj", number, "accept")
    await api.act("cgj", number, "reply", text="已修复")
    await api.act("supervisor", number, "review", approve=True)
    clock.advance(days=1)  # Tuesday: the rating, on no other time of the order
    await api.act("agent", number, "callback", satisfaction="dissatisfied", resolved=False)
    clock.advance(days=1)  # Wednesday
    await api.act("supervisor", number, "verify", valid=True, note="核实属实")
    await rollup.refresh(sessions, tz)
    clock.advance(days=1)  # Thursday: another lead unit
    await api.act("dispatcher", number, "redispatch", unit="ZJJ")
    async with sessions() as session:
        marked = set(await session.scalars(select(KpiMark.day)))
    assert MONDAY + timedelta(days=1) in marked
    await rollup.refresh(sessions, tz)
    await assert_same(api, clock())


async def test_a_round_reads_its_marks_in_chunks(api, clock, monkeypatch):
    """More marks than one round reads: the rest wait for the next round; a day's
    marks are removed in several statements."""
    app = api.client.app
    sessions, tz = app[SESSIONS], app[DISPATCH].tz
    o = await scenario.build(api, clock)
    monkeypatch.setattr(rollup, "DELETE_CHUNK", 2)
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(KpiMark))
    assert total > 10
    assert await rollup.refresh(sessions, tz, limit=5) >= 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(KpiMark)) == total - 5
    while await rollup.refresh(sessions, tz, limit=5):
        pass
    await api.act("cgj", o["O6"], "accept")
    await rollup.refresh(sessions, tz)
    await assert_same(api, clock())


async def test_the_api_answers_the_same_from_the_sums(api, clock, monkeypatch):
    """GET /stats/kpis (and the ranking) read the sums once the job has run: the same
    JSON as from the rows."""
    from stats import queries as stats_queries

    plans = []

    async def spy(*args):
        plans.append(await daily_plan(*args))
        return plans[-1]

    monkeypatch.setattr(stats_queries, "daily_plan", spy)
    await scenario.build(api, clock)
    app = api.client.app
    queries = [
        f"/api/v1/stats/kpis?from=2026-11-01&to=2026-12-01&group_by={g}"
        for g in ("unit", "hotline", "total")
    ] + ["/api/v1/stats/ranking?from=2026-11-23&to=2026-11-27"]
    before = [await api.call("GET", q, "supervisor") for q in queries]
    assert await rollup.refresh(app[SESSIONS], app[DISPATCH].tz) > 0
    async with app[SESSIONS]() as session:
        assert not await session.scalar(select(func.count()).select_from(KpiMark))
    plans.clear()
    assert [await api.call("GET", q, "supervisor") for q in queries] == before
    # every table read the sums for its busy days (the ranking: two periods)
    assert len(plans) == 5
    assert all(p is not None and not set(p.uncomputed) & BUSY_DAYS for p in plans)


async def test_every_day_can_be_marked_again(api, clock):
    """`mark_all` (python -m stats mark-days): rows written outside the service, or the
    time zone changed: every day from before the first order to after the last time is
    computed again, and the sums equal the rows in the new zone too."""
    from zoneinfo import ZoneInfo

    app = api.client.app
    sessions, tz = app[SESSIONS], app[DISPATCH].tz
    await scenario.build(api, clock)
    await rollup.refresh(sessions, tz)
    marked = await rollup.mark_all(sessions, tz)
    # Monday 23 Nov to the last deadline (O1's, 15 working days later) and one each side
    async with sessions() as session:
        days = sorted(set(await session.scalars(select(KpiMark.day))))
    assert days[0] == MONDAY - timedelta(days=1) and len(days) == marked
    assert days == [days[0] + timedelta(days=n) for n in range(marked)]
    utc = ZoneInfo("UTC")
    while await rollup.refresh(sessions, utc):
        pass
    week = Period(
        datetime.combine(MONDAY, time(), utc), datetime.combine(MONDAY + timedelta(7), time(), utc)
    )
    async with sessions() as session:
        for dimension in (Dimension.UNIT, Dimension.HOTLINE, Dimension.TOTAL):
            query = KpiQuery(week, dimension, clock())
            plan = await daily_plan(session, query, utc)
            assert plan is not None and not plan.uncomputed
            assert await kpi_table(session, query, WEIGHTS, tz=utc) == await kpi_table(
                session, query, WEIGHTS
            )


async def test_mark_days_command(api, clock, sqlite_url, tmp_path):
    import os
    import subprocess
    import sys

    app = api.client.app
    await scenario.build(api, clock)
    env = {**os.environ, "HOTLINE_DB_URL": sqlite_url}
    cmd = [sys.executable, "-m", "stats", "mark-days", "--now"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("已标记 ") and "已重新统计" in done.stdout
    async with app[SESSIONS]() as session:
        assert not await session.scalar(select(func.count()).select_from(KpiMark))
        assert await session.scalar(select(func.count()).select_from(KpiDaily)) > 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[calendar]\ntimezone = 3\n", encoding="utf-8")
    done = subprocess.run(
        [*cmd, "--config", str(bad)], env=env, capture_output=True, text=True, timeout=120
    )
    assert (
        done.returncode == 1 and done.stderr.startswith("错误") and "Traceback" not in done.stderr
    )
