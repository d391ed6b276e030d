"""派单 screens after a new user's walk (issue 15, findings 6-8): a searchable unit picker
and 协办 chips, the order page's forms folded except the one needed; the queue's waiting
time with aging colours, a refresh that spares a half-filled form, bulk dispatch; a unit
that returned an order is no longer its first suggestion."""

from __future__ import annotations

import re
import shutil

from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS
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


async def test_unit_picker_filters_and_co_units_are_chips(chromium, base, api):  # noqa: F811
    number = (await api.register(content="路灯不亮已经一周了"))["number"]
    dispatcher = Session(chromium, base)
    page = await dispatcher.login("dispatcher", "/web/dispatch")
    await dispatcher.open(f"/web/orders/{number}")
    # only the form the dispatcher needs is open
    assert await page.get_attribute("#box-dispatch", "open") is not None
    for other in ("merge", "invalidate", "answer"):
        assert await page.get_attribute(f"#box-{other}", "open") is None
    assert await page.is_hidden("#form-invalidate")

    # 主办单位: typing filters the list and picks the first match; keyboard only
    await page.click("#dispatch-unit-filter")
    await page.keyboard.type("城管")
    assert await page.input_value("#dispatch-unit") == "CGJ"
    visible = await page.locator("#dispatch-unit option:not([hidden])").all_inner_texts()
    assert [t.strip() for t in visible] == ["请选择单位", "市城管局(CGJ)"]
    await page.keyboard.press("Enter")  # picks, does not post
    assert await page.evaluate("document.activeElement.id") == "dispatch-unit"
    assert await page.get_attribute("#box-dispatch", "open") is not None

    # 协办: chips under their own filter, ticked from the keyboard
    await page.fill("#form-dispatch fieldset.unit-chips input.unit-filter", "东湖")
    chips = page.locator("#dispatch-co_units label.chip-check:not([hidden])")
    assert sorted(await chips.all_inner_texts()) == ["东湖区政府", "东湖街道"]
    await page.focus("#form-dispatch fieldset.unit-chips input.unit-filter")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Space")
    await dispatcher.shot("dispatch-01-unit-picker.png")
    shutil.copyfile(SHOTS / "dispatch-01-unit-picker.png", DOCS / "web-dispatch-unit-picker.png")
    await dispatcher.submit("dispatch")
    assert "派单成功" in await dispatcher.flash()
    order = await api.order(number)
    assert (order["lead_unit"], order["co_units"]) == ("CGJ", ["DHQ"])
    assert dispatcher.errors == []


async def test_queue_ages_refreshes_and_dispatches_in_bulk(chromium, base, api, clock):  # noqa: F811
    old = (await api.register(content="路灯不亮已经一周了"))["number"]
    clock.advance(minutes=25)  # 25 of 30 minutes: yellow
    late = (await api.register(content="公交车不按站停车"))["number"]
    clock.advance(minutes=10)  # old: 35 minutes, red; late: 10 minutes, green
    fresh = (await api.register(content="新华路菜市场门口占道经营严重"))["number"]

    dispatcher = Session(chromium, base)
    page = await dispatcher.login("dispatcher", "/web/dispatch")
    assert "aging-overdue" in await page.get_attribute(f"tr:has(a:text('{old}'))", "class")
    assert "35分钟" in await page.inner_text(f"tr:has(a:text('{old}')) .waited")
    assert "aging-ok" in await page.get_attribute(f"tr:has(a:text('{late}'))", "class")
    assert "aging-ok" in await page.get_attribute(f"tr:has(a:text('{fresh}'))", "class")

    # auto-refresh: a new order appears after 60 s; not while a box is ticked
    await page.clock.install()
    await dispatcher.open("/web/dispatch")
    newer = (await api.register(content="小区电梯坏了物业不修"))["number"]
    async with page.expect_navigation():
        await page.clock.fast_forward(61_000)
    assert newer in await page.inner_text("main")
    await page.check(f"input[name=numbers][value='{old}']")
    await page.check(f"input[name=numbers][value='{late}']")
    another = (await api.register(content="工地夜间施工噪音扰民"))["number"]
    await page.clock.fast_forward(130_000)
    assert another not in await page.inner_text("main")  # the half-done choice is kept
    assert await page.is_checked(f"input[name=numbers][value='{old}']")
    assert await page.get_attribute("#auto-refresh", "data-paused") == "1"

    # 批量派单: the two ticked ones to 市城管局
    await page.fill("#bulk-form input.unit-filter", "CGJ")
    assert await page.input_value("#bulk-unit") == "CGJ"
    await dispatcher.shot("dispatch-02-queue-bulk.png")
    shutil.copyfile(SHOTS / "dispatch-02-queue-bulk.png", DOCS / "web-dispatch-queue-bulk.png")
    async with page.expect_navigation():
        await page.click("#bulk-submit")
    assert "已批量派单 2 件" in await dispatcher.flash()
    for number in (old, late):
        assert (await api.order(number))["lead_unit"] == "CGJ"
    assert (await api.order(fresh))["state"] == "registered"
    assert dispatcher.errors == []


async def test_bulk_dispatch_reports_what_it_could_not_do(browser, api, web_client):
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "invalidate", reason="骚扰电话")
    await browser.login("dispatcher")
    resp = await browser.post(
        "/web/dispatch/bulk", {"numbers": number, "unit": "CGJ"}, page="/web/dispatch"
    )
    assert resp.status == 302
    html = await (await web_client.get("/web/dispatch")).text()
    assert f"未派出:{number}" in html
