"""The citizen, the grid inspector and attachments, end to end in headless Chromium
against the real server (issue 5), plus the citizen pages' guards over plain HTTP.

Screens are saved under test-output/screenshots/ (web-citizen-*, web-inspector-*).
"""

from __future__ import annotations

import re

import pytest

from accounts.domain import Role
from dispatch.lifecycle import Event, Rating, State
from tests.conftest import PASSWORD
from tests.dispatch.test_lifecycle import T0
from tests.web import test_browser, test_uploads
from tests.web.conftest import Browser
from tests.web.test_browser import PHONE, SHOTS, TIMEOUT_MS, Session
from tests.web.test_uploads import EXE, MAX_BYTES, PDF, png, stored_files
from web.screens import citizen

# The browser and the app with a small upload limit and its own upload directory.
chromium, base = test_browser.chromium, test_browser.base
web_client = test_uploads.web_client

CITIZEN_PHONE = "13912345678"
POSITION = {"latitude": 30.572815, "longitude": 114.279213}
CONTENT = "锦绣花园3栋楼道垃圾堆放一周无人清理,气味很大"


async def phone_page(chromium, **context):
    ctx = await chromium.new_context(viewport=PHONE, locale="zh-CN", **context)
    ctx.set_default_timeout(TIMEOUT_MS)
    return await ctx.new_page()


async def shot(page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / name), full_page=True)


async def replied_and_reviewed(api, number: str) -> None:
    await api.act("dispatcher", number, "dispatch", unit="ZJJ", note="内部:请物业科跟进")
    await api.act("zjj", number, "accept")
    await api.act("zjj", number, "reply", text="已约谈物业公司,楼道垃圾已于当日清理完毕。")
    await api.act("supervisor", number, "review", approve=True, note="审核通过-内部意见")


async def test_citizen_submits_tracks_and_rates(chromium, base, api):
    page = await phone_page(chromium)
    await page.goto(base + "/citizen")  # the short public address
    assert page.url == base + "/web/citizen"
    await page.fill("#content", CONTENT)
    await page.fill("#address", "东湖区湖滨街道锦绣花园3栋")
    await page.fill("#caller_name", "李女士")
    await page.fill("#caller_phone", CITIZEN_PHONE)
    await page.select_option("#type", "complaint")
    await shot(page, "web-citizen-submit.png")
    async with page.expect_navigation():
        await page.click("#form-citizen button[type=submit]")
    number = await page.inner_text("#order-number")
    link = await page.get_attribute("#tracking-link", "href")
    assert re.fullmatch(r"\d{14}", number) and link.startswith("/web/citizen/t/")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert await page.inner_text("#tracking-link") == base + link
    await shot(page, "web-citizen-done.png")
    order = await api.order(number)
    assert order["channel"] == "web" and order["hotline"] == "12345"
    assert order["caller_phone"] == CITIZEN_PHONE and order["events"][0]["role"] == "citizen"

    # tracking by number + phone, before anything happened
    await page.goto(base + "/web/citizen")
    await page.fill("#track-number", number)
    await page.fill("#track-phone", "13900000000")  # not the phone given
    async with page.expect_navigation():
        await page.click("#form-track button[type=submit]")
    assert "未找到该工单" in await page.inner_text("#track")
    await page.fill("#track-phone", CITIZEN_PHONE)
    async with page.expect_navigation():
        await page.click("#form-track button[type=submit]")
    assert page.url == base + link
    assert await page.inner_text("#public-state") == "已受理,等待分派"
    assert await page.locator("#form-rate").count() == 0

    # the centre works on it (API), the citizen comes back through the token link
    await replied_and_reviewed(api, number)
    page = await phone_page(chromium)
    await page.goto(base + link)
    assert await page.inner_text("#public-state") == "已答复,欢迎您评价"
    assert "楼道垃圾已于当日清理完毕" in await page.inner_text("#reply")
    history = await page.inner_text("#public-history")
    for line in ("您的诉求已受理", "已转交市住建局办理", "市住建局已签收", "答复已通过审核"):
        assert line in history
    text = await page.inner_text("main")
    for secret in ("dispatcher", "zjj", "supervisor", "内部", "审核通过-内部意见"):
        assert secret not in text  # no staff names, no internal notes
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await shot(page, "web-citizen-track.png")

    # 好差评: 非常不满意, not resolved -> waits for the supervisor's 核实
    await page.check("#form-rate input[name=rating][value=very_dissatisfied]")
    await page.check("#form-rate input[name=resolved][value='0']")
    async with page.expect_navigation():
        await page.click("#form-rate button[type=submit]")
    assert "感谢您的评价" in await page.inner_text(".flash")
    assert "非常不满意" in await page.inner_text("#rated")
    assert "核实" in await page.inner_text("#rated")
    assert await page.locator("#form-rate").count() == 0
    assert await page.inner_text("#public-state") == "已答复,您的评价正在核实"
    await shot(page, "web-citizen-rated.png")
    order = await api.order(number)
    assert order["state"] == "callback_pending" and "verify_pending" in order["flags"]
    rating = order["events"][-1]
    assert (rating["action"], rating["role"], rating["by"]) == ("callback", "citizen", "citizen")
    assert rating["data"] == {
        "rating": "very_dissatisfied",
        "satisfaction": "dissatisfied",
        "resolved": False,
    }
    # the supervisor's 核实 finds it valid: reopened, and the citizen sees it
    await api.act("supervisor", number, "verify", valid=True, note="属实")
    await page.reload()
    assert "已重新办理" not in await page.inner_text("#public-history")
    assert "经核实,已要求承办单位整改" in await page.inner_text("#public-history")
    assert await page.inner_text("#public-state") == "已转交承办单位"


