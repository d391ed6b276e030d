"""The web doors leave the same audit lines as the API; the admin searches them."""

from __future__ import annotations

from tests.api.test_audit import last, lines
from tests.conftest import ADMIN_PASSWORD


async def test_web_login_logout_and_failure(web_client, browser, api):
    await browser.login("agent")
    line = await last(api, "login", subject="agent")
    assert (line["subject"], line["result"]) == ("agent", "success")
    token = await browser.csrf("/logout")
    resp = await web_client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 302
    line = await last(api, "logout")
    assert (line["subject"], line["role"]) == ("agent", "agent")
    await browser.login("agent", "Wrong-Password-123", expect=401)
    line = await last(api, "login", subject="agent")
    assert (line["subject"], line["result"]) == ("agent", "failure")


async def test_role_unit_and_scope_changes_are_audited(web_client, browser, api):
    await browser.login("admin", ADMIN_PASSWORD)
    page = "/web/admin/users/dispatcher"
    resp = await browser.post(page, {"role": "unit", "unit": "CGJ"}, page)
    assert resp.status == 302
    line = await last(api, "user.update")
    assert (line["object"], line["subject"], line["result"]) == ("dispatcher", "admin", "success")
    assert line["detail"]["changes"] == {"role": ["dispatcher", "unit"], "unit": [None, "CGJ"]}
    resp = await browser.post(page, {"role": "unit", "hotlines": "99999"}, page)
    assert resp.status == 400
    line = await last(api, "user.update")
    assert (line["result"], line["detail"]["error"]) == ("failure", "unit_required")
    await browser.post(f"{page}/active", {"active": "0"}, page)
    line = await last(api, "user.active")
    assert (line["object"], line["detail"]) == ("dispatcher", {"active": False})
    await browser.post(f"{page}/password", {"password": "Velvet-Canyon-Ember-4"}, page)
    assert (await last(api, "password.reset"))["object"] == "dispatcher"


async def test_calendar_changes_from_the_admin_screen(web_client, browser, api):
    await browser.login("admin", ADMIN_PASSWORD)
    page = "/web/admin/calendar"
    await browser.post(page, {"day": "2026-12-05", "working": "1", "note": "补班"})
    line = await last(api, "calendar")
    assert (line["object"], line["detail"]["working"]) == ("2026-12-05", True)
    await browser.post(f"{page}/2026-12-05/delete", {}, page)
    line = await last(api, "calendar")
    assert line["detail"] == {"action": "clear", "before": {"working": True, "note": "补班"}}


async def test_audit_screen_searches_and_pages(web_client, browser, api):
    await browser.login("zjj")
    assert (await web_client.get("/web/admin/audit")).status == 403
    await browser.login("admin", ADMIN_PASSWORD)
    total = len(await lines(api))
    html = await (await web_client.get("/web/admin/audit")).text()
    assert 'id="audit"' in html and "安全审计" in html
    assert f"共 {total} 条" in html
    html = await (await web_client.get("/web/admin/audit?type=login&result=failure")).text()
    assert "共 0 条" in html  # no failed login so far
    html = await (await web_client.get("/web/admin/audit?subject=zjj&type=login")).text()
    assert "共 2 条" in html and "zjj(unit)" in html
    resp = await web_client.get("/web/admin/audit?from=2026-11-30&to=2026-11-01")
    assert resp.status == 400 and "起止日期有误" in await resp.text()
    resp = await web_client.get("/web/admin/audit?page=2&type=login")  # past the last page
    assert resp.status == 200 and "没有符合条件的记录" in await resp.text()
