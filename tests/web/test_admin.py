"""系统管理 screens (issue 5): units, users, hotlines, catalogue, calendar, thresholds.

The HTTP tests submit the forms as a browser does (session cookie + CSRF token) against
the real app and database and check the result through the JSON API; the browser test
drives the same screens in headless Chromium and photographs each one
(test-output/screenshots/3*.png; docs/screenshots/web-admin-*.png are copies).
"""

from __future__ import annotations

import json
import shutil

from app.keys import SETTINGS, SUGGESTER
from tests.api.conftest import Api
from tests.conftest import ADMIN_PASSWORD, INITIAL_PASSWORD, PASSWORD
from tests.web.conftest import TRAINING, Browser, build_app, seed_web
from tests.web.test_browser import PHONE, Session, base, chromium  # noqa: F401


class AdminSession(Session):
    async def login_as(self, username: str, password: str, home: str):
        """`Session.login` with another password (the admin's)."""
        context = await self.browser.new_context(viewport=self.viewport, locale="zh-CN")
        self.page = page = await context.new_page()
        await page.goto(self.base + "/login")
        await page.fill("input[name=username]", username)
        await page.fill("input[name=password]", password)
        await page.click("button[type=submit]:has-text('登录')")
        await page.wait_for_url(self.base + home)
        return page


async def _admin(browser):
    resp = await browser.login("admin", ADMIN_PASSWORD)
    assert resp.headers["Location"] == "/web/admin/units"


async def _units(api) -> dict[str, dict]:
    return {u["code"]: u for u in (await api.call("GET", "/api/v1/units", "admin"))["items"]}


async def _users(api) -> dict[str, dict]:
    return {u["username"]: u for u in (await api.call("GET", "/api/v1/users", "admin"))["items"]}


async def test_only_the_admin_opens_the_admin_screens(web_client, browser):
    await _admin(browser)
    for path in (
        "/web/admin/units",
        "/web/admin/users",
        "/web/admin/hotlines",
        "/web/admin/catalogue",
        "/web/admin/calendar",
        "/web/admin/thresholds",
        "/web/admin/model",
    ):
        resp = await web_client.get(path)
        assert resp.status == 200, path
        assert 'href="/web/admin/users"' in await resp.text()  # the admin's navigation
    await browser.login("supervisor")
    resp = await web_client.get("/web/admin/users")
    assert resp.status == 403 and "无权访问" in await resp.text()
    resp = await web_client.post("/web/admin/units", data={"code": "X", "name": "X"})
    assert resp.status == 403  # no CSRF token: refused before the role is even looked at


async def test_units_are_created_edited_and_deactivated(web_client, browser, api):
    await _admin(browser)
    page = "/web/admin/units"
    resp = await browser.post(page, {"code": "ZJJ-JG", "name": "建筑市场监管科", "parent": "ZJJ"})
    assert resp.status == 302
    units = await _units(api)
    assert units["ZJJ-JG"]["parent"] == "ZJJ" and units["ZJJ-JG"]["level"] == 2
    html = await (await web_client.get(page)).text()
    assert "已新增三级单位:建筑市场监管科(ZJJ-JG)" in html
    # the tree: sub-units right below their parent, marked 三级
    table = html[html.index('id="units"') :]
    assert table.index("市城管局") < table.index("市住建局") < table.index("建筑市场监管科")
    row = table[table.index('id="unit-ZJJ-JG"') :]
    assert "三级" in row[: row.index("</tr>")]
    assert table.index("建筑市场监管科") < table.index("市住建局物业科")

    edit = {"name": "住建局建筑市场科", "email": "jzsc@zjj.example.cn"}
    resp = await browser.post(f"{page}/ZJJ-JG", edit, page)
    assert resp.status == 302
    unit = (await _units(api))["ZJJ-JG"]
    assert (unit["name"], unit["email"]) == (edit["name"], edit["email"])
    resp = await browser.post(f"{page}/ZJJ-JG", {"name": ""}, page)
    assert "名称:缺少必填字段" in await (await web_client.get(page)).text()

    # a parent with an active sub-unit cannot be switched off first
    await browser.post(f"{page}/ZJJ/active", {"active": "0"}, page)
    html = await (await web_client.get(page)).text()
    assert "请先停用该单位的下级单位" in html
    assert (await _units(api))["ZJJ"]["active"] is True
    await browser.post(f"{page}/ZJJ-JG/active", {"active": "0"}, page)
    assert (await _units(api))["ZJJ-JG"]["active"] is False
    # an inactive unit gets no orders
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", expect=400, unit="ZJJ-JG")


