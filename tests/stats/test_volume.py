"""Daily volume per channel / hotline: the numbers behind the dashboard's charts."""

from __future__ import annotations


async def test_daily_volume_by_channel_and_hotline(api, clock):
    # Monday 23rd: two phone calls and one web request; Tuesday 24th: one app request.
    await api.register(channel="phone")
    await api.register(channel="phone", hotline="12350", content="工地脚手架没有防护网")
    await api.register(channel="web")
    spam = (await api.register(channel="phone", content="骚扰电话测试"))["number"]
    await api.act("dispatcher", spam, "invalidate", reason="骚扰电话")
    clock.advance(days=1)
    await api.register(channel="app")

    period = "from=2026-11-22&to=2026-11-25"
    by_channel = await api.call("GET", f"/api/v1/stats/volume?{period}", "supervisor")
    assert by_channel["days"] == ["2026-11-22", "2026-11-23", "2026-11-24"]
    assert by_channel["totals"] == [0, 3, 1]  # the invalidated one is not a request
    series = {s["key"]: (s["name"], s["counts"]) for s in by_channel["series"]}
    assert series == {
        "phone": ("电话", [0, 2, 0]),
        "web": ("网站", [0, 1, 0]),
        "app": ("APP", [0, 0, 1]),
    }
    assert by_channel["series"][0]["key"] == "phone"  # the largest first

    by_hotline = await api.call(
        "GET", f"/api/v1/stats/volume?{period}&group_by=hotline", "supervisor"
    )
    assert {s["key"]: s["total"] for s in by_hotline["series"]} == {"12345": 3, "12350": 1}

    # A sub-platform manager sees their hotline only.
    scoped = await api.call(
        "GET", f"/api/v1/stats/volume?{period}&group_by=hotline", "aq_dispatcher"
    )
    assert [(s["key"], s["counts"]) for s in scoped["series"]] == [("12350", [0, 1, 0])]

    bad = await api.call(
        "GET",
        "/api/v1/stats/volume?from=2026-11-22&to=2026-11-25&group_by=x",
        "supervisor",
        expect=400,
    )
    assert bad["error"]["code"]
