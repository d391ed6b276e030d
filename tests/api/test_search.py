"""`GET /api/v1/orders?q=`: number, caller phone, address and content, on both databases."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from dispatch import services
from tests.api.conftest import make_api


@pytest.fixture
async def orders(aiohttp_client, any_db_url, clock):
    api = await make_api(aiohttp_client, any_db_url, clock)
    made = {
        "garbage": await api.register(
            content="幸福小区12栋楼道垃圾无人清理",
            address="东湖区幸福路8号",
            caller_phone="13800138000",
        ),
        "noise": await api.register(
            content="夜间施工噪音扰民_100%严重",
            address="西湖区和平街2号",
            caller_phone="13912345678",
        ),
        "water": await api.register(
            content="停水三天无人通知", address="青山湖区民主路\\5号", caller_phone="0791-86661234"
        ),
    }
    return api, {key: order["number"] for key, order in made.items()}


async def _search(api, q: str, user: str = "supervisor") -> list[str]:
    answer = await api.call("GET", f"/api/v1/orders?q={quote(q)}", user)
    assert answer["total"] == len(answer["items"]) and answer["total_exact"] is True
    return sorted(o["number"] for o in answer["items"])


async def test_search_by_number_phone_address_content(orders):
    api, n = orders
    assert await _search(api, n["noise"]) == [n["noise"]]
    assert await _search(api, "13912345678") == [n["noise"]]  # the full caller phone
    assert await _search(api, "5678") == [n["noise"]]  # its last four digits
    assert await _search(api, "86661234") == [n["water"]]
    assert await _search(api, "幸福路") == [n["garbage"]]  # an address fragment
    assert await _search(api, "和平街2") == [n["noise"]]
    assert await _search(api, "无人") == sorted([n["garbage"], n["water"]])  # 2 characters
    assert await _search(api, "施工噪音") == [n["noise"]]  # a content fragment
    assert await _search(api, "东湖 垃圾无人") == [n["garbage"]]  # every word must match
    assert await _search(api, "地铁站") == []


async def test_search_wildcards_are_plain_characters(orders):
    """`%`, `_` and `\\` match themselves, not everything (LIKE escaping)."""
    api, n = orders
    assert await _search(api, "%") == [n["noise"]]
    assert await _search(api, "_") == [n["noise"]]
    assert await _search(api, "\\") == [n["water"]]
    assert await _search(api, "100%") == [n["noise"]]
    assert await _search(api, "路\\5") == [n["water"]]
    assert await _search(api, "%%%") == []
    assert await _search(api, '"') == []


async def test_search_by_number_prefix_is_short_query_fallback(orders):
    api, n = orders
    day = n["garbage"][:8]
    assert await _search(api, day[:2]) == sorted(n.values())
    assert await _search(api, "99") == []


async def test_search_stays_in_the_unit_scope(orders):
    api, n = orders
    await api.act("dispatcher", n["noise"], "dispatch", unit="ZJJ")
    assert await _search(api, "5678", "zjj") == [n["noise"]]
    assert await _search(api, "8000", "zjj") == []
    assert await _search(api, "5678", "cgj") == []


async def test_a_search_count_stops_past_the_cap(orders, monkeypatch):
    """A search's total is counted up to SEARCH_COUNT_CAP past the page asked for: more
    reads as `total_exact` false ("more than total"), on every path of `q` (the FTS5
    table alone, with other conditions, a short LIKE term); lists without `q` stay exact."""
    api, _numbers = orders
    lamps = [(await api.register(content=f"路灯不亮第{i}盏"))["number"] for i in range(3)]
    monkeypatch.setattr(services, "SEARCH_COUNT_CAP", 2)

    async def page(query: str) -> tuple[int, bool, list[str]]:
        answer = await api.call("GET", f"/api/v1/orders?{query}", "supervisor")
        return answer["total"], answer["total_exact"], [o["number"] for o in answer["items"]]

    assert await page(f"q={quote('路灯不亮')}&page_size=1") == (2, False, [lamps[2]])
    total, exact, items = await page(f"q={quote('路灯不亮')}&state=registered&page_size=1")
    assert (total, exact, len(items)) == (2, False, 1) and items[0] in lamps
    assert (await page(f"q={quote('湖区')}&page_size=1"))[:2] == (2, False)  # 3 match
    # further pages count further: page 3 of 1 counts up to 3 (+1), all there is
    assert await page(f"q={quote('路灯不亮')}&page_size=1&page=3") == (3, True, [lamps[0]])
    assert await page(f"q={quote('路灯不亮')}&page_size=2&page=2") == (3, True, [lamps[0]])
    assert (await page(f"q={quote('幸福路')}&page_size=1"))[:2] == (1, True)
    assert (await page("state=registered&page_size=1"))[:2] == (6, True)  # no q: exact
