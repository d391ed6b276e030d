"""单位领导 in the browser (issue 15, sub-platform/leaders part): the admin creates a unit
leader on the user screen; the leader sees the unit's and its sub-units' orders, read-only,
and the overdue/escalation notices of the ladder (unit → unit leader → supervisor)."""

from __future__ import annotations

import shutil

from app.keys import DISPATCH
from tests.conftest import ADMIN_PASSWORD, INITIAL_PASSWORD, PASSWORD
from tests.web.conftest import CALLER_PHONE, MASKED_PHONE
from tests.web.test_admin import AdminSession
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS

CONTENT = "小区物业不作为,楼道垃圾无人清理,多次反映无果"


async def test_a_unit_leader_is_created_and_follows_the_ladder(chromium, base, api, clock):  # noqa: F811
    admin = AdminSession(chromium, base)
    page = await admin.login_as("admin", ADMIN_PASSWORD, "/web/admin/units")
    page.on("pageerror", lambda exc: admin.errors.append(str(exc)))
    await admin.open("/web/admin/users")
    form = page.locator("#form-user")
    await form.locator("input[name=username]").fill("zjj_leader")
    await form.locator("input[name=display_name]").fill("住建局分管领导")
    await form.locator("input[name=password]").fill(INITIAL_PASSWORD)
    await form.locator("select[name=role]").select_option("leader")
    await form.locator("select[name=unit]").select_option("ZJJ")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    users = await api.call("GET", "/api/v1/users", "admin")
    leader = next(u for u in users["items"] if u["username"] == "zjj_leader")
    assert (leader["role"], leader["unit"]) == ("leader", "ZJJ")
    assert "单位领导" in await page.inner_text("body")
    assert admin.errors == []
    # the first login's password change (tests/web/test_admin.py walks that screen)
    await api.login("zjj_leader", INITIAL_PASSWORD)
    await api.call(
        "POST", "/api/v1/auth/password", "zjj_leader", {"old": INITIAL_PASSWORD, "new": PASSWORD}
    )

    # an order of the sub-unit 物业科 and one of 城管局; the first runs late
    mine = (await api.register(caller_phone=CALLER_PHONE, content=CONTENT))["number"]
    await api.act("dispatcher", mine, "dispatch", unit="ZJJ-WY")
    await api.act("zjj_wy", mine, "accept")
    other = (await api.register(content="占道经营,夜市噪音扰民"))["number"]
    await api.act("dispatcher", other, "dispatch", unit="CGJ")
    clock.advance(days=30)
    assert (mine, "overdue") in await api.client.app[DISPATCH].scan()

    boss = Session(chromium, base)
    page = await boss.login("zjj_leader", "/web/unit")
    assert "本单位工单" in await page.inner_text("h1")
    listed = await page.inner_text("main")
    assert mine in listed and other not in listed
    assert int(await page.inner_text("#notice-count")) >= 1
    await page.click("#notices summary")
    notices = await page.inner_text("#notice-list")
    assert mine in notices and "超期" in notices
    await boss.shot("leader-01-unit.png")
    shutil.copyfile(SHOTS / "leader-01-unit.png", DOCS / "web-leader-unit.png")

    await boss.open(f"/web/orders/{mine}")
    assert "当前状态下您没有可执行的操作" in await page.inner_text("#actions")
    assert await page.inner_text("#caller-phone") == MASKED_PHONE
    resp = await page.goto(f"{base}/web/orders/{other}")
    assert resp.status == 404
    assert boss.errors == []
