"""The web interface without a browser: CSRF, logins, role screens, scope, masking, errors."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from app.keys import DISPATCH
from tests.api.conftest import Api
from tests.conftest import PASSWORD
from tests.web.conftest import (
    CALLER_PHONE,
    KB_ENTRY,
    MASKED_PHONE,
    Browser,
    build_app,
    seed_web,
)


async def _order(api, **fields) -> str:
    order = await api.register(caller_phone=CALLER_PHONE, **fields)
    return order["number"]


async def test_login_form_has_the_contract_fields(web_client):
    resp = await web_client.get("/login")
    html = await resp.text()
    assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
    for field in ('name="username"', 'name="password"', 'type="hidden" name="csrf_token"'):
        assert field in html
    assert "用户登录" in html
    assert resp.headers["X-Frame-Options"] == "DENY"


async def test_a_post_without_the_csrf_token_is_refused(web_client, browser):
    resp = await web_client.post(
        "/login", data={"username": "agent", "password": "x"}, allow_redirects=False
    )
    assert resp.status == 403
    assert "安全校验失败" in await resp.text()
    await browser.csrf()  # a session with a token: a wrong token is refused too
    resp = await web_client.post(
        "/login",
        data={"username": "agent", "password": "x", "csrf_token": "forged"},
        allow_redirects=False,
    )
    assert resp.status == 403


async def test_wrong_password_shows_a_chinese_message(browser):
    resp = await browser.login("agent", "wrong-password", expect=401)
    html = await resp.text()
    assert "用户名或密码错误" in html and 'value="agent"' in html


@pytest.mark.parametrize(
    ("username", "home", "heading"),
    [
        ("agent", "/web/agent", "坐席工作台"),
        ("dispatcher", "/web/dispatch", "派单队列"),
        ("zjj", "/web/unit", "本单位工单"),
        ("supervisor", "/web/supervise", "督办"),
        ("inspector", "/web/inspector", "问题上报"),
    ],
)
async def test_each_role_lands_on_its_home_screen(web_client, browser, username, home, heading):
    resp = await browser.login(username)
    assert resp.headers["Location"] == home
    page = await web_client.get(home)
    assert page.status == 200 and heading in await page.text()
    root = await web_client.get("/", allow_redirects=False)
    assert root.headers["Location"] == home


async def test_anonymous_users_are_sent_to_login_and_back(web_client, browser):
    resp = await web_client.get("/web/dispatch", allow_redirects=False)
    assert resp.status == 302
    assert unquote(resp.headers["Location"]) == "/login?next=/web/dispatch"
    token = await browser.csrf("/login?next=%2Fweb%2Fdispatch")
    resp = await web_client.post(
        "/login",
        data={
            "username": "dispatcher",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/web/dispatch",
        },
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/web/dispatch"


async def test_open_redirects_are_ignored(web_client, browser):
    token = await browser.csrf()
    resp = await web_client.post(
        "/login",
        data={
            "username": "agent",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        allow_redirects=False,
    )
    assert resp.headers["Location"] == "/web/agent"


async def test_another_roles_screen_is_a_403_page(web_client, browser):
    await browser.login("agent")
    resp = await web_client.get("/web/dispatch")
    assert resp.status == 403 and "无权访问" in await resp.text()


async def test_phones_are_masked_exactly_like_the_api(web_client, browser, api):
    number = await _order(api)
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await browser.login("zjj")
    inbox = await (await web_client.get("/web/unit")).text()
    detail = await (await web_client.get(f"/web/orders/{number}")).text()
    for html in (inbox, detail):
        assert MASKED_PHONE in html and CALLER_PHONE not in html
    assert (await api.order(number, "zjj"))["caller_phone"] == MASKED_PHONE
    await browser.login("dispatcher")
    detail = await (await web_client.get(f"/web/orders/{number}")).text()
    assert CALLER_PHONE in detail


async def test_confidential_callers_are_hidden_from_units(web_client, browser, api):
    number = await _order(api, confidential=True)
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await browser.login("zjj_wy")  # a sub-unit sees the lead's order? no: scope is downwards
    assert (await web_client.get(f"/web/orders/{number}")).status == 404
    await browser.login("zjj")
    html = await (await web_client.get(f"/web/orders/{number}")).text()
    assert "保密" in html and "王先生" not in html and "8000" not in html


async def test_another_units_order_is_a_404_page(web_client, browser, api):
    number = await _order(api)
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await browser.login("cgj")
    resp = await web_client.get(f"/web/orders/{number}")
    html = await resp.text()
    assert resp.status == 404 and "页面不存在" in html and number not in html.split("<main>")[1]
    resp = await browser.post(f"/web/orders/{number}/accept", {}, page="/web/unit")
    assert resp.status == 404
    assert (await api.order(number))["state"] == "dispatched"


async def test_an_action_with_a_forged_token_changes_nothing(web_client, browser, api):
    number = await _order(api)
    await browser.login("dispatcher")
    resp = await web_client.post(
        f"/web/orders/{number}/dispatch",
        data={"unit": "ZJJ", "csrf_token": "forged"},
        allow_redirects=False,
    )
    assert resp.status == 403
    assert (await api.order(number))["state"] == "registered"


async def test_actions_through_forms(web_client, browser, api):
    number = await _order(api)
    await browser.login("dispatcher")
    resp = await browser.post(f"/web/orders/{number}/dispatch", {"unit": "ZJJ"})
    assert resp.status == 302 and resp.headers["Location"] == "/web/dispatch"
    queue = await (await web_client.get("/web/dispatch")).text()
    assert f"工单 {number}:派单成功" in queue

    await browser.login("zjj")
    resp = await browser.post(f"/web/orders/{number}/return", {"reason": "  "})
    assert resp.headers["Location"] == f"/web/orders/{number}"
    page = await (await web_client.get(f"/web/orders/{number}")).text()
    assert "退单未成功:理由:缺少必填字段" in page
    resp = await browser.post(f"/web/orders/{number}/reply", {"text": "已处理"})
    page = await (await web_client.get(f"/web/orders/{number}")).text()
    assert "答复未成功" in page and "不能执行" in page  # not accepted yet
    await browser.post(f"/web/orders/{number}/accept", {})
    await browser.post(f"/web/orders/{number}/reply", {"text": "已安排保洁清理楼道。"})
    assert (await api.order(number))["state"] == "replied"


async def test_agent_registers_and_answers_from_the_kb(web_client, browser, api):
    await browser.login("agent")
    form = {
        "hotline": "12345",
        "channel": "phone",
        "caller_phone": CALLER_PHONE,
        "content": "我租房子住,想把公积金取出来怎么办",
        "type": "consultation",
        "urgency": "normal",
        "mode": "answer",
        "text": KB_ENTRY["answer"],
        "kb_id": KB_ENTRY["id"],
    }
    resp = await browser.post("/web/agent/register", form, page="/web/agent")
    assert resp.status == 302, await resp.text()
    page = await (await web_client.get("/web/agent")).text()
    assert "已登记并直接答复" in page
    orders = await api.call("GET", "/api/v1/orders?state=replied", "agent")
    assert orders["total"] == 1
    detail = await api.order(orders["items"][0]["number"])
    assert detail["flags"] == ["direct"] and KB_ENTRY["id"] in detail["events"][-1]["note"]

    bad = await browser.post("/web/agent/register", {**form, "content": ""}, page="/web/agent")
    assert bad.status == 400 and "诉求内容:缺少必填字段" in await bad.text()


async def test_live_suggestions_endpoint(web_client, browser, api):
    resp = await web_client.get("/web/api/suggest?text=公积金")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthenticated"
    await _order(api)
    await browser.login("agent")
    resp = await web_client.get(
        "/web/api/suggest", params={"text": "租房咋取公积金", "phone": CALLER_PHONE}
    )
    data = await resp.json()
    assert data["kb"][0]["id"] == KB_ENTRY["id"] and "租赁合同" in data["kb"][0]["answer"]
    assert data["history"]["total"] == 1 and data["type"]
    await browser.login("zjj")
    assert (await web_client.get("/web/api/suggest?text=公积金")).status == 403


async def test_logout_ends_the_session(web_client, browser):
    await browser.login("agent")
    resp = await browser.post("/logout", {}, page="/logout")
    assert resp.status == 302 and resp.headers["Location"] == "/login"
    resp = await web_client.get("/web/agent", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")


async def test_error_pages_never_show_a_traceback(web_client, browser, api, monkeypatch):
    await browser.login("supervisor")
    resp = await web_client.get("/web/no-such-page")
    assert resp.status == 404 and "页面不存在" in await resp.text()
    number = await _order(api)

    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(web_client.app[DISPATCH], "get", broken)
    resp = await web_client.get(f"/web/orders/{number}")
    html = await resp.text()
    assert resp.status == 500 and "系统繁忙" in html
    assert "Traceback" not in html and "database on fire" not in html


async def test_the_json_api_is_untouched(web_client):
    resp = await web_client.get("/api/v1/orders")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthenticated"
    resp = await web_client.get("/api/v1/nothing-here")
    assert resp.status == 404 and "error" in await resp.json()


async def test_confident_registrations_are_dispatched_automatically(
    aiohttp_client, sqlite_url, clock, category_model
):
    client = await aiohttp_client(build_app(sqlite_url, clock, category_model, auto_dispatch=0.5))
    await seed_web(Api(client))
    browser = Browser(client)
    await browser.login("agent")
    form = {
        "hotline": "12345",
        "channel": "phone",
        "content": "小区物业不管楼道垃圾,物业公司不作为",
        "type": "complaint",
        "urgency": "normal",
        "mode": "register",
    }
    resp = await browser.post("/web/agent/register", form, page="/web/agent")
    assert resp.status == 302
    page = await (await client.get("/web/agent")).text()
    assert "已智能派单" in page
    number = re.search(r"工单 (\d+)", page).group(1)
    order = await Api(client).order(number)
    assert order["state"] == "dispatched" and order["lead_unit"] == "ZJJ"


async def test_agent_console_merges_a_certain_repeat_unless_answering(web_client, browser, api):
    first = await api.register(
        content="锦绣花园小区楼道垃圾堆积一周无人清理", address="东湖区锦绣花园3栋"
    )
    await browser.login("agent")
    form = {
        "hotline": "12345",
        "channel": "phone",
        "caller_phone": CALLER_PHONE,
        "content": "锦绣花园3号楼楼道里的垃圾一直没人清理",
        "address": "锦绣花园小区三号楼",
        "type": "complaint",
        "urgency": "normal",
    }
    # the console shows the open order with its content while the agent types
    resp = await web_client.get(
        "/web/api/suggest", params={"text": form["content"], "address": form["address"]}
    )
    [shown] = (await resp.json())["duplicates"]
    assert shown["number"] == first["number"] and shown["certain"] is True
    assert shown["content"].startswith("锦绣花园小区楼道垃圾")
    resp = await browser.post("/web/agent/register", form, page="/web/agent")
    assert resp.status == 302, await resp.text()
    page = await (await web_client.get("/web/agent")).text()
    assert f"与 {first['number']} 为同一事项,已自动并单" in page
    # answering on the spot: nothing automatic, the answer goes through
    answer = {**form, "type": "help", "mode": "answer", "text": "已转告物业当天清理。"}
    resp = await browser.post("/web/agent/register", answer, page="/web/agent")
    assert resp.status == 302
    replied = await api.call("GET", "/api/v1/orders?state=replied", "agent")
    assert replied["total"] == 1
