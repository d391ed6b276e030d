"""本单位工单 after a new user's walk (issue 15, findings 9-12): new orders announced in
the top bar with 已读; 退单 asks before it posts; a printable 交办单; one list at a time
on a phone (待签收 / 办理中 / 已退回 / 临期超期)."""

from __future__ import annotations

import shutil

from app.keys import DISPATCH
from tests.web.conftest import CALLER_PHONE, MASKED_PHONE
from tests.web.test_browser import PHONE, SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS

CONTENT = "小区物业不作为,楼道垃圾无人清理,多次反映无果"


async def _dispatched(api, unit: str = "ZJJ") -> str:
    number = (await api.register(caller_phone=CALLER_PHONE, content=CONTENT))["number"]
    await api.act("dispatcher", number, "dispatch", unit=unit)
    return number


async def test_unread_notifications_in_the_top_bar(chromium, base, api):  # noqa: F811
    first, second = await _dispatched(api), await _dispatched(api)
    unit = Session(chromium, base)
    page = await unit.login("zjj", "/web/unit")
    assert await page.inner_text("#notice-count") == "2"
    await page.click("#notices summary")
    listed = await page.inner_text("#notice-list")
    assert first in listed and second in listed
    await unit.shot("unit-01-notices.png")
    shutil.copyfile(SHOTS / "unit-01-notices.png", DOCS / "web-unit-notices.png")
    async with page.expect_navigation():
        await page.click("#notice-list li:first-child button")  # 已读, back on this page
    assert page.url.endswith("/web/unit")
    assert await page.inner_text("#notice-count") == "1"
    mine = await api.call("GET", "/api/v1/notifications?unread=true", "zjj")
    assert len(mine["items"]) == 1
    await page.click("#notices summary")
    async with page.expect_navigation():
        await page.click("#notice-read-all")
    assert await page.inner_text("#notice-count") == "0"
    assert unit.errors == []


async def test_return_asks_before_it_is_posted(chromium, base, api):  # noqa: F811
    number = await _dispatched(api, "CGJ")
    unit = Session(chromium, base)
    page = await unit.login("cgj", "/web/unit")
    await unit.open(f"/web/orders/{number}")
    await page.click("#box-return summary")
    await page.fill("#form-return textarea[name=reason]", "不属于城管职责")
    button = page.locator("#form-return button[type=submit]")
    await button.click()
    assert "确认退单" in await button.inner_text()
    assert (await api.order(number))["state"] == "dispatched"
    await unit.shot("unit-02-return-confirm.png")
    shutil.copyfile(SHOTS / "unit-02-return-confirm.png", DOCS / "web-unit-return-confirm.png")
    async with page.expect_navigation():
        await button.click()
    assert "退单成功" in await unit.flash()
    assert (await api.order(number))["state"] == "returned"
    assert unit.errors == []


async def test_printable_order_sheet(chromium, base, api):  # noqa: F811
    number = await _dispatched(api)
    await api.act("zjj", number, "accept")
    unit = Session(chromium, base)
    page = await unit.login("zjj", "/web/unit")
    await unit.open(f"/web/orders/{number}")
    async with page.expect_navigation():
        await page.click("#print-link")
    assert page.url.endswith(f"/web/orders/{number}/print")
    sheet = await page.inner_text("#print-sheet")
    for part in (number, CONTENT, "市住建局", "签收时限", "办结时限", "登记", "派单", "签收"):
        assert part in sheet
    assert await page.inner_text("#print-phone") == MASKED_PHONE  # masked for units
    await unit.shot("unit-03-print.png")
    await page.emulate_media(media="print")
    assert await page.is_hidden("header.topbar") and await page.is_hidden("button[data-print]")
    await page.screenshot(path=str(SHOTS / "unit-04-print-media.png"), full_page=True)
    shutil.copyfile(SHOTS / "unit-04-print-media.png", DOCS / "web-order-print.png")
    # another unit cannot print it
    other = Session(chromium, base)
    page = await other.login("cgj", "/web/unit")
    await other.open(f"/web/orders/{number}/print")
    assert "页面不存在" in await page.inner_text("main")
    assert unit.errors == [] and other.errors == []


async def test_phone_shows_one_list_with_tabs(chromium, base, api, web_client, clock):  # noqa: F811
    accepted = [await _dispatched(api) for _ in range(3)]
    for number in accepted:
        await api.act("zjj", number, "accept")
    waiting = [await _dispatched(api) for _ in range(3)]
    returned = await _dispatched(api)
    await api.act("zjj", returned, "return", reason="不属于本单位职责")
    clock.advance(hours=2)
    await web_client.app[DISPATCH].scan()  # the waiting ones are near/over their accept time

    phone = Session(chromium, base, viewport=PHONE)
    page = await phone.login("zjj", "/web/unit")
    assert await page.get_attribute("#tab-accept", "aria-current") == "page"
    assert await page.is_visible("#pane-accept") and await page.is_hidden("#pane-progress")
    assert await page.inner_text("#tab-due .count") == "3"
    async with page.expect_navigation():
        await page.click("#tab-due")
    due = await page.inner_text("#pane-due")
    assert all(n in due for n in waiting) and accepted[0] not in due
    height = await page.evaluate("document.documentElement.scrollHeight")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    await phone.shot("unit-05-phone-tabs.png")
    shutil.copyfile(SHOTS / "unit-05-phone-tabs.png", DOCS / "web-unit-phone-tabs.png")
    async with page.expect_navigation():
        await page.click("#tab-returned")
    assert returned in await page.inner_text("#pane-returned")
    assert await page.is_hidden("#pane-accept")
    async with page.expect_navigation():
        await page.click("#tab-progress")
    progress = await page.inner_text("#pane-progress")
    assert all(n in progress for n in accepted) and waiting[0] not in progress

    desktop = Session(chromium, base)
    page = await desktop.login("zjj", "/web/unit")
    assert await page.is_visible("#pane-accept") and await page.is_visible("#pane-progress")
    full = await page.evaluate("document.documentElement.scrollHeight")
    assert height < 5750 and full > 0
    assert phone.errors == [] and desktop.errors == []
