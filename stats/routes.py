"""HTTP entrypoints of the statistics (DESIGN §7, §9): KPIs, ranking, hotspots, exports.

Periods are half-open [from, to): `from`/`to` are dates (local midnight in the
configured time zone) or ISO date-times with an offset, so a month is
`from=2026-11-01&to=2026-12-01`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from accounts.audit import Event, Result
from accounts.domain import UNIT_ROLES, Actor, Role
from accounts.routes import trail
from app.errors import AppError
from app.http import ApiRoute, Call
from app.keys import DISPATCH, ENGINE, SESSIONS, SETTINGS
from dispatch.lifecycle import STATE_LABELS, State
from dispatch.services import visible_to
from dispatch.storage import Order
from stats import exports, queries
from stats.domain import CHANNEL_LABELS, Dimension, Period, rank_units, three_rate_weights
from stats.emerging import DetectorParams, detect_all
from stats.exceptions import ExportTooLarge, InvalidStatsQuery, NoStatsScope
from stats.keywords import top_keywords

STATS_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DISPATCHER, Role.UNIT, Role.LEADER})
MAX_PERIOD_DAYS = 3 * 366  # KPI tables
MAX_HOTSPOT_DAYS = 366  # daily series
MAX_EXPORT_ORDERS = 100_000
KEYWORD_SAMPLE = 20_000  # latest orders of the period whose texts feed the keywords


class PeriodParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: str = Field(alias="from", min_length=1, max_length=40)
    end: str = Field(alias="to", min_length=1, max_length=40)


class KpiParams(PeriodParams):
    group_by: Dimension = Dimension.UNIT
    include_sub_units: bool = False
    level: int = Field(1, ge=1, le=10)


class RankingParams(PeriodParams):
    include_sub_units: bool = True
    level: int = Field(1, ge=1, le=10)


class HotspotParams(PeriodParams):
    top: int = Field(20, ge=1, le=200)


class OrderExportParams(PeriodParams):
    state: State | None = None
    hotline: str | None = Field(None, max_length=20)


# ---------------------------------------------------------------------- parameters


def _tz(app: web.Application) -> ZoneInfo:
    return ZoneInfo(app[SETTINGS].calendar.timezone)


def parse_bound(value: str, tz: ZoneInfo, name: str) -> datetime:
    """A date (local midnight) or an ISO date-time with an offset."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tz)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidStatsQuery(f"{name} 格式不正确,应为 YYYY-MM-DD 或带时区的时间") from None
    if at.tzinfo is None:
        raise InvalidStatsQuery(f"{name} 须带时区(如 2026-11-01T00:00:00+08:00)")
    return at


def parse_period(params: PeriodParams, tz: ZoneInfo, max_days: int) -> Period:
    start, end = parse_bound(params.start, tz, "from"), parse_bound(params.end, tz, "to")
    if end <= start:
        raise InvalidStatsQuery("to 必须晚于 from(统计区间为 [from, to))")
    if end - start > timedelta(days=max_days):
        raise InvalidStatsQuery(f"统计区间不能超过 {max_days} 天")
    return Period(start, end)


def scope_of(actor: Actor) -> queries.Scope:
    """Unit users see their unit's subtree; sub-platform managers their hotlines."""
    if actor.role in UNIT_ROLES:
        if actor.unit is None:
            raise NoStatsScope("当前账号未关联单位,无法查看统计")
        return queries.Scope(unit_path=actor.unit.path)
    return queries.Scope(hotlines=actor.hotlines)


def _kpi_query(
    app: web.Application, actor: Actor, params, dimension: Dimension
) -> queries.KpiQuery:
    return queries.KpiQuery(
        period=parse_period(params, _tz(app), MAX_PERIOD_DAYS),
        dimension=dimension,
        as_of=app[DISPATCH].now(),
        include_sub_units=params.include_sub_units,
        level=params.level,
        scope=scope_of(actor),
    )


def _weights(app: web.Application) -> dict[str, float]:
    return three_rate_weights(app[SETTINGS].kpi.three_rate_weights)


async def _kpi_rows(
    app: web.Application, query: queries.KpiQuery, counts: bool = False
) -> list[dict[str, Any]]:
    async with app[SESSIONS]() as session:
        return await queries.kpi_table(session, query, _weights(app), counts, _tz(app))


# ---------------------------------------------------------------------- KPIs
# Each statistic is a function of (app, actor, parameters), so the dashboard, the
# leadership report and the scheduled report compute exactly what the API answers.


