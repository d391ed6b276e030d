"""Work queues page in SQL by the oldest running deadline: last month's overdue order is
on the first page however many newer orders there are."""

from __future__ import annotations

from app.keys import DISPATCH
from tests.api.conftest import make_api


async def test_an_old_overdue_order_heads_the_queue(aiohttp_client, any_db_url, clock):
    api = await make_api(aiohttp_client, any_db_url, clock)
    old = (await api.register(type="consultation"))["number"]
    await api.act("dispatcher", old, "dispatch", unit="ZJJ")
    await api.act("zjj", old, "accept")
    clock.advance(days=30)
    assert (old, "overdue") in await api.client.app[DISPATCH].scan()
    newer = []
    for _ in range(5):  # more than a page, all registered after it
        number = (await api.register(type="complaint"))["number"]
        await api.act("dispatcher", number, "dispatch", unit="ZJJ")
        await api.act("zjj", number, "accept")
        newer.append(number)
        clock.advance(minutes=10)

    for query in ("state=accepted", "flag=overdue", "state=accepted&unit=ZJJ"):
        page = await api.call("GET", f"/api/v1/orders?{query}&page_size=3", "supervisor")
        assert page["items"][0]["number"] == old, query
    page = await api.call("GET", "/api/v1/orders?state=accepted&page_size=3", "zjj")
    assert [o["number"] for o in page["items"]] == [old, *newer[:2]]
    assert page["total"] == 6
    second = await api.call("GET", "/api/v1/orders?state=accepted&page_size=3&page=2", "zjj")
    assert [o["number"] for o in second["items"]] == newer[2:]

    # a history list, or asked for: the latest registered first
    latest = await api.call("GET", "/api/v1/orders?page_size=3", "supervisor")
    assert [o["number"] for o in latest["items"]] == newer[::-1][:3]
    by_age = await api.call("GET", "/api/v1/orders?state=accepted&sort=newest", "supervisor")
    assert by_age["items"][-1]["number"] == old
