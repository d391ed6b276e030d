"""统计看板: the page shows what the statistics API answers, for whoever looks at it."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.web.conftest import CALLER_PHONE
from tests.web.test_browser import Session, base, chromium  # noqa: F401  (fixtures)

PERIOD = "from=2026-11-16&to=2026-11-24"


async def _orders(api) -> list[str]:
    numbers = []
    for content, unit, hotline in (
        ("路灯不亮,晚上出行不便", "CGJ", "12345"),
        ("小区物业不作为,楼道垃圾无人清理", "ZJJ", "12345"),
        ("工地脚手架没有防护网", "ZJJ", "12350"),
    ):
        order = await api.register(caller_phone=CALLER_PHONE, content=content, hotline=hotline)
        await api.act("dispatcher", order["number"], "dispatch", unit=unit)
        numbers.append(order["number"])
    await api.act("cgj", numbers[0], "accept")
    await api.register(channel="web", content="公积金怎么提取")
    return numbers


async def test_dashboard_figures_equal_the_api(api, browser):
    await _orders(api)
    await browser.login("supervisor")
    resp = await browser.client.get(f"/web/dashboard?{PERIOD}")
    html = await resp.text()
    assert resp.status == 200, html

    volume = await api.call("GET", f"/api/v1/stats/volume?{PERIOD}", "supervisor")
    assert re.search(rf'id="dash-total">{sum(volume["totals"])}<', html)
    assert sum(volume["totals"]) == 4
    for day, total in zip(volume["days"], volume["totals"], strict=True):
        assert f'data-day="{day}" data-total="{total}"' in html
    [total] = (await api.call("GET", f"/api/v1/stats/kpis?{PERIOD}&group_by=total", "supervisor"))[
        "rows"
    ]
    gauges = re.findall(r'aria-label="([^"]+)"[^>]*data-value="([\d.]*)"', html)
    shown = dict(gauges)
    assert shown["按时签收率"] == f"{total['ontime_accept_rate']:.6f}"
    assert shown["满意率"] == ""  # nothing rated yet: no figure, not 0 %
    ranking = await api.call("GET", f"/api/v1/stats/ranking?{PERIOD}", "supervisor")
    ranked = [r["name"] for r in ranking["rows"] if r["three_rate_score"] is not None]
    assert re.findall(r'class="rank" data-name="([^"]+)"', html) == ranked
    assert "区域 × 分类热力表" in html and "领导简报" in html
    # The page's Content-Security-Policy refuses inline styles: the charts use none.
    assert "style=" not in html and "default-src 'self'" in resp.headers["Content-Security-Policy"]

    # The export link gives the API's numbers, with the page's session.
    resp = await browser.client.get(f"/web/exports/kpis.xlsx?{PERIOD}&group_by=unit")
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    kpis = await api.call("GET", f"/api/v1/stats/kpis?{PERIOD}&group_by=unit", "supervisor")
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        r["key"] for r in kpis["rows"]
    ]

    # A report of the period, made from the page, archived and downloadable.
    resp = await browser.post(
        "/web/reports", {"from": "2026-11-16", "to": "2026-11-24"}, page="/web/dashboard"
    )
    assert resp.status == 303
    report = resp.headers["Location"]
    page = await browser.client.get(report)
    assert "12345热线工作简报" in await page.text()
    # a self-contained page: its own inline styles, and no scripts at all
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
    xlsx = await browser.client.get(report + ".xlsx")
    book = load_workbook(io.BytesIO(await xlsx.read()))
    assert book["总体情况"]["B3"].value == 4
    listing = await (await browser.client.get("/web/dashboard")).text()
    assert report in listing


async def test_dashboard_scope_and_bad_input(api, browser):
    await _orders(api)
    # A sub-platform manager: 12350 only, and no city-wide reports.
    await browser.login("aq_dispatcher")
    html = await (await browser.client.get(f"/web/dashboard?{PERIOD}")).text()
    assert re.search(r'id="dash-total">1<', html)
    assert "领导简报" not in html
    assert (await browser.client.get("/web/reports/1")).status == 403
    xlsx = await browser.client.get(f"/web/exports/orders.xlsx?{PERIOD}")
    rows = list(load_workbook(io.BytesIO(await xlsx.read())).active.iter_rows(values_only=True))
    assert len(rows) == 2  # the header and the 12350 order

    await browser.login("supervisor")
    resp = await browser.client.get("/web/dashboard?from=2026-13-01&to=x")
    assert resp.status == 200 and "日期格式不正确" in await resp.text()
    resp = await browser.client.get("/web/dashboard?from=2026-11-20&to=2026-11-01")
    assert "结束日期必须晚于开始日期" in await resp.text()
    resp = await browser.client.get("/web/exports/kpis.xlsx?from=bad&to=2026-11-24")
    assert resp.status == 400 and "Traceback" not in await resp.text()
    resp = await browser.post("/web/reports", {"from": "x", "to": "y"}, page="/web/dashboard")
    assert resp.status == 400 and "日期格式不正确" in await resp.text()
    assert (await browser.client.get("/web/reports/999")).status == 404

    await browser.login("zjj")
    assert (await browser.client.get("/web/dashboard")).status == 403


async def test_dashboard_in_the_browser(chromium, base, api):  # noqa: F811
    await _orders(api)
    session = Session(chromium, base)
    page = await session.login("supervisor", "/web/supervise")
    await session.open(f"/web/dashboard?{PERIOD}")
    assert await page.locator("#gauges svg.gauge").count() == 8
    assert await page.locator("svg.chart g.bar").count() == 2 * 8  # two charts, 8 days
    await session.shot("dashboard.png")