async def test_bad_unit_input_is_refused_in_chinese(web_client, browser, api):
    await _admin(browser)
    page = "/web/admin/units"
    resp = await browser.post(page, {"code": "有空 格", "name": ""})
    html = await resp.text()
    assert resp.status == 400
    assert "编码:格式不正确" in html and "名称:缺少必填字段" in html
    assert 'value="有空 格"' in html  # the input is kept
    resp = await browser.post(page, {"code": "ZJJ", "name": "重复"})
    assert resp.status == 409 and "单位编码已存在: ZJJ" in await resp.text()
    resp = await browser.post(page, {"code": "NEW", "name": "新单位", "parent": "NOPE"})
    assert resp.status == 400 and "未知上级单位: NOPE" in await resp.text()
    resp = await browser.post(f"{page}/NOPE", {"name": "x"}, page)
    assert resp.status == 302
    assert "未知单位: NOPE" in await (await web_client.get(page)).text()
    assert "NEW" not in await _units(api)


async def test_users_are_created_reset_and_deactivated(web_client, browser, api):
    await _admin(browser)
    page = "/web/admin/users"
    form = {
        "username": "zjj_new",
        "display_name": "新承办人",
        "password": "Short1",
        "role": "unit",
        "unit": "ZJJ",
    }
    resp = await browser.post(page, form)
    assert resp.status == 400 and "密码至少12位" in await resp.text()
    resp = await browser.post(page, {**form, "unit": "", "password": PASSWORD})
    assert resp.status == 400 and "承办人员必须指定所属单位" in await resp.text()
    resp = await browser.post(page, {**form, "username": "带空格 的名字", "role": "boss"})
    html = await resp.text()
    assert resp.status == 400 and "用户名:格式不正确" in html and "角色:取值不在允许范围内" in html
    resp = await browser.post(page, {**form, "username": "agent", "password": PASSWORD})
    assert resp.status == 409 and "用户名已存在: agent" in await resp.text()

    resp = await browser.post(page, {**form, "password": PASSWORD})
    assert resp.status == 302
    user = (await _users(api))["zjj_new"]
    assert (user["role"], user["unit"], user["display_name"]) == ("unit", "ZJJ", "新承办人")

    # 重置密码: the old password stops working, the new one works
    await browser.post(f"{page}/zjj_new/password", {"password": "Renewed-Tulip-Canal"}, page)
    await browser.login("zjj_new", PASSWORD, expect=401)
    resp = await browser.login("zjj_new", "Renewed-Tulip-Canal")
    assert resp.headers["Location"] == "/web/password"  # an admin set it: changed first
    change = {"old": "Renewed-Tulip-Canal", "new": PASSWORD, "confirm": PASSWORD}
    resp = await browser.post("/web/password", change, "/web/password")
    assert resp.headers["Location"] == "/web/unit"

    # 停用: the user's web session ends at once and the login is refused
    name = web_client.app[SETTINGS].web.cookie_name
    user_cookie = {c.key: c.value for c in web_client.session.cookie_jar if c.key == name}
    assert (await web_client.get("/web/unit", cookies=user_cookie)).status == 200
    await _admin(browser)
    await browser.post(f"{page}/zjj_new/active", {"active": "0"}, page)
    assert (await _users(api))["zjj_new"]["active"] is False
    resp = await web_client.get("/web/unit", cookies=user_cookie, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")
    await browser.login("zjj_new", PASSWORD, expect=401)

    # the admin cannot lock themself out
    await _admin(browser)
    await browser.post(f"{page}/admin/active", {"active": "0"}, page)
    assert "不能停用当前登录的账号" in await (await web_client.get(page)).text()
    assert (await _users(api))["admin"]["active"] is True


async def test_a_sub_platform_manager_is_created_with_its_hotline(web_client, browser, api):
    await _admin(browser)
    form = {"username": "aq_sup", "password": PASSWORD, "role": "supervisor"}
    resp = await browser.post("/web/admin/users", {**form, "hotlines": "99999"})
    assert resp.status == 400 and "未知热线: 99999" in await resp.text()
    await browser.post("/web/admin/users", {**form, "hotlines": "12350"})
    assert (await _users(api))["aq_sup"]["hotlines"] == ["12350"]
    html = await (await web_client.get("/web/admin/hotlines")).text()
    assert "分平台独立办理" in html and "只用于初始化新数据库" in html
    row = html[html.index('id="hotline-12350"') :]
    assert "aq_sup" in row[: row.index("</tr>")]


async def test_a_hotline_is_edited_on_its_screen_and_the_change_listed(web_client, browser, api):
    await _admin(browser)
    page = "/web/admin/hotlines"
    form = {"name": "12358价格热线", "mode": "external", "handoff_unit": ""}
    resp = await browser.post(f"{page}/12358", form, page)
    assert resp.status == 302
    html = await (await web_client.get(page)).text()
    assert "须指定移交单位" in html  # flashed; nothing changed
    assert (await api.call("GET", "/api/v1/hotlines/12358/history", "admin"))["items"] == []
    resp = await browser.post(f"{page}/12358", {**form, "handoff_unit": "CGJ"}, page)
    assert resp.status == 302
    hotlines = {
        h["number"]: h for h in (await api.call("GET", "/api/v1/hotlines", "admin"))["items"]
    }
    assert (hotlines["12358"]["name"], hotlines["12358"]["handoff_unit"]) == (
        "12358价格热线",
        "CGJ",
    )
    html = await (await web_client.get(page)).text()
    changes = html[html.index('id="hotline-changes"') :]
    assert "12358价格热线" in changes and "admin" in changes and "CGJ" in changes


async def test_dead_letters_are_listed_and_resent_on_the_outbox_screen(web_client, browser, api):
    from sqlalchemy import update

    from app.db import unit_of_work
    from app.keys import SESSIONS
    from integrations.outbox import OutboxMessage

    hook = {"url": "http://127.0.0.1:9/hook", "secret": "x" * 16, "events": ["order.*"]}
    await api.call("POST", "/api/v1/webhooks", "admin", hook, expect=201)
    await api.register()
    async with unit_of_work(web_client.app[SESSIONS]) as session:
        await session.execute(
            update(OutboxMessage).values(status="dead", attempts=8, last_error="HTTP 503")
        )
    await _admin(browser)
    page = "/web/admin/outbox"
    html = await (await web_client.get(page)).text()
    row = html[html.index('id="message-1"') :]
    assert "order.registered" in row and "HTTP 503" in row and "重发" in row
    resp = await browser.post(f"{page}/1/resend", {}, page)
    assert resp.status == 302
    html = await (await web_client.get(page)).text()
    assert "已重新排队发送" in html and 'id="message-1"' not in html
    pending = await api.call("GET", "/api/v1/outbox?status=pending", "admin")
    assert [m["id"] for m in pending["items"]] == [1]
    resp = await browser.post(f"{page}/1/resend", {}, page)  # no longer dead: flashed
    assert "只有发送失败" in await (await web_client.get(page)).text()


async def test_a_user_is_edited_into_a_sub_platform_manager(web_client, browser, api):
    await _admin(browser)
    page = "/web/admin/users/dispatcher"
    html = await (await web_client.get(page)).text()
    assert 'value="dispatcher" selected' in html  # the form shows the current values
    resp = await browser.post(page, {"role": "unit"}, page)
    assert resp.status == 400 and "承办人员必须指定所属单位" in await resp.text()
    resp = await browser.post(page, {"role": "dispatcher", "hotlines": "99999"}, page)
    assert resp.status == 400 and "未知热线: 99999" in await resp.text()
    resp = await browser.post(
        page, {"role": "dispatcher", "hotlines": "12350", "display_name": "安全派单员"}, page
    )
    assert resp.status == 302
    user = (await _users(api))["dispatcher"]
    assert (user["hotlines"], user["display_name"]) == (["12350"], "安全派单员")
    # the change holds from the user's next request: the screens are scoped now
    await browser.login("dispatcher")
    html = await (await web_client.get("/web/dispatch")).text()
    assert "12350安全生产举报热线 分平台" in html
    # the admin cannot change their own role, and an unknown user is a 404 page
    await _admin(browser)
    resp = await browser.post("/web/admin/users/admin", {"role": "agent"}, page)
    assert resp.status == 400 and "不能修改当前登录账号的角色" in await resp.text()
    assert (await web_client.get("/web/admin/users/nobody")).status == 404


async def test_catalogue_entries_and_their_default_units(web_client, browser, api):
    await _admin(browser)
    page = "/web/admin/catalogue"
    resp = await browser.post(page, {"code": "CJ.WY", "name": "物业管理", "parent": "CJ"})
    assert resp.status == 302
    edit = {"name": "物业服务", "default_unit": "ZJJ-WY"}
    resp = await browser.post(f"{page}/CJ.WY", edit, page)
    assert resp.status == 302
    cats = {c["code"]: c for c in (await api.call("GET", "/api/v1/categories", "admin"))["items"]}
    got = cats["CJ.WY"]
    assert (got["parent"], got["name"], got["default_unit"]) == ("CJ", "物业服务", "ZJJ-WY")
    await browser.post(f"{page}/CJ.WY", {"name": "物业服务", "default_unit": ""}, page)
    cats = {c["code"]: c for c in (await api.call("GET", "/api/v1/categories", "admin"))["items"]}
    assert cats["CJ.WY"]["default_unit"] is None
    await browser.post(f"{page}/CJ.WY", {"name": "x", "default_unit": "NOPE"}, page)
    assert "未知单位: NOPE" in await (await web_client.get(page)).text()
    resp = await browser.post(page, {"code": "X", "name": "x", "parent": "NOPE"})
    assert resp.status == 400 and "未知上级分类: NOPE" in await resp.text()
    resp = await browser.post(page, {"code": "CJ", "name": "重复"})
    assert resp.status == 409 and "分类编码已存在: CJ" in await resp.text()


async def test_calendar_overrides_are_added_and_removed(web_client, browser, api):
    await _admin(browser)
    page = "/web/admin/calendar"
    query = "/api/v1/calendar?from=2026-12-05&to=2026-12-05"
    before = (await api.call("GET", query, "admin"))["items"][0]
    assert before["working"] is False  # a Saturday
    resp = await browser.post(page, {"day": "2026-12-05", "working": "1", "note": "补班"})
    assert resp.status == 302 and resp.headers["Location"] == f"{page}?year=2026"
    day = (await api.call("GET", query, "admin"))["items"][0]
    assert day["working"] is True and day["override"] is True
    html = await (await web_client.get(f"{page}?year=2026")).text()
    assert 'id="day-2026-12-05"' in html and "补班" in html
    assert "2026-10-01 周四 放假" in html  # the statutory holidays are listed

    resp = await browser.post(f"{page}/2026-12-05/delete", {}, page)
    assert resp.status == 302
    assert (await api.call("GET", query, "admin"))["items"][0]["working"] is False

    resp = await browser.post(page, {"day": "2026-13-01", "working": "1"})
    assert resp.status == 400 and "日期:格式应为 YYYY-MM-DD" in await resp.text()
    resp = await browser.post(page, {"day": "2026-12-07", "note": "x" * 201})
    html = await resp.text()
    assert resp.status == 400 and "类型:缺少必填字段" in html and "说明:内容过长" in html
    # a year without official data is flagged, not silently treated as weekdays
    html = await (await web_client.get(f"{page}?year=2099")).text()
    assert "尚未发布" in html


async def test_thresholds_show_the_effective_values_and_their_keys(web_client, browser):
    await _admin(browser)
    html = await (await web_client.get("/web/admin/thresholds")).text()
    for text in (
        "deadlines.warning_ratio",
        "75%",
        "deadlines.finish_working_days.complaint",
        "kpi.three_rate_weights.resolution",
        "修改后重启服务生效",
    ):
        assert text in html


JUNK = [
    {},
    {"code": "x" * 5000, "name": "名" * 5000, "parent": "../../etc", "email": "@" * 300},
    {"username": "a", "password": "p" * 300, "role": "root", "unit": "?", "hotlines": "1" * 50},
    {"day": "0000-00-00", "working": "maybe", "note": "\u202e" * 10, "default_unit": "x" * 50},
    {"active": "yes", "name": "", "role": "system", "display_name": "x" * 61},
    # PostgreSQL text cannot hold NUL: refused as input, never a database error
    {"code": "A\x00B", "name": "单\x00位", "username": "u\x00", "password": "Passw0rd\x00!"},
    {"note": "\x00", "day": "2026-12-01", "working": "1", "role": "agent", "email": "\x00"},
]


async def test_no_admin_form_answers_500_to_junk_sqlite_and_postgresql(
    aiohttp_client, any_db_url, clock, category_model
):
    web_client = await aiohttp_client(build_app(any_db_url, clock, category_model))
    await seed_web(Api(web_client))
    browser = Browser(web_client)
    await _admin(browser)
    posts = [
        "/web/admin/units",
        "/web/admin/units/ZJJ",
        "/web/admin/units/ZJJ/active",
        "/web/admin/units/NOPE/active",
        "/web/admin/users",
        "/web/admin/users/agent",
        "/web/admin/users/agent/password",
        "/web/admin/users/agent/active",
        "/web/admin/users/nobody/password",
        "/web/admin/catalogue",
        "/web/admin/catalogue/CJ",
        "/web/admin/calendar",
        "/web/admin/calendar/2026-02-30/delete",
        "/web/admin/calendar/99999999/delete",
        "/web/admin/hotlines/12345",
        "/web/admin/hotlines/99999",
        "/web/admin/outbox/1/resend",
    ]
    for path in posts:
        for junk in JUNK:
            resp = await browser.post(path, junk, "/web/admin/units")
            body = await resp.text()
            assert resp.status in (302, 400, 404, 409), (path, junk, resp.status)
            assert "Traceback" not in body
    for query in ("year=abc", "year=99999", "year=-1", "year=2026&year=x"):
        assert (await web_client.get(f"/web/admin/calendar?{query}")).status == 200
    pages = ("units", "users", "users/agent", "hotlines", "catalogue", "thresholds", "model")
    for page in (*pages, "outbox", "outbox?status=sent&page=x", "outbox?status=nope"):
        assert (await web_client.get(f"/web/admin/{page}")).status == 200, page
    resp = await web_client.get("/web/orders?q=%00")  # any web page, not only the admin's
    assert resp.status == 400 and "非法字符(NUL)" in await resp.text()
    await browser.login("supervisor")  # and the ranking's SQL on this database
    assert (await web_client.get("/web/supervise/ranking")).status == 200


async def test_the_model_is_retrained_from_the_admin_screen(
    aiohttp_client, sqlite_url, clock, category_model, tmp_path
):
    model = tmp_path / "model"  # a copy: the session's model stays as it is
    shutil.copytree(category_model, model)
    data = tmp_path / "base.jsonl"
    lines = [{"text": t, "label": label} for label, texts in TRAINING.items() for t in texts]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), "utf-8")
    app = build_app(sqlite_url, clock, model)
    app[SETTINGS].classifiers.base_training_data = str(data)
    client = await aiohttp_client(app)
    await seed_web(Api(client))
    browser = Browser(client)
    before = app[SUGGESTER].model_version
    await _admin(browser)
    html = await (await client.get("/web/admin/model")).text()
    assert before in html and "重新训练" in html
    resp = await browser.post("/web/admin/model/retrain", {}, "/web/admin/model")
    assert resp.status == 302
    after = app[SUGGESTER].model_version
    assert after != before
    html = await (await client.get("/web/admin/model")).text()
    assert f"模型已重新训练并启用:版本 {after},样本 {len(lines)} 条" in html
    await browser.login("dispatcher")
    assert (await client.get("/web/admin/model")).status == 403
    resp = await browser.post("/web/admin/model/retrain", {}, "/web/dispatch")
    assert resp.status == 403 and app[SUGGESTER].model_version == after


