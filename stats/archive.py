"""Leadership reports on a schedule: yesterday's every morning, last week's every Monday.

`due_periods` is the pure part (which report periods are due at a local time);
`make_report` builds one report with the same functions as the API, stores it with its
XLSX form and queues it by e-mail (outbox, with the workbook attached) to the active
supervisors and admins that have an address plus `[reports] recipients`. A scheduled
period is made once: a unique index on (kind, period start) settles races between
nodes, and a node that was down at the hour makes the latest due report when it starts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accounts.audit import Event
from accounts.domain import SYSTEM_ACTOR, Actor, Role
from accounts.routes import trail
from accounts.storage import User
from app.db import unit_of_work
from app.errors import Forbidden, NotFound
from app.http import ApiRoute, Call, Page, ascii_int, page_answer
from app.keys import DISPATCH, SESSIONS, SETTINGS
from config import ReportSettings
from integrations.email.client import Attachment
from integrations.outbox import enqueue_email
from stats import report as leadership
from stats.exceptions import InvalidStatsQuery
from stats.exports import XLSX_TYPE
from stats.routes import MAX_HOTSPOT_DAYS, PeriodParams, parse_period
from stats.storage import Report

log = logging.getLogger(__name__)

FIRST_CHECK_SECONDS = 60
KIND_LABELS = {"daily": "日报", "weekly": "周报", "custom": "专题简报"}


@dataclass(frozen=True)
class ReportPeriod:
    kind: str
    first: date  # first local day in the report
    end: date  # the day after the last one

    @property
    def title(self) -> str:
        last = self.end - timedelta(days=1)
        span = f"{self.first:%Y-%m-%d}" if last == self.first else f"{self.first} 至 {last}"
        return f"12345热线工作{KIND_LABELS[self.kind]}({span})"


def due_periods(now_local: datetime, settings: ReportSettings) -> list[ReportPeriod]:
    """The latest daily and weekly periods whose report time has come at `now_local`."""
    hour, minute = (int(p) for p in settings.daily_at.split(":"))
    today = now_local.date()
    made_today = now_local.time() >= time(hour, minute)
    latest_day = today if made_today else today - timedelta(days=1)  # a report day
    due = [ReportPeriod("daily", latest_day - timedelta(days=1), latest_day)]
    back = (latest_day.isoweekday() - settings.weekly_weekday) % 7
    week_day = latest_day - timedelta(days=back)  # the latest weekly report day
    due.append(ReportPeriod("weekly", week_day - timedelta(days=7), week_day))
    return due


def _bound(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz)


async def recipients(app: web.Application) -> list[str]:
    """Supervisors and admins who see the whole city and have an address, plus config."""
    async with app[SESSIONS]() as session:
        rows = await session.execute(
            select(User.email, User.hotlines).where(
                User.active.is_(True),
                User.role.in_([Role.SUPERVISOR.value, Role.ADMIN.value]),
                User.email.is_not(None),
            )
        )
        found = [email for email, hotlines in rows if email and not hotlines]
    wanted = found + list(app[SETTINGS].reports.recipients)
    return sorted(set(wanted))


async def make_report(
    app: web.Application, period: ReportPeriod, actor: Actor = SYSTEM_ACTOR, email: bool = True
) -> Report | None:
    """Build, store and mail one report; None if this scheduled period exists already."""
    settings = app[SETTINGS]
    tz = ZoneInfo(settings.calendar.timezone)
    content = await leadership.build_report(
        app, actor, period.first.isoformat(), period.end.isoformat()
    )
    loop = asyncio.get_running_loop()
    html = leadership.render_html(content)
    xlsx = await loop.run_in_executor(None, leadership.render_xlsx, content)
    now = app[DISPATCH].now()
    mail_to = await recipients(app) if email and settings.email.enabled else []
    row = Report(
        kind=period.kind,
        period_start=_bound(period.first, tz),
        period_end=_bound(period.end, tz),
        title=period.title,
        generated_at=now,
        generated_by=actor.username,
        html=html,
        xlsx=xlsx,
        recipients=len(mail_to),
    )
    try:
        async with unit_of_work(app[SESSIONS]) as session:
            session.add(row)
            await session.flush()
            summary = _mail_body(content, settings.server.public_url, row.id)
            attachment = Attachment(f"report_{period.kind}_{period.first:%Y%m%d}.xlsx", xlsx)
            for to in mail_to:
                enqueue_email(session, to, period.title, summary, now, attachment)
    except IntegrityError:
        log.info("%s already made by another node", period.title)
        return None
    log.info("leadership report %d made: %s, mailed to %d", row.id, period.title, len(mail_to))
    return row


def _mail_body(content: dict, public_url: str, report_id: int) -> str:
    lines = [
        f"统计区间:{content['from']} 至 {content['to']}(不含结束日)",
        f"受理工单 {content['total']} 件,当前超期工单 {content['overdue_total']} 件,"
        f"苗头性问题 {len(content['emerging'])} 个。",
        "",
        "主要诉求分类:",
        *(f"  {name} {count} 件" for name, count in content["categories"][:5]),
    ]
    if content["emerging"]:
        lines += ["", "苗头性问题:"]
        lines += [
            f"  {e['day']} {e['category_name'] or '未分类'} {e['district'] or '全市'} "
            f"{e['count']} 件(基线 {e['baseline']:.1f})"
            for e in content["emerging"][:10]
        ]
    if content["worst"]:
        lines += ["", "三率得分靠后的单位:"]
        lines += [f"  {u['name']} {u['three_rate_score'] * 100:.1f} 分" for u in content["worst"]]
    link = f"{public_url.rstrip('/')}/web/reports/{report_id}" if public_url else ""
    lines += ["", "完整简报见附件(XLSX)" + (f",在线查看:{link}" if link else "。")]
    return "\n".join(lines)


async def run_due(app: web.Application) -> list[Report]:
    """Make whichever scheduled reports are due and missing."""
    tz = ZoneInfo(app[SETTINGS].calendar.timezone)
    now_local = app[DISPATCH].now().astimezone(tz)
    made = []
    for period in due_periods(now_local, app[SETTINGS].reports):
        async with app[SESSIONS]() as session:
            exists = await session.scalar(
                select(Report.id).where(
                    Report.kind == period.kind, Report.period_start == _bound(period.first, tz)
                )
            )
        if exists is None and (row := await make_report(app, period)) is not None:
            made.append(row)
    return made


async def run_reports(app: web.Application) -> None:
    """The schedule loop (a leader's job, app/leader.py; tests call `run_due` by hand)."""
    settings = app[SETTINGS].reports
    # First let the node settle (a restart's catch-up, the demo data being loaded).
    await asyncio.sleep(min(FIRST_CHECK_SECONDS, settings.interval_seconds))
    while True:
        try:
            await run_due(app)
        except Exception:  # one report that fails to build must not stop the schedule
            log.exception("reports failed; next try in %.0f s", settings.interval_seconds)
        await asyncio.sleep(settings.interval_seconds)


# ---------------------------------------------------------------------- routes


class NewReport(PeriodParams):
    email: bool = False


def city_wide(actor: Actor) -> None:
    """Stored reports cover every hotline: not for users scoped to some of them."""
    if actor.hotlines:
        raise Forbidden("简报为全市范围,分平台账号请使用统计看板")


def _describe(row: Report, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "from": row.period_start.astimezone(tz).isoformat(),
        "to": row.period_end.astimezone(tz).isoformat(),
        "generated_at": row.generated_at.astimezone(tz).isoformat(),
        "generated_by": row.generated_by,
        "recipients": row.recipients,
    }


async def list_reports(app: web.Application, page: int, page_size: int):
    tz = ZoneInfo(app[SETTINGS].calendar.timezone)
    async with app[SESSIONS]() as session:
        total = await session.scalar(select(func.count(Report.id)))
        rows = await session.scalars(
            select(Report)
            .order_by(Report.generated_at.desc(), Report.id.desc())
            .offset((page - 1) * page_size)
            .limit(page_size)
        )
        return [_describe(r, tz) for r in rows], int(total or 0)


async def get_reports(request: web.Request, call: Call):
    city_wide(call.actor)
    items, total = await list_reports(request.app, call.query.page, call.query.page_size)
    return page_answer(items, total, call.query.page, call.query.page_size)


async def post_report(request: web.Request, call: Call):
    city_wide(call.actor)
    params: NewReport = call.body
    tz = ZoneInfo(request.app[SETTINGS].calendar.timezone)
    period = parse_period(params, tz, MAX_HOTSPOT_DAYS)
    first, end = period.start.astimezone(tz).date(), period.end.astimezone(tz).date()
    if period.start != _bound(first, tz) or period.end != _bound(end, tz):
        raise InvalidStatsQuery("简报按整日统计:from/to 请使用日期(YYYY-MM-DD)")
    row = await make_report(
        request.app, ReportPeriod("custom", first, end), call.actor, email=params.email
    )
    return _describe(row, tz)


MAX_ID = 2**31 - 1  # an INTEGER key: a larger number is no report (and no database error)


async def stored_report(app: web.Application, report_id: str) -> Report:
    row = None
    if (number := ascii_int(report_id, MAX_ID)) is not None:
        async with app[SESSIONS]() as session:
            row = await session.get(Report, number)
    if row is None:
        raise NotFound("简报不存在")
    return row


def _report_file(suffix: str):
    async def report_file(request: web.Request, call: Call):
        city_wide(call.actor)
        row = await stored_report(request.app, request.match_info["id"])
        if suffix == "html":
            return web.Response(text=row.html, content_type="text/html", charset="utf-8")
        name = f"report_{row.kind}_{row.id}.xlsx"
        await trail(request, call.actor).alone(Event.EXPORT, name, detail={"report": row.id})
        return web.Response(
            body=row.xlsx,
            content_type=XLSX_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    report_file.__name__ = f"stored_report_{suffix}"
    return report_file


routes = [
    ApiRoute(
        "GET",
        "/api/v1/stats/reports",
        get_reports,
        "已生成的领导简报(日报/周报/专题)",
        roles=leadership.REPORT_ROLES,
        query=Page,
        tags=("stats",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/stats/reports",
        post_report,
        "按需生成并存档一份简报(可同时邮件发送)",
        roles=leadership.REPORT_ROLES,
        body=NewReport,
        status=201,
        tags=("stats",),
    ),
    *(
        ApiRoute(
            "GET",
            f"/api/v1/stats/reports/{{id}}/report.{suffix}",
            _report_file(suffix),
            f"存档简报({suffix.upper()})",
            roles=leadership.REPORT_ROLES,
            tags=("stats",),
        )
        for suffix in ("html", "xlsx")
    ),
]
