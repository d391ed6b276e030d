"""统计看板: the period's volume, KPIs, unit ranking, hotspots and leadership reports.

Every figure comes from the functions behind `/api/v1/stats/...` (stats.routes), called
with the signed-in user, so the page shows exactly what the API answers for that user
(a sub-platform manager sees their hotlines only); the charts are server-side SVG
(stats.charts): no JavaScript library, nothing loaded from outside.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from accounts.audit import Event
from accounts.domain import Role
from accounts.routes import trail
from app.errors import InvalidInput
from app.http import Call, parse_model
from app.keys import DISPATCH, SETTINGS
from stats import archive, charts
from stats import routes as stats_routes
from stats.domain import KPIS
from stats.exports import XLSX_TYPE
from stats.report import REPORT_ROLES
from stats.routes import (
    HotspotParams,
    KpiParams,
    OrderExportParams,
    RankingParams,
    VolumeParams,
    hotspots,
    kpis,
    ranking,
    volume,
)
from web.render import render
from web.session import actor_of, screen

DASHBOARD_ROLES = (Role.SUPERVISOR, Role.ADMIN, Role.DISPATCHER)
DEFAULT_DAYS = 30
MAX_DAYS = stats_routes.MAX_HOTSPOT_DAYS  # the daily series behind the charts
GAUGES = (
    ("connection_rate", 0.95),  # GB/T 33358: 24-hour connection rate >= 95 %
    ("service_level_15s", None),
    ("direct_rate", None),
    ("ontime_accept_rate", None),
    ("ontime_finish_rate", None),
    ("satisfaction_rate", None),
    ("resolution_rate", None),
    ("three_rate_score", None),
)
LABELS = {k.name: k.label for k in KPIS}
HEAT_CATEGORIES = 8  # columns of the district × category table
RANKED_UNITS = 15
RECENT_REPORTS = 8
REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def _period(request: web.Request, today: date) -> tuple[str, str, str | None]:
    """(from, to, error): the query's dates, else (with the reason) the last 30 days."""
    default = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    tomorrow = (today + timedelta(days=1)).isoformat()
    start = request.query.get("from", "").strip()[:10]
    end = request.query.get("to", "").strip()[:10]
    if not start and not end:
        return default, tomorrow, None
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        return default, tomorrow, "日期格式不正确,请使用 年-月-日"
    if last <= first:
        return default, tomorrow, "结束日期必须晚于开始日期"
    if (last - first).days > MAX_DAYS:
        return default, tomorrow, f"统计区间不能超过 {MAX_DAYS} 天"
    return first.isoformat(), last.isoformat(), None


def _heat(items: list[dict[str, Any]]) -> dict[str, Any]:
    """District × category counts of the period, the busiest categories as columns."""
    by_category: Counter[str] = Counter()
    cells: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        category = item["category_name"] or "未分类"
        district = item["district"] or "未知区域"
        by_category[category] += item["count"]
        cells[district][category] += item["count"]
    columns = [c for c, _n in by_category.most_common(HEAT_CATEGORIES)]
    rows = sorted(cells.items(), key=lambda kv: -sum(kv[1].values()))
    peak = max((n for counts in cells.values() for n in counts.values()), default=0)
    return {
        "columns": columns,
        "rows": [
            {
                "district": district,
                "total": sum(counts.values()),
                "cells": [
                    {"count": counts[c], "level": charts.heat_level(counts[c], peak)}
                    for c in columns
                ],
            }
            for district, counts in rows
        ],
    }