async def kpis(app: web.Application, actor: Actor, params: KpiParams) -> dict[str, Any]:
    query = _kpi_query(app, actor, params, params.group_by)
    return {"rows": await _kpi_rows(app, query)}


async def call_totals(app: web.Application, actor: Actor, params: PeriodParams) -> dict[str, Any]:
    """The call side of the period for everything the actor sees: the call KPIs
    (`queries.call_kpis`, as in the KPI table) with the offered/answered/abandoned counts."""
    total = KpiParams.model_validate(
        {"from": params.start, "to": params.end, "group_by": Dimension.TOTAL}
    )
    query = _kpi_query(app, actor, total, Dimension.TOTAL)
    async with app[SESSIONS]() as session:
        calls = await queries.call_kpis(session, query)
    return calls.get(queries.TOTAL_KEY) or {"offered": 0, "answered": 0, "abandoned": 0}


async def get_kpis(request: web.Request, call: Call):
    return await kpis(request.app, call.actor, call.query)


def _filename(stem: str, period: Period, tz: ZoneInfo, suffix: str) -> str:
    start = period.start.astimezone(tz).strftime("%Y%m%d")
    end = period.end.astimezone(tz).strftime("%Y%m%d")
    return f"{stem}_{start}_{end}.{suffix}"


async def _file(request: web.Request, build, table, content_type: str, name: str):
    body = await asyncio.get_running_loop().run_in_executor(None, build, table)
    return web.Response(
        body=body,
        content_type=content_type.split(";")[0],
        charset="utf-8" if "charset" in content_type else None,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def kpi_export(build, content_type: str, suffix: str):
    async def export(request: web.Request, call: Call):
        query = _kpi_query(request.app, call.actor, call.query, call.query.group_by)
        table = exports.kpi_table(query.dimension, await _kpi_rows(request.app, query))
        name = _filename(f"kpis_{query.dimension.value}", query.period, _tz(request.app), suffix)
        return await _file(request, build, table, content_type, name)

    export.__name__ = f"export_kpis_{suffix}"
    return export


# ---------------------------------------------------------------------- ranking


async def ranking(app: web.Application, actor: Actor, params: RankingParams) -> dict[str, Any]:
    query = _kpi_query(app, actor, params, Dimension.UNIT)
    previous = queries.KpiQuery(**{**query.__dict__, "period": query.period.previous()})
    current_rows = await _kpi_rows(app, query, counts=True)
    previous_rows = await _kpi_rows(app, previous)
    tz = _tz(app)
    return {
        "from": query.period.start.astimezone(tz).isoformat(),
        "to": query.period.end.astimezone(tz).isoformat(),
        "previous_from": previous.period.start.astimezone(tz).isoformat(),
        "previous_to": previous.period.end.astimezone(tz).isoformat(),
        "rows": rank_units(current_rows, previous_rows),
    }


async def get_ranking(request: web.Request, call: Call):
    return await ranking(request.app, call.actor, call.query)


# ---------------------------------------------------------------------- hotspots


def _local_days(period: Period, tz: ZoneInfo) -> tuple[date, date, timedelta]:
    """The period's first and last local day, and the zone's UTC offset at its start."""
    first = period.start.astimezone(tz).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    return first, last, period.start.astimezone(tz).utcoffset() or timedelta()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# Keywords cost jieba over up to KEYWORD_SAMPLE texts; the dashboard asks for the same
# period again and again. Kept per database (engine), keyed by the texts' version.
_keyword_caches: WeakKeyDictionary[Any, OrderedDict[tuple, list[tuple[str, int]]]] = (
    WeakKeyDictionary()
)
KEYWORD_CACHE_SIZE = 64


async def _keywords(
    app: web.Application, session, period: Period, scope: queries.Scope, top: int
) -> list[tuple[str, int]]:
    cache = _keyword_caches.setdefault(app[ENGINE], OrderedDict())
    version = await queries.period_texts_version(session, period, scope)
    key = (scope, period.start, period.end, top, version)
    if (found := cache.get(key)) is not None:
        cache.move_to_end(key)
        return found
    texts = await queries.period_texts(session, period, scope, KEYWORD_SAMPLE)
    found = await asyncio.get_running_loop().run_in_executor(
        None, partial(top_keywords, texts, top)
    )
    cache[key] = found
    while len(cache) > KEYWORD_CACHE_SIZE:
        cache.popitem(last=False)
    return found


async def hotspots(app: web.Application, actor: Actor, params: HotspotParams) -> dict[str, Any]:
    """Counts by category × district × day, emerging issues and the period's keywords."""
    tz = _tz(app)
    period = parse_period(params, tz, MAX_HOTSPOT_DAYS)
    scope = scope_of(actor)
    detector = DetectorParams()
    first, last, offset = _local_days(period, tz)
    history_start = datetime.combine(first - timedelta(days=detector.baseline_days), time(), tz)
    async with app[SESSIONS]() as session:
        counts = await queries.daily_counts(session, history_start, period.end, offset, scope)
        names = await queries.category_names(session)
        keywords = await _keywords(app, session, period, scope, params.top)
        data_start = await queries.first_order_at(session)
    days = _days(history_start.date(), last)
    observed = (data_start.astimezone(tz).date() - days[0]).days if data_start else 0
    index = {day: i for i, day in enumerate(days)}
    series: dict[tuple[str, str | None, str | None], list[int]] = defaultdict(
        lambda: [0] * len(days)
    )
    items = []
    for category, district, day, count in counts:
        series[("category_district", category, district)][index[day]] += count
        series[("category", category, None)][index[day]] += count
        if day >= first:
            items.append(
                {
                    "category": category,
                    "category_name": names.get(category),
                    "district": district,
                    "day": day,
                    "count": count,
                }
            )
    items.sort(key=lambda i: (i["day"], -i["count"], i["category"] or "", i["district"] or ""))
    alerts = detect_all(series, detector, start=index[first], observed_from=observed)
    return {
        "days": [d for d in days if d >= first],
        "items": items,
        "emerging": [
            {
                "scope": kind,
                "category": category,
                "category_name": names.get(category),
                "district": district,
                "day": days[alert.index],
                "count": alert.count,
                "baseline": round(alert.baseline, 3),
                "p_value": alert.p_value,
            }
            for (kind, category, district), alert in alerts
        ],
        "method": (
            f"单侧泊松检验(准泊松离散修正):当日数 ≥ {detector.min_count} 且 "
            f"p < {detector.alpha},基线为前 {detector.baseline_days} 天日均"
            f"(系统启用后不足 {detector.min_history} 天的日期不作判断)"
        ),
        "keywords": [{"word": w, "count": n} for w, n in keywords],
    }


async def get_hotspots(request: web.Request, call: Call):
    return await hotspots(request.app, call.actor, call.query)


class VolumeParams(PeriodParams):
    group_by: Dimension = Dimension.CHANNEL


async def volume(app: web.Application, actor: Actor, params: VolumeParams) -> dict[str, Any]:
    """Orders registered per local day, one series per group (channel, hotline, ...)."""
    tz = _tz(app)
    period = parse_period(params, tz, MAX_HOTSPOT_DAYS)
    first, last, offset = _local_days(period, tz)
    days = _days(first, last)
    index = {day: i for i, day in enumerate(days)}
    async with app[SESSIONS]() as session:
        scope = scope_of(actor)
        counts = await queries.daily_volume(session, period, offset, scope, params.group_by)
        names = await queries.group_names(session, params.group_by, [k for k, _d, _n in counts])
    series: dict[Any, list[int]] = defaultdict(lambda: [0] * len(days))
    for key, day, count in counts:
        series[key][index[day]] += count
    rows = [
        {"key": names[k][0], "name": names[k][1], "counts": v, "total": sum(v), "_o": names[k][2]}
        for k, v in series.items()
    ]
    rows.sort(key=lambda r: (-r["total"], r["_o"]))
    for row in rows:
        del row["_o"]
    return {
        "days": days,
        "series": rows,
        "totals": [sum(r["counts"][i] for r in rows) for i in range(len(days))],
    }


async def get_volume(request: web.Request, call: Call):
    return await volume(request.app, call.actor, call.query)


# ---------------------------------------------------------------------- order exports

TYPE_LABELS = {
    "consultation": "咨询",
    "help": "求助",
    "complaint": "投诉",
    "report": "举报",
    "suggestion": "建议",
    "praise": "表扬",
}
URGENCY_LABELS = {"normal": "一般", "urgent": "紧急"}
SATISFACTION_LABELS = {"satisfied": "满意", "basic": "基本满意", "dissatisfied": "不满意"}


def _export_row(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    out["state"] = STATE_LABELS[State(row["state"])]
    out["type"] = TYPE_LABELS.get(row["type"], row["type"])
    out["urgency"] = URGENCY_LABELS.get(row["urgency"], row["urgency"])
    out["channel"] = CHANNEL_LABELS.get(row["channel"], row["channel"])
    out["satisfaction"] = SATISFACTION_LABELS.get(row["satisfaction"], row["satisfaction"])
    if row["lead_unit"]:
        out["lead_unit"] = f"{row['lead_unit_name']}({row['lead_unit']})"
    return out


def order_export(build, content_type: str, suffix: str):
    async def export(request: web.Request, call: Call):
        params: OrderExportParams = call.query
        tz = _tz(request.app)
        period = parse_period(params, tz, MAX_PERIOD_DAYS)
        conditions = []
        if (cond := visible_to(call.actor)) is not None:
            conditions.append(cond)
        if params.state:
            conditions.append(Order.state == params.state.value)
        if params.hotline:
            conditions.append(Order.hotline_number == params.hotline)
        async with request.app[SESSIONS]() as session:
            total = await queries.count_orders(session, period, conditions)
            if total > MAX_EXPORT_ORDERS:
                raise ExportTooLarge(
                    f"共 {total} 条工单,超过单次导出上限 {MAX_EXPORT_ORDERS} 条,请缩小时间范围"
                )
            rows = await queries.order_rows(session, period, conditions, MAX_EXPORT_ORDERS)
        table = exports.order_table([_export_row(r, tz) for r in rows])
        name = _filename("orders", period, tz, suffix)
        return await _file(request, build, table, content_type, name)

    export.__name__ = f"export_orders_{suffix}"
    return export


def audited(name: str, export):
    """An export recorded in the audit trail (导出, 等保 安全审计): who, which file, with
    which filters; a refused export (e.g. too many orders) as a failure."""

    async def handler(request: web.Request, call: Call):
        audit = trail(request, call.actor)
        query = call.query.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            response = await export(request, call)
        except AppError as exc:
            detail = {"query": query, "error": exc.code}
            await audit.alone(Event.EXPORT, name, Result.FAILURE, detail)
            raise
        detail = {"query": query, "file": response.headers.get("Content-Disposition", "")}
        detail["bytes"] = len(response.body)
        await audit.alone(Event.EXPORT, name, detail=detail)
        return response

    handler.__name__ = export.__name__
    return handler


# The export handlers by file name: the API routes below and the dashboard's links.
EXPORTS = {
    "kpis.csv": audited("kpis.csv", kpi_export(exports.to_csv, exports.CSV_TYPE, "csv")),
    "kpis.xlsx": audited("kpis.xlsx", kpi_export(exports.to_xlsx, exports.XLSX_TYPE, "xlsx")),
    "orders.csv": audited("orders.csv", order_export(exports.to_csv, exports.CSV_TYPE, "csv")),
    "orders.xlsx": audited("orders.xlsx", order_export(exports.to_xlsx, exports.XLSX_TYPE, "xlsx")),
}

routes = [
    ApiRoute(
        "GET",
        "/api/v1/stats/kpis",
        get_kpis,
        "考核指标(按单位/热线/分类/区域/渠道/话务员分组)",
        roles=STATS_ROLES,
        query=KpiParams,
        tags=("stats",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/stats/kpis.csv",
        EXPORTS["kpis.csv"],
        "考核指标导出(CSV)",
        roles=STATS_ROLES,
        query=KpiParams,
        tags=("stats",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/stats/kpis.xlsx",
        EXPORTS["kpis.xlsx"],
        "考核指标导出(XLSX)",
        roles=STATS_ROLES,
        query=KpiParams,
        tags=("stats",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/stats/ranking",
        get_ranking,
        "单位三率排名及环比",
        roles=STATS_ROLES,
        query=RankingParams,
        tags=("stats",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/stats/hotspots",
        get_hotspots,
        "热点:分类×区域×日统计、苗头性问题、关键词",
        roles=STATS_ROLES,
        query=HotspotParams,
        tags=("stats",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/stats/volume",
        get_volume,
        "每日受理量(按渠道/热线/分类/区域/单位分组)",
        roles=STATS_ROLES,
        query=VolumeParams,
        tags=("stats",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/stats/orders.xlsx",
        EXPORTS["orders.xlsx"],
        "工单明细导出(XLSX)",
        roles=STATS_ROLES,
        query=OrderExportParams,
        tags=("stats",),
        errors=(413,),
    ),
    ApiRoute(
        "GET",
        "/api/v1/stats/orders.csv",
        EXPORTS["orders.csv"],
        "工单明细导出(CSV)",
        roles=STATS_ROLES,
        query=OrderExportParams,
        tags=("stats",),
        errors=(413,),
    ),
]