async def test_citizen_good_rating_closes_the_order(chromium, base, api, web_client):
    number = (await api.register(channel="web", caller_phone=CITIZEN_PHONE))["number"]
    await replied_and_reviewed(api, number)
    token = (await api.order(number, user="agent"))["tracking_token"]
    page = await phone_page(chromium)
    await page.goto(f"{base}/web/citizen/t/{token}")
    await page.check("#form-rate input[name=rating][value=basic]")
    await page.check("#form-rate input[name=resolved][value='1']")
    async with page.expect_navigation():
        await page.click("#form-rate button[type=submit]")
    assert await page.inner_text("#public-state") == "已办结"
    order = await api.order(number)
    assert (order["state"], order["satisfaction"], order["resolved"]) == ("closed", "basic", True)


async def test_inspector_reports_with_photo_and_position_then_checks_on_site(
    chromium, base, api, web_client
):
    ctx = await chromium.new_context(
        viewport=PHONE, locale="zh-CN", geolocation=POSITION, permissions=["geolocation"]
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    page = await ctx.new_page()
    # a real JPEG, made by the browser itself
    await page.set_content("<div style='width:40px;height:30px;background:#2a7'></div>")
    photo = await page.screenshot(type="jpeg", clip={"x": 0, "y": 0, "width": 40, "height": 30})
    assert photo[:3] == b"\xff\xd8\xff"

    await page.goto(base + "/login")
    await page.fill("input[name=username]", "inspector")
    await page.fill("input[name=password]", PASSWORD)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert page.url == base + "/web/inspector"
    await page.wait_for_function(
        "document.getElementById('position').textContent.startsWith('已定位')"
    )
    assert await page.input_value("#latitude") == "30.572815"

    await page.fill("#content", "湖滨路人行道井盖缺失,存在安全隐患")
    await page.fill("#address", "东湖区湖滨路128号")
    await page.select_option("#category", "CJ")
    await page.set_input_files(
        "#photos", files=[{"name": "井盖.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    await shot(page, "web-inspector-report.png")
    async with page.expect_navigation():
        await page.click("#btn-report")
    flash = await page.inner_text(".flash")
    assert "附照片 1 张" in flash
    number = re.search(r"工单编号 (\d+)", flash).group(1)
    order = await api.order(number)
    assert order["channel"] == "inspector" and order["category"] == "CJ"
    assert (order["latitude"], order["longitude"]) == (30.572815, 114.279213)
    files = await api.call("GET", f"/api/v1/orders/{number}/attachments", "supervisor")
    assert [(f["name"], f["mime"], f["role"]) for f in files["items"]] == [
        ("井盖.jpg", "image/jpeg", "inspector")
    ]
    assert files["items"][0]["event_id"] is not None  # bound to the registration

    # a wrong file: a clear message, the input kept, nothing registered, nothing stored
    await page.fill("#content", "又一处井盖缺失")
    await page.set_input_files(
        "#photos", files=[{"name": "井盖2.jpg", "mimeType": "image/jpeg", "buffer": EXE}]
    )
    async with page.expect_navigation():
        await page.click("#btn-report")
    assert "“井盖2.jpg”的类型不支持" in await page.inner_text("#report-error")
    assert await page.input_value("#content") == "又一处井盖缺失"
    assert (await api.call("GET", "/api/v1/orders", "supervisor"))["total"] == 1
    assert len(stored_files(web_client)) == 1
    await shot(page, "web-inspector-refused.png")

    # the unit replies; the case waits for the inspector's on-site check
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await api.act("zjj", number, "accept")
    await api.act("zjj", number, "reply", text="已补装井盖")
    await page.goto(base + "/web/inspector")
    case = page.locator(f"#case-{number}")
    assert "已补装井盖" in await case.inner_text()
    await shot(page, "web-inspector-cases.png")
    await case.locator("input[name=note]").fill("现场井盖仍未安装")
    async with page.expect_navigation():
        await case.locator("button[value='0']").click()
    assert "核查未通过" in await page.inner_text(".flash")
    order = await api.order(number)
    assert (order["state"], order["reopen_count"]) == ("dispatched", 1)

    await api.act("zjj", number, "accept")
    await api.act("zjj", number, "reply", text="已安装新井盖并拍照留档")
    await page.goto(base + "/web/inspector")
    await page.set_input_files(
        f"#case-{number} input[name=files]",
        files=[{"name": "复查.jpg", "mimeType": "image/jpeg", "buffer": photo}],
    )
    async with page.expect_navigation():
        await page.locator(f"#case-{number} button[value='1']").click()
    assert "核查通过,附照片 1 张" in await page.inner_text(".flash")
    assert await page.locator(f"#case-{number}").count() == 0
    order = await api.order(number)
    assert order["state"] == "replied" and "inspected" in order["flags"]
    files = await api.call("GET", f"/api/v1/orders/{number}/attachments", "zjj")
    assert sorted(f["name"] for f in files["items"]) == ["井盖.jpg", "复查.jpg"]
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]

    # the order page shows the photo to those who may see the order
    await page.goto(f"{base}/web/orders/{number}")
    images = page.locator("#attachments img")
    widths = await images.evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert widths == [40, 40]  # both photos load: the report's and the check's
    assert "30.572815, 114.279213" in await page.inner_text("#position")


async def test_unit_replies_with_attachments_other_unit_gets_404(chromium, base, api, web_client):
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await api.act("zjj", number, "accept")
    unit = Session(chromium, base)
    page = await unit.login("zjj", "/web/unit")
    await unit.open(f"/web/orders/{number}")
    reply_files = "#form-reply input[name=files]"

    # wrong type and too large: a clear message, the reply is not recorded, nothing stored
    await page.fill("#form-reply textarea[name=text]", "已处理")
    await page.set_input_files(
        reply_files, files=[{"name": "整改报告.pdf", "mimeType": "application/pdf", "buffer": EXE}]
    )
    await unit.submit("reply")
    assert "“整改报告.pdf”的类型不支持" in await unit.flash()
    big = png() + b"\0" * MAX_BYTES
    await page.fill("#form-reply textarea[name=text]", "已处理")
    await page.set_input_files(
        reply_files, files=[{"name": "现场.png", "mimeType": "image/png", "buffer": big}]
    )
    await unit.submit("reply")
    assert "“现场.png”超过大小上限" in await unit.flash()
    await unit.shot("web-upload-refused.png")
    assert (await api.order(number))["state"] == "accepted"
    assert stored_files(web_client) == []

    await page.fill("#form-reply textarea[name=text]", "已清理,整改报告与照片见附件。")
    await page.set_input_files(
        reply_files,
        files=[
            {"name": "整改报告.pdf", "mimeType": "application/pdf", "buffer": PDF},
            {"name": "清理后.png", "mimeType": "image/png", "buffer": png(40, 30)},
        ],
    )
    await unit.submit("reply")
    assert "附件 2 个" in await unit.flash()
    listed = await page.inner_text("#attachments")
    assert "整改报告.pdf" in listed and "清理后.png" in listed
    await unit.shot("web-unit-reply-attachments.png")
    link = await page.get_attribute("#attachments a:has-text('整改报告.pdf')", "href")
    resp = await page.request.get(base + link)
    assert resp.status == 200 and await resp.body() == PDF
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["content-disposition"].startswith("attachment;")

    other = Session(chromium, base)
    page = await other.login("cgj", "/web/unit")
    await other.open(link)
    assert "页面不存在" in await page.inner_text("main")
    resp = await page.request.get(base + link)
    assert resp.status == 404


# ---------------------------------------------------------------- guards, over HTTP


async def test_citizen_forms_need_csrf_and_are_rate_limited(web_client, browser: Browser):
    data = {"content": CONTENT, "caller_phone": CITIZEN_PHONE, "hotline": "12345"}
    resp = await web_client.post("/web/citizen/submit", data=data)
    assert resp.status == 403
    limits = web_client.app[citizen.LIMITS]
    limits.submit.limit = 2
    for _ in range(2):
        resp = await browser.post("/web/citizen/submit", data, page="/web/citizen")
        assert resp.status == 201
    resp = await browser.post("/web/citizen/submit", data, page="/web/citizen")
    assert resp.status == 429 and "操作过于频繁" in await resp.text()

    limits.lookup.limit = 2
    wrong = {"number": "20261123000001", "phone": "13000000000"}
    for _ in range(2):
        resp = await browser.post("/web/citizen/track", wrong, page="/web/citizen")
        assert resp.status == 404
    right = {"number": "20261123000001", "phone": CITIZEN_PHONE}
    resp = await browser.post("/web/citizen/track", right, page="/web/citizen")
    assert resp.status == 429  # even the right phone, once the address guessed too often


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"content": CONTENT}, "手机号码"),
        ({"content": "", "caller_phone": CITIZEN_PHONE}, "诉求内容"),
        ({"content": CONTENT, "caller_phone": "call me"}, "来电号码"),
        ({"content": CONTENT, "caller_phone": CITIZEN_PHONE, "hotline": "999"}, "未知热线"),
    ],
)
async def test_citizen_input_errors_are_chinese(web_client, browser, data, message):
    resp = await browser.post("/web/citizen/submit", data, page="/web/citizen")
    assert resp.status == 400 and message in await resp.text()


