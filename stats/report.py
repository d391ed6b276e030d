"""The leadership report (领导简报) of a period: key figures, daily volume chart, top
categories, emerging issues, overdue cases and the weakest units — built from the same
functions as the API, so the numbers agree; rendered as HTML (printable, mailable) and
as an XLSX workbook with one sheet per section."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from accounts.domain import Actor, Role
from app.http import ApiRoute, Call
from app.keys import DISPATCH
from dispatch.services import OrderFilter
from stats import charts, exports
from stats.exports import Column, Table
from stats.routes import (
    HotspotParams,
    KpiParams,
    PeriodParams,
    RankingParams,
    VolumeParams,
    hotspots,
    kpis,
    ranking,
    volume,
)

REPORT_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
TOP = 10  # categories, overdue cases
WORST = 5  # units at the bottom of the ranking
_env = Environment(
    loader=PackageLoader("stats", "templates"), autoescape=select_autoescape(["html"])
)


def _when(at, tz) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "—"


async def build_report(app: web.Application, actor: Actor, start: str, end: str) -> dict[str, Any]:
    period = {"from": start, "to": end}
    by_hotline = await kpis(app, actor, KpiParams.model_validate({**period, "group_by": "hotline"}))
    ranked_units = await ranking(app, actor, RankingParams.model_validate(period))
    spots = await hotspots(app, actor, HotspotParams.model_validate({**period, "top": 20}))
    daily = await volume(app, actor, VolumeParams.model_validate({**period, "group_by": "hotline"}))
    categories = Counter()
    for item in spots["items"]:
        categories[item["category_name"] or "未分类"] += item["count"]
    service = app[DISPATCH]
    overdue, overdue_total, _exact, units = await service.list(
        actor, OrderFilter(flag="overdue"), 1, TOP
    )
    ranked = [r for r in ranked_units["rows"] if r["three_rate_score"] is not None]
    return {
        "from": ranked_units["from"][:10],
        "to": ranked_units["to"][:10],
        "total": sum(daily["totals"]),
        "hotlines": by_hotline["rows"],
        "chart": charts.stacked_bars(
            daily["days"],
            [charts.Series(s["name"], s["counts"]) for s in daily["series"]],
            title="每日受理量(按热线)",
        ),
        "categories": categories.most_common(TOP),
        "emerging": spots["emerging"],
        "method": spots["method"],
        "keywords": spots["keywords"][:20],
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


def render_html(report: dict[str, Any]) -> str:
    return _env.get_template("report.html").render(r=report)


_PERCENT = "0.0%"


def render_xlsx(report: dict[str, Any]) -> bytes:
    """The report as a workbook: one sheet per section, numbers as numbers."""
    rates = (
        ("direct_rate", "直办率"),
        ("ontime_accept_rate", "按时签收率"),
        ("ontime_finish_rate", "按时办结率"),
        ("satisfaction_rate", "满意率"),
        ("resolution_rate", "解决率"),
        ("three_rate_score", "三率得分"),
    )
    summary = Table(
        "总体情况",
        [Column("item", "项目"), Column("value", "数值")],
        [
            {"item": "统计区间", "value": f"{report['from']} 至 {report['to']}(不含结束日)"},
            {"item": "受理工单", "value": report["total"]},
            {"item": "超期工单", "value": report["overdue_total"]},
            {"item": "苗头性问题", "value": len(report["emerging"])},
            {"item": "生成时间", "value": report["generated"]},
        ],
    )
    hotlines = Table(
        "热线指标",
        [Column("name", "热线")] + [Column(k, label, _PERCENT) for k, label in rates],
        report["hotlines"],
    )
    categories = Table(
        "主要诉求分类",
        [Column("name", "分类"), Column("count", "件数")],
        [{"name": n, "count": c} for n, c in report["categories"]],
    )
    emerging = Table(
        "苗头性问题",
        [
            Column("day", "日期"),
            Column("category_name", "分类"),
            Column("district", "区域"),
            Column("count", "当日件数"),
            Column("baseline", "基线日均"),
        ],
        [{**e, "day": e["day"].isoformat()} for e in report["emerging"]],
    )
    overdue = Table(
        "超期工单",
        [
            Column("number", "工单编号"),
            Column("unit_name", "承办单位"),
            Column("due", "办结时限"),
            Column("content", "内容"),
        ],
        report["overdue"],
    )
    worst = Table(
        "三率靠后单位",
        [
            Column("name", "单位"),
            Column("rank", "排名"),
            Column("three_rate_score", "三率得分", _PERCENT),
            Column("delta", "较上期", "+0.0%;-0.0%;0.0%"),
        ],
        report["worst"],
    )
    return exports.to_xlsx_book([summary, hotlines, categories, emerging, overdue, worst])


async def report_html(request: web.Request, call: Call):
    params: PeriodParams = call.query
    report = await build_report(request.app, call.actor, params.start, params.end)
    html = render_html(report)
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