async def test_admin_screens_in_the_browser(chromium, base, api):  # noqa: F811
    admin = AdminSession(chromium, base)
    page = await admin.login_as("admin", ADMIN_PASSWORD, "/web/admin/units")
    await admin.shot("30-admin-units.png")

    # a new 三级 unit under 市城管局
    await page.fill("#form-unit input[name=code]", "CGJ-SR")
    await page.fill("#form-unit input[name=name]", "市容环卫科")
    await page.select_option("#form-unit select[name=parent]", "CGJ")
    await admin.submit("unit")
    assert "已新增三级单位:市容环卫科(CGJ-SR)" in await admin.flash()
    assert "三级" in await page.inner_text("#unit-CGJ-SR")

    # bad input: a Chinese message, the input kept
    await page.fill("#form-unit input[name=code]", "CGJ-SR")
    await page.fill("#form-unit input[name=name]", "重复的单位")
    await admin.submit("unit")
    assert "单位编码已存在" in await page.inner_text("#form-error")
    assert await page.input_value("#form-unit input[name=name]") == "重复的单位"
    await admin.shot("31-admin-unit-error.png")

    # a user of the new unit
    await admin.open("/web/admin/users")
    await page.fill("#form-user input[name=username]", "cgj_sr")
    await page.fill("#form-user input[name=display_name]", "环卫科承办人")
    await page.fill("#form-user input[name=password]", INITIAL_PASSWORD)
    await page.select_option("#form-user select[name=role]", "unit")
    await page.select_option("#form-user select[name=unit]", "CGJ-SR")
    await admin.submit("user")
    assert "已新增用户 cgj_sr(承办人员)" in await admin.flash()
    await admin.shot("32-admin-users.png")

    # a calendar override, then the other admin screens
    await admin.open("/web/admin/calendar?year=2026")
    await page.fill("#form-day input[name=day]", "2026-12-12")
    await page.check("#form-day input[name=working][value='1']")
    await page.fill("#form-day input[name=note]", "全市统一补班")
    await admin.submit("day")
    assert "2026-12-12 已设为工作日" in await admin.flash()
    assert "全市统一补班" in await page.inner_text("#day-2026-12-12")
    await admin.shot("33-admin-calendar.png")
    for path, name in (
        ("/web/admin/hotlines", "34-admin-hotlines.png"),
        ("/web/admin/catalogue", "35-admin-catalogue.png"),
        ("/web/admin/thresholds", "36-admin-thresholds.png"),
        ("/web/admin/model", "39-admin-model.png"),
    ):
        await admin.open(path)
        await admin.shot(name)

    # the new user logs in, must first replace the admin's password, then lands on the
    # unit inbox of the new unit
    person = AdminSession(chromium, base)
    page = await person.login_as("cgj_sr", INITIAL_PASSWORD, "/web/password")
    await person.shot("37-new-user-password.png")
    await page.fill("input[name=old]", INITIAL_PASSWORD)
    await page.fill("input[name=new]", PASSWORD)
    await page.fill("input[name=confirm]", PASSWORD)
    await page.click("button[type=submit]:has-text('修改密码')")
    await page.wait_for_url(base + "/web/unit")
    assert "市容环卫科" in await page.inner_text(".who")
    await person.shot("37-new-user-home.png")

    # every admin screen fits a phone (tables become stacked cards)
    phone = AdminSession(chromium, base, viewport=PHONE)
    page = await phone.login_as("admin", ADMIN_PASSWORD, "/web/admin/units")
    for path in ("units", "users", "hotlines", "catalogue", "calendar", "thresholds"):
        await phone.open(f"/web/admin/{path}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"/web/admin/{path} scrolls sideways ({width}px)"
    await phone.shot("38-phone-admin-thresholds.png")
