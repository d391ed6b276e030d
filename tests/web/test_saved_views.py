"""常用查询 on 工单查询 (issue 15, search part): a user saves the current filters by name,
opens them with one click, replaces and deletes them; each user sees only their own."""

from __future__ import annotations

import shutil

from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS


async def test_filters_are_saved_per_user_by_name(chromium, base, api):  # noqa: F811
    garbage = (await api.register(content="楼道垃圾无人清理"))["number"]
    noise = (await api.register(content="夜间施工噪音扰民"))["number"]
    await api.act("dispatcher", noise, "dispatch", unit="CGJ")

    sup = Session(chromium, base)
    page = await sup.login("supervisor", "/web/supervise")
    await sup.open("/web/orders")
    assert "暂无" in await page.inner_text("#saved-views")
    assert await page.locator("#form-save-view").count() == 0  # nothing to save yet
    await page.select_option("select[name=state]", "dispatched")
    async with page.expect_navigation():
        await page.click("form.filters button[type=submit]")
    await page.fill("#form-save-view input[name=name]", "已派单")
    async with page.expect_navigation():
        await page.click("#form-save-view button[type=submit]")
    assert "已保存常用查询“已派单”" in await sup.flash()

    await page.fill("input[name=q]", "垃圾")
    await page.select_option("select[name=state]", "")
    async with page.expect_navigation():
        await page.click("form.filters button[type=submit]")
    await page.fill("#form-save-view input[name=name]", "垃圾问题")
    async with page.expect_navigation():
        await page.click("#form-save-view button[type=submit]")

    await sup.open("/web/orders")
    views = page.locator("#saved-views a.chip")
    assert await views.all_inner_texts() == ["垃圾问题", "已派单"]
    async with page.expect_navigation():
        await views.filter(has_text="已派单").click()
    listed = await page.inner_text("main")
    assert noise in listed and garbage not in listed
    assert "current" in (await views.filter(has_text="已派单").get_attribute("class"))
    await sup.shot("saved-views-01.png")
    shutil.copyfile(SHOTS / "saved-views-01.png", DOCS / "web-orders-saved-views.png")
    async with page.expect_navigation():
        await views.filter(has_text="垃圾问题").click()
    listed = await page.inner_text("main")
    assert garbage in listed and noise not in listed

    # another user has none of them, and cannot delete them
    disp = Session(chromium, base)
    other = await disp.login("dispatcher", "/web/dispatch")
    await disp.open("/web/orders")
    assert await other.locator("#saved-views a.chip").count() == 0
    assert disp.errors == []

    # deleted with a confirming click
    button = page.locator("#saved-views li", has_text="垃圾问题").locator("button")
    await button.click()
    async with page.expect_navigation():
        await button.click()
    assert "已删除常用查询" in await sup.flash()
    assert await page.locator("#saved-views a.chip").all_inner_texts() == ["已派单"]
    assert sup.errors == []


async def test_saved_views_belong_to_their_user(web_client, browser):
    await browser.login("supervisor")
    resp = await browser.post(
        "/web/orders/views", {"name": "投诉", "query": "q=投诉"}, "/web/orders"
    )
    assert resp.status == 302 and resp.headers["Location"] == "/web/orders?q=%E6%8A%95%E8%AF%89"
    html = await (await web_client.get("/web/orders")).text()
    view_id = html.split('action="/web/orders/views/')[1].split("/")[0]
    resp = await browser.post("/web/orders/views", {"name": "", "query": "q=x"}, "/web/orders")
    html = await (await web_client.get(resp.headers["Location"])).text()
    assert "常用查询名称:请填写" in html
    await browser.login("dispatcher")
    resp = await browser.post(f"/web/orders/views/{view_id}/delete", {}, "/web/orders")
    assert resp.status == 404
    await browser.login("supervisor")
    assert "投诉" in await (await web_client.get("/web/orders")).text()
    resp = await browser.post(f"/web/orders/views/{view_id}/delete", {}, "/web/orders")
    assert resp.status == 302


async def test_a_broad_search_says_more_than(web_client, browser, api, monkeypatch):
    """工单查询 with more matches than the count reads: "超过 N 件" and a next page, no
    page total; a narrower one is counted exactly."""
    from dispatch import services
    from web.screens import orders

    for i in range(3):
        await api.register(content=f"路灯不亮第{i}盏")
    monkeypatch.setattr(services, "SEARCH_COUNT_CAP", 2)
    monkeypatch.setattr(orders, "PAGE_SIZE", 1)
    await browser.login("supervisor")
    html = await (await web_client.get("/web/orders?q=路灯不亮")).text()
    assert "超过 2 件" in html and "第 1 页" in html and "page=2" in html
    html = await (await web_client.get("/web/orders?q=路灯不亮&page=3")).text()
    assert "共 3 件" in html and "第 3 / 3 页" in html and "page=4" not in html
    html = await (await web_client.get("/web/orders?q=第1盏")).text()
    assert "共 1 件" in html