async def test_no_rating_form_while_a_phone_callback_complaint_is_verified(api, web_client):
    number = (await api.register(caller_phone=CITIZEN_PHONE))["number"]
    await replied_and_reviewed(api, number)
    await api.act("agent", number, "callback", satisfaction="dissatisfied", resolved=False)
    token = (await api.order(number, user="agent"))["tracking_token"]
    page = await (await web_client.get(f"/web/citizen/t/{token}")).text()
    assert 'id="form-rate"' not in page and "您的评价正在核实" in page
    assert "已回访" in page


async def test_unknown_tracking_token_is_404(web_client):
    resp = await web_client.get("/web/citizen/t/" + "x" * 32)
    assert resp.status == 404 and "页面不存在" in await resp.text()


# ---------------------------------------------------------------- the public history, pure


def ev(action: str, to: State, **data):
    return Event(action, T0, "someone", Role.UNIT, None, to, note=f"note of {action}", data=data)


def test_public_history_hides_internal_steps_and_notes():
    events = [
        ev("register", State.REGISTERED),
        ev("dispatch", State.DISPATCHED, unit="ZJJ"),
        ev("supervise", State.DISPATCHED),
        ev("warning", State.DISPATCHED),
        ev("accept", State.ACCEPTED, unit="ZJJ"),
        ev("subdispatch", State.ACCEPTED, unit="ZJJ-WY"),
        ev("reply", State.REPLIED, unit="ZJJ"),
        ev("review", State.CALLBACK_PENDING, approve=True),
        ev("callback", State.CALLBACK_PENDING, rating="dissatisfied", resolved=False),
        ev("verify", State.CLOSED, valid=False),
    ]
    lines = [text for _, text in citizen.public_history(events, {"ZJJ": "市住建局"})]
    assert lines == [
        "您的诉求已受理",
        "已转交市住建局办理",
        "市住建局已签收,正在办理",
        "已答复",
        "答复已通过审核",
        "您的评价:不满意",
        "经核实,工单办结。说明:note of verify",  # the citizen is told why
    ]


def test_reply_text_is_the_standing_answer():
    sent_back = [
        ev("reply", State.REPLIED),
        ev("review", State.ACCEPTED, approve=False),
    ]
    assert citizen.reply_text(sent_back) is None
    assert citizen.reply_text([*sent_back, ev("reply", State.REPLIED)]) == "note of reply"
    merged = [ev("merge", State.MERGED), ev("parent_replied", State.CLOSED)]
    assert citizen.reply_text(merged) == "note of parent_replied"
    rated = [ev("reply", State.REPLIED), ev("callback", State.CLOSED, rating="satisfied")]
    assert citizen.current_rating(rated) == Rating.SATISFIED
    assert citizen.current_rating([*rated, ev("reopen", State.DISPATCHED)]) is None
