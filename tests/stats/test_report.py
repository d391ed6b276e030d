"""The leadership report agrees with the API it is built from."""

from __future__ import annotations

import re

from app.keys import DISPATCH


async def test_report_numbers_match_the_api(api, clock):
    numbers = []
    for content, unit in (("路灯不亮", "CGJ"), ("物业不作为", "ZJJ"), ("噪音扰民", "DHQ")):
        number = (await api.register(content=content, type="consultation"))["number"]
        await api.act("dispatcher", number, "dispatch", unit=unit)
        numbers.append(number)
    await api.act("cgj", numbers[0], "accept")
    await api.register(content="公积金怎么取", type="consultation")  # not dispatched
    clock.advance(days=4)  # consultations: 2 working days; all three are overdue now
    await api.client.app[DISPATCH].scan()

    await api.login("supervisor")
    resp = await api.client.get(
        "/api/v1/stats/report.html?from=2026-11-20&to=2026-11-28",
        headers={"Authorization": f"Bearer {api.tokens['supervisor']}"},
    )
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()

    hotspots = await api.call(
        "GET", "/api/v1/stats/hotspots?from=2026-11-20&to=2026-11-28", "supervisor"
    )
    overdue = await api.call("GET", "/api/v1/orders?flag=overdue", "supervisor")
    total = sum(i["count"] for i in hotspots["items"])
    assert total == 4 and overdue["total"] == 3
    assert re.search(rf'id="total">{total}<', html)
    assert re.search(rf'id="overdue-total">{overdue["total"]}<', html)
    for number in numbers:
        assert number in html
    assert "12345政务服务便民热线" in html and "<svg" in html
    for title in ("总体情况", "每日受理量", "主要诉求分类", "苗头性问题", "超期工单"):
        assert title in html

    await api.call(
        "GET", "/api/v1/stats/report.html?from=2026-11-20&to=2026-11-28", "zjj", expect=403
    )
    await api.call(
        "GET", "/api/v1/stats/report.html?from=x&to=2026-11-28", "supervisor", expect=400
    )
