"""派单 screens after a new user's walk (issue 15, findings 6-8): a searchable unit picker
and 协办 chips, the order page's forms folded except the one needed; the queue's waiting
time with aging colours, a refresh that spares a half-filled form, bulk dispatch; a unit
that returned an order is no longer its first suggestion."""

from __future__ import annotations

import re

from web.screens.orders import demote_returning_units

COMPLAINT = "小区物业不作为,楼道垃圾无人清理,多次反映无果"


def test_units_that_returned_the_order_go_last_and_marked():
    found = {"unit": [{"unit": "ZJJ", "score": 0.8}, {"unit": "CGJ", "score": 0.1}], "kb": []}
    shown = demote_returning_units(found, {"ZJJ"})
    assert [u["unit"] for u in shown["unit"]] == ["CGJ", "ZJJ"]
    assert shown["unit"][1]["returned"] is True and "returned" not in shown["unit"][0]
    assert demote_returning_units(found, set()) is found


async def test_returned_order_does_not_suggest_the_returning_unit_first(browser, api, web_client):
    number = (await api.register(content=COMPLAINT))["number"]
    await browser.login("dispatcher")
    html = await (await web_client.get(f"/web/orders/{number}")).text()
    first = re.search(r'data-pick-unit="([^"]+)"', html).group(1)
    await api.act("dispatcher", number, "dispatch", unit=first)
    await api.act(api_user(first), number, "return", reason="不属于本单位职责")
    html = await (await web_client.get(f"/web/orders/{number}")).text()
    chips = re.findall(r'class="chip( returned)?" data-pick-unit="([^"]+)"', html)
    assert chips[-1] == (" returned", first)
    assert all(not returned for returned, _ in chips[:-1])
    assert "(曾退回)" in html


def api_user(unit: str) -> str:
    return {"ZJJ": "zjj", "CGJ": "cgj", "ZJJ-WY": "zjj_wy", "DHQ": "dhq"}[unit]