@screen(*DASHBOARD_ROLES)
async def dashboard(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    app = request.app
    tz = ZoneInfo(app[SETTINGS].calendar.timezone)
    today = app[DISPATCH].now().astimezone(tz).date()
    start, end, error = _period(request, today)
    period = {"from": start, "to": end}
    total = await kpis(app, actor, KpiParams.model_validate({**period, "group_by": "total"}))
    by_channel = await volume(app, actor, VolumeParams.model_validate(period))
    by_hotline = await volume(
        app, actor, VolumeParams.model_validate({**period, "group_by": "hotline"})
    )
    ranked = await ranking(app, actor, RankingParams.model_validate(period))
    spots = await hotspots(app, actor, HotspotParams.model_validate({**period, "top": 40}))
    [overall] = total["rows"]
    units = [r for r in ranked["rows"] if r["three_rate_score"] is not None]
    last_day = date.fromisoformat(end) - timedelta(days=1)
    may_report = actor.role in REPORT_ROLES and not actor.hotlines
    reports = (await archive.list_reports(app, 1, RECENT_REPORTS))[0] if may_report else []
    context = {
        "start": start,
        "end": end,
        "last_day": last_day.isoformat(),
        "error": error,
        "total": sum(by_channel["totals"]),
        "gauges": [
            charts.gauge(overall[name], LABELS[name], target=target) for name, target in GAUGES
        ],
        "asa": overall["asa_seconds"],
        "abandon": overall["abandon_rate"],
        "volume_channel": charts.stacked_bars(
            by_channel["days"],
            [charts.Series(s["name"], s["counts"]) for s in by_channel["series"]],
            title="每日受理量(按渠道)",
        ),
        "volume_hotline": charts.stacked_bars(
            by_hotline["days"],
            [charts.Series(s["name"], s["counts"]) for s in by_hotline["series"]],
            title="每日受理量(按热线)",
        ),
        "channels": by_channel["series"],
        "hotlines": by_hotline["series"],
        "ranking": charts.ranking_bars(
            [
                charts.RankBar(r["name"], r["three_rate_score"], r["rank"], r["delta"])
                for r in units[:RANKED_UNITS]
            ],
            title="单位三率得分排名",
        ),
        "ranked_units": len(units),
        "heat": _heat(spots["items"]),
        "emerging": spots["emerging"],
        "method": spots["method"],
        "keywords": charts.keyword_levels([(k["word"], k["count"]) for k in spots["keywords"]]),
        "reports": reports,
        "quick": {
            label: (first.isoformat(), (today + timedelta(days=1)).isoformat())
            for label, first in (
                ("近7天", today - timedelta(days=6)),
                ("近30天", today - timedelta(days=DEFAULT_DAYS - 1)),
                ("本月", today.replace(day=1)),
            )
        },
        "may_report": may_report,
    }
    return await render(request, "dashboard.html", context)


# ---------------------------------------------------------------------- files


@screen(*REPORT_ROLES)
async def stored_report(request: web.Request) -> web.StreamResponse:
    """An archived report: its HTML as it was made, or its workbook."""
    actor = await actor_of(request)
    archive.city_wide(actor)
    row = await archive.stored_report(request.app, request.match_info["id"])
    if request.match_info.get("suffix") == ".xlsx":
        name = f"report_{row.id}.xlsx"
        await trail(request, actor).alone(Event.EXPORT, name, detail={"report": row.id})
        return web.Response(
            body=row.xlsx,
            content_type=XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="report_{row.id}.xlsx"'},
        )
    # A self-contained page: its own inline styles, no scripts, nothing loaded.
    return web.Response(
        text=row.html,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": REPORT_POLICY},
    )


@screen(*REPORT_ROLES)
async def new_report(request: web.Request) -> web.StreamResponse:
    """生成简报: the dashboard's period as a stored report, then open it."""
    actor = await actor_of(request)
    archive.city_wide(actor)
    form = await request.post()
    try:
        first = date.fromisoformat(str(form.get("from", ""))[:10])
        end = date.fromisoformat(str(form.get("to", ""))[:10])
    except ValueError:
        raise InvalidInput("日期格式不正确,请使用 年-月-日") from None
    if not first < end <= first + timedelta(days=MAX_DAYS):
        raise InvalidInput(f"结束日期须晚于开始日期,且区间不超过 {MAX_DAYS} 天")
    row = await archive.make_report(
        request.app, archive.ReportPeriod("custom", first, end), actor, email=False
    )
    raise web.HTTPSeeOther(f"/web/reports/{row.id}")


@screen(*DASHBOARD_ROLES)
async def export(request: web.Request) -> web.StreamResponse:
    """The API's CSV/XLSX exports, for the signed-in user of the dashboard."""
    actor = await actor_of(request)
    name = request.match_info["name"]
    params = {k: v for k, v in request.query.items() if k in ("from", "to", "group_by")}
    if name.startswith("kpis"):
        params.setdefault("group_by", "unit")
        query = parse_model(KpiParams, params)
    else:
        params.pop("group_by", None)
        query = parse_model(OrderExportParams, params)
    handler = stats_routes.EXPORTS[name]
    return await handler(request, Call(actor, query=query))
