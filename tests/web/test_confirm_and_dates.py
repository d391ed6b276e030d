"""Issue 15 (a new user's walk): 停用 of users and units asks for a second click before
anything is posted; the dashboard's date inputs are one line tall, not 130 px."""

from __future__ import annotations

import shutil

from tests.conftest import ADMIN_PASSWORD
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS


async def _admin(chromium, base) -> Session:  # noqa: F811
    person = Session(chromium, base)
    context = await chromium.new_context(viewport=person.viewport, locale="zh-CN")
    person.page = page = await context.new_page()
    page.on("pageerror", lambda exc: person.errors.append(str(exc)))
    await page.goto(base + "/login")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button[type=submit]:has-text('登录')")
    await page.wait_for_url(base + "/web/admin/units")
    return person


async def _users(api) -> dict:
    return {u["username"]: u for u in (await api.call("GET", "/api/v1/users", "admin"))["items"]}


async def test_deactivating_a_user_or_a_unit_needs_a_second_click(chromium, base, api):  # noqa: F811
    admin = await _admin(chromium, base)
    page = admin.page
    await admin.open("/web/admin/users")
    button = page.locator("form[action='/web/admin/users/zjj/active'] button")
    assert await button.inner_text() == "停用"
    await button.click()  # the first click only asks
    assert "确认停用 zjj" in await button.inner_text()
    assert (await _users(api))["zjj"]["active"] is True
    await admin.shot("confirm-01-admin-user.png")
    shutil.copyfile(SHOTS / "confirm-01-admin-user.png", DOCS / "web-admin-confirm.png")
    async with page.expect_navigation():
        await button.click()
    assert (await _users(api))["zjj"]["active"] is False

    await admin.open("/web/admin/units")
    button = page.locator("form[action='/web/admin/units/CGJ/active'] button")
    await button.click()
    assert "确认停用市城管局" in await button.inner_text()
    units = {u["code"]: u for u in (await api.call("GET", "/api/v1/units", "admin"))["items"]}
    assert units["CGJ"]["active"] is True
    async with page.expect_navigation():
        await button.click()
    units = {u["code"]: u for u in (await api.call("GET", "/api/v1/units", "admin"))["items"]}
    assert units["CGJ"]["active"] is False
    # 启用 again needs no confirmation
    async with page.expect_navigation():
        await page.click("form[action='/web/admin/units/CGJ/active'] button")
    assert admin.errors == []


async def test_dashboard_date_inputs_are_one_line_tall(chromium, base):  # noqa: F811
    supervisor = Session(chromium, base)
    page = await supervisor.login("supervisor", "/web/supervise")
    await supervisor.open("/web/dashboard")
    for name in ("from", "to"):
        box = await page.locator(f"#period input[name={name}]").bounding_box()
        assert box["height"] < 50, f"date input {name} is {box['height']}px tall"
    await supervisor.shot("dashboard-period.png")
    assert supervisor.errors == []
