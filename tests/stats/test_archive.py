"""Leadership reports on a schedule and on demand: stored, downloadable, mailed with XLSX."""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from app.factory import create_app
from app.keys import OUTBOX
from config import ReportSettings
from stats.archive import ReportPeriod, due_periods, run_due
from tests.api.conftest import Api, add_user, seed
from tests.conftest import make_settings
from tests.integrations.test_email import smtp  # noqa: F401  (fixture)

TZ = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    ("now", "daily", "weekly"),
    [
        # Monday 2026-11-30 after 08:00: yesterday, and Mon 23 – Sun 29
        ("2026-11-30 08:00", ("2026-11-29", "2026-11-30"), ("2026-11-23", "2026-11-30")),
        # the same Monday before 08:00: the day before yesterday, and the week before
        ("2026-11-30 07:59", ("2026-11-28", "2026-11-29"), ("2026-11-16", "2026-11-23")),
        # Wednesday: the last weekly report day was Monday
        ("2026-12-02 12:00", ("2026-12-01", "2026-12-02"), ("2026-11-23", "2026-11-30")),
        # New Year: the daily report crosses the year
        ("2027-01-01 09:00", ("2026-12-31", "2027-01-01"), ("2026-12-21", "2026-12-28")),
    ],
)
def test_due_periods(now, daily, weekly):
    at = datetime.strptime(now, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)
    got = due_periods(at, ReportSettings())
    expected = [
        ReportPeriod(kind, date.fromisoformat(first), date.fromisoformat(end))
        for kind, (first, end) in (("daily", daily), ("weekly", weekly))
    ]
    assert got == expected


def test_weekly_day_is_configurable():
    friday_noon = datetime(2026, 12, 4, 12, tzinfo=TZ)
    [_daily, weekly] = due_periods(friday_noon, ReportSettings(weekly_weekday=5))
    assert (weekly.first, weekly.end) == (date(2026, 11, 27), date(2026, 12, 4))
    assert weekly.title == "12345热线工作周报(2026-11-27 至 2026-12-03)"


async def _api(aiohttp_client, sqlite_url, clock, port: int) -> Api:
    settings = make_settings(sqlite_url)
    settings.email.enabled, settings.email.port = True, port
    settings.reports.recipients = ["leader@city.example"]
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    for username, role, hotlines in (
        ("chief", "supervisor", None),
        ("aq_chief", "supervisor", ["12350"]),  # scoped to a sub-platform: not mailed
    ):
        email = f"{username}@city.example"
        await add_user(api, username=username, role=role, hotlines=hotlines, email=email)
    return api


async def test_scheduled_reports_are_made_once_stored_and_mailed(
    aiohttp_client,
    sqlite_url,
    clock,
    smtp,  # noqa: F811
):
    inbox, port = smtp
    api = await _api(aiohttp_client, sqlite_url, clock, port)
    for content, unit in (("路灯不亮", "CGJ"), ("物业不作为", "ZJJ"), ("噪音扰民", "DHQ")):
        number = (await api.register(content=content, type="consultation"))["number"]
        await api.act("dispatcher", number, "dispatch", unit=unit)
    clock.advance(days=7)  # Monday 30 Nov, 10:00: the daily (29th) and last week's are due
    app = api.client.app

    made = await run_due(app)
    assert [(r.kind, r.title) for r in made] == [
        ("daily", "12345热线工作日报(2026-11-29)"),
        ("weekly", "12345热线工作周报(2026-11-23 至 2026-11-29)"),
    ]
    assert await run_due(app) == []  # once per period

    listing = await api.call("GET", "/api/v1/stats/reports", "supervisor")
    assert listing["total"] == 2
    weekly = next(r for r in listing["items"] if r["kind"] == "weekly")
    assert weekly["from"] == "2026-11-23T00:00:00+08:00" and weekly["recipients"] == 2

    # The stored workbook holds the numbers the API answers for the same period.
    hotspots = await api.call(
        "GET", "/api/v1/stats/hotspots?from=2026-11-23&to=2026-11-30", "supervisor"
    )
    await api.login("supervisor")
    headers = {"Authorization": f"Bearer {api.tokens['supervisor']}"}
    resp = await api.client.get(
        f"/api/v1/stats/reports/{weekly['id']}/report.xlsx", headers=headers
    )
    assert resp.status == 200 and resp.headers["Content-Type"] == XLSX
    book = load_workbook(io.BytesIO(await resp.read()))
    assert book.sheetnames[:3] == ["总体情况", "热线指标", "主要诉求分类"]
    summary = {row[0]: row[1] for row in book["总体情况"].iter_rows(min_row=2, values_only=True)}
    assert summary["受理工单"] == sum(i["count"] for i in hotspots["items"]) == 3
    resp = await api.client.get(
        f"/api/v1/stats/reports/{weekly['id']}/report.html", headers=headers
    )
    assert resp.status == 200 and "12345热线工作简报" in await resp.text()

    # Mailed through the outbox to the city-wide supervisor and the configured leader.
    assert await app[OUTBOX].deliver_due() == (4, 0)
    to = sorted({m["To"] for m in inbox.messages})
    assert to == ["chief@city.example", "leader@city.example"]
    message = next(m for m in inbox.messages if "周报" in m["Subject"])
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "report_weekly_20261123.xlsx"
    mailed = load_workbook(io.BytesIO(attachment.get_content()))
    assert mailed["总体情况"]["B3"].value == 3
    assert "受理工单 3 件" in message.get_body(("plain",)).get_content()


async def test_reports_on_demand_and_who_may_see_them(api):
    made = await api.call(
        "POST",
        "/api/v1/stats/reports",
        "supervisor",
        {"from": "2026-11-01", "to": "2026-11-24"},
        expect=201,
    )
    assert made["kind"] == "custom" and made["recipients"] == 0
    assert made["title"] == "12345热线工作专题简报(2026-11-01 至 2026-11-23)"
    # a second on-demand report of the same period is its own record
    again = await api.call(
        "POST", "/api/v1/stats/reports", "admin", {"from": "2026-11-01", "to": "2026-11-24"}, 201
    )
    assert again["id"] != made["id"]

    bad = await api.call(
        "POST",
        "/api/v1/stats/reports",
        "supervisor",
        {"from": "2026-11-01T08:00:00+08:00", "to": "2026-11-24"},
        expect=400,
    )
    assert bad["error"]["code"] == "invalid_stats_query"
    await api.call("POST", "/api/v1/stats/reports", "supervisor", {"from": "x"}, expect=400)
    await api.call("GET", "/api/v1/stats/reports", "zjj", expect=403)
    await api.call("GET", "/api/v1/stats/reports", "aq_dispatcher", expect=403)
    await api.call("GET", "/api/v1/stats/reports/999/report.html", "supervisor", expect=404)
    await api.call("GET", "/api/v1/stats/reports/abc/report.xlsx", "supervisor", expect=404)
    too_big = "/api/v1/stats/reports/20261123000001/report.html"  # beyond an INTEGER key
    await api.call("GET", too_big, "supervisor", expect=404)
