"""Hotspots through the API: daily counts, an emerging issue, the period's keywords."""

from __future__ import annotations


async def test_hotspots_counts_burst_and_keywords(api, clock):
    await api.call(
        "POST", "/api/v1/categories", "admin", {"code": "HJ", "name": "环境卫生"}, expect=201
    )
    # 15 quiet days (Mon 23 Nov – Mon 7 Dec): one 噪音 complaint a day in 东湖区 …
    for _ in range(15):
        await api.register(content="夜间施工噪音扰民", district="东湖区", category="HJ")
        clock.advance(days=1)
    # … then Tuesday 8 December: eight 停水 calls in 西湖区, one 噪音 call in 东湖区
    for _ in range(8):
        await api.register(content="小区突然停水,没有任何通知", district="西湖区", category="HJ")
    await api.register(content="夜间施工噪音扰民", district="东湖区", category="HJ")

    body = await api.call(
        "GET", "/api/v1/stats/hotspots?from=2026-12-01&to=2026-12-09&top=5", "supervisor"
    )
    assert body["days"][0] == "2026-12-01" and body["days"][-1] == "2026-12-08"
    items = {(i["day"], i["district"]): i["count"] for i in body["items"]}
    assert items[("2026-12-08", "西湖区")] == 8 and items[("2026-12-08", "东湖区")] == 1
    assert items[("2026-12-01", "东湖区")] == 1 and ("2026-11-30", "东湖区") not in items
    assert all(i["category_name"] == "环境卫生" for i in body["items"])
    # 西湖区 had nothing for two weeks, then 8 in a day: emerging; 东湖区 stays quiet.
    # The category total (1 a day, then 9) is a second, weaker alert of the same burst.
    emerging = [(e["scope"], e["district"], e["day"], e["count"]) for e in body["emerging"]]
    assert emerging == [
        ("category_district", "西湖区", "2026-12-08", 8),
        ("category", None, "2026-12-08", 9),
    ]
    assert "泊松" in body["method"]
    # keywords of 1–8 December: 8 停水 calls, 8 噪音 calls (one a day); stop words out
    words = {k["word"]: k["count"] for k in body["keywords"]}
    assert len(words) == 5 and "任何" not in words
    assert {w: words[w] for w in ("停水", "噪音")} == {"停水": 8, "噪音": 8}

    await api.call("GET", "/api/v1/stats/hotspots?from=2026-01-01&to=2027-06-01", "supervisor",
                   expect=400)  # fmt: skip
    await api.call("GET", "/api/v1/stats/hotspots?from=2026-12-01&to=2026-12-09", "agent",
                   expect=403)  # fmt: skip


async def test_the_first_days_of_the_service_are_not_emerging(api, clock):
    # A new centre's first morning: five calls about one problem, nothing before.
    for _ in range(5):
        await api.register(content="小区突然停水", district="西湖区")
    body = await api.call(
        "GET", "/api/v1/stats/hotspots?from=2026-11-23&to=2026-11-24", "supervisor"
    )
    assert sum(i["count"] for i in body["items"]) == 5
    assert body["emerging"] == [] and "不足 7 天" in body["method"]


async def test_keywords_follow_new_and_invalidated_orders(api, clock):
    # The keywords of a period are cached by the version of its texts: a new order or
    # one made invalid must show at once.
    query = "/api/v1/stats/hotspots?from=2026-11-23&to=2026-11-24&top=10"
    await api.register(content="夜间施工噪音扰民")

    async def keywords() -> set[str]:
        return {k["word"] for k in (await api.call("GET", query, "supervisor"))["keywords"]}

    assert "噪音" in await keywords() and "停水" not in await keywords()
    number = (await api.register(content="小区突然停水"))["number"]
    assert "停水" in await keywords()
    await api.act("dispatcher", number, "invalidate", reason="重复来电")
    assert "停水" not in await keywords()
