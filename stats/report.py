"""The leadership report (领导简报) of a period: key figures, daily volume chart, top
categories, emerging issues, overdue cases and the weakest units — one HTML page built
from the same queries as the API, so the numbers agree."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from accounts.domain import Role
from app.http import ApiRoute, Call
from app.keys import DISPATCH
from dispatch.services import OrderFilter
from stats.routes import (
    HotspotParams,
    KpiParams,
    PeriodParams,
    RankingParams,
    get_hotspots,
    get_kpis,
    get_ranking,
)

REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
TOP = 10  # categories, overdue cases
WORST = 5  # units at the bottom of the ranking
_env = Environment(
    loader=PackageLoader("stats", "templates"), autoescape=select_autoescape(["html"])
)


def _chart(days: list, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Daily volume as SVG bar geometry (no JavaScript, prints and mails well)."""
    per_day = Counter()
    for item in items:
        per_day[item["day"]] += item["count"]
    values = [per_day[d] for d in days]
    peak = max(values, default=0) or 1
    width = max(len(values), 1)
    bars = [
        {"x": i * 20 + 30, "h": round(v / peak * 120), "value": v, "day": d}
        for i, (d, v) in enumerate(zip(days, values, strict=True))
    ]
    return {"bars": bars, "width": width * 20 + 40, "peak": peak}


def _when(at, tz) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "—"


async def build_report(request: web.Request, actor, start: str, end: str) -> dict[str, Any]:
    period = {"from": start, "to": end}
    kpis = await get_kpis(
        request, Call(actor, query=KpiParams.model_validate({**period, "group_by": "hotline"}))
    )
    ranking = await get_ranking(request, Call(actor, query=RankingParams.model_validate(period)))
    hotspots = await get_hotspots(
        request, Call(actor, query=HotspotParams.model_validate({**period, "top": 20}))
    )
    categories = Counter()
    for item in hotspots["items"]:
        categories[item["category_name"] or "未分类"] += item["count"]
    service = request.app[DISPATCH]
    overdue, overdue_total, units = await service.list(actor, OrderFilter(flag="overdue"), 1, TOP)
    ranked = [r for r in ranking["rows"] if r["three_rate_score"] is not None]
    return {
        "from": ranking["from"][:10],
        "to": ranking["to"][:10],
        "total": sum(categories.values()),
        "hotlines": kpis["rows"],
        "chart": _chart(hotspots["days"], hotspots["items"]),
        "categories": categories.most_common(TOP),
        "emerging": hotspots["emerging"],
        "method": hotspots["method"],
        "keywords": hotspots["keywords"][:20],
        "overdue": [
            {
                "number": o.number,
                "unit": units.code(o.lead_unit_id),
                "unit_name": units.by_id[o.lead_unit_id].name if o.lead_unit_id else "",
                "due": _when(o.finish_due, service.tz),
                "content": o.content[:40],
            }
            for o in overdue
        ],
        "overdue_total": overdue_total,
        "worst": ranked[-WORST:][::-1],
        "generated": _when(service.now(), service.tz),
    }


async def report_html(request: web.Request, call: Call):
    params: PeriodParams = call.query
    report = await build_report(request, call.actor, params.start, params.end)
    html = _env.get_template("report.html").render(r=report)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


routes = [
    ApiRoute(
        "GET",
        "/api/v1/stats/report.html",
        report_html,
        "领导简报(HTML,可打印)",
        roles=REPORT_ROLES,
        query=PeriodParams,
        tags=("stats",),
    ),
]
