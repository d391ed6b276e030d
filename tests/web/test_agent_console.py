"""坐席工作台 after a new user's walk (issue 15, findings 1-5): a KB answer is edited and
confirmed, never posted by itself, and not offered for 投诉/举报; duplicates say what
they are and can be merged into; an empty direct answer is named at its field; the call
timer, shortcuts and 常用语; 最近工单 are the agent's own registrations."""

from __future__ import annotations

import asyncio
import json
import re
import shutil

from app.keys import PUSH, SESSIONS, SETTINGS
from callcenter.desk import user_id_of
from tests.web.conftest import CALLER_PHONE, KB_ENTRY
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS
from web.screens.agent import _duplicate

CONSULTATION = "我租房子住,想把公积金取出来怎么办"
FIRST = "锦绣花园小区楼道垃圾堆积一周无人清理,物业不管"
AGAIN = "我们锦绣花园楼道里垃圾一直没人清理,物业也不管"
PLACE = "东湖区湖滨街道锦绣花园3栋"


async def _total(api) -> int:
    return (await api.call("GET", "/api/v1/orders", "supervisor"))["total"]


async def test_kb_answer_fills_the_box_and_needs_a_confirming_click(chromium, base, api):  # noqa: F811
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    await page.fill("#content", CONSULTATION)
    use = page.locator(".kb-hit button.use-kb").first
    await use.wait_for()
    await page.select_option("#type", "consultation")
    await use.click()
    assert await page.input_value("#answer_text") == KB_ENTRY["answer"]
    assert await page.evaluate("document.getElementById('answer-box').open")
    await asyncio.sleep(0.3)
    assert await _total(api) == 0  # nothing posted by the KB button
    await page.fill("#answer_text", KB_ENTRY["answer"] + "如需帮助可拨打公积金热线。")
    await page.click("#btn-answer")  # the first click asks
    assert "确认" in await page.inner_text("#btn-answer")
    assert await _total(api) == 0
    await agent.shot("agent-01-answer-confirm.png")
    shutil.copyfile(SHOTS / "agent-01-answer-confirm.png", DOCS / "web-agent-answer-confirm.png")
    async with page.expect_navigation():
        await page.click("#btn-answer")
    assert "已登记并直接答复" in await agent.flash()
    replied = await api.call("GET", "/api/v1/orders?state=replied", "agent")
    detail = await api.order(replied["items"][0]["number"])
    assert "如需帮助可拨打公积金热线" in detail["events"][-1]["note"]

    # 投诉: no KB answer, no 直接答复
    await page.fill("#content", "公积金中心窗口工作人员态度恶劣,我要投诉")
    await page.locator(".kb-hit").first.wait_for()
    await page.select_option("#type", "complaint")
    assert await page.locator(".kb-hit button.use-kb").first.is_hidden()
    assert await page.is_disabled("#btn-answer")
    assert await page.is_visible("#answer-note") or not await page.evaluate(
        "document.getElementById('answer-box').open"
    )
    await page.select_option("#type", "consultation")
    assert await page.locator(".kb-hit button.use-kb").first.is_visible()
    assert agent.errors == []


async def test_direct_answer_refused_for_a_complaint_and_when_empty(browser, api):
    await browser.login("agent")
    form = {
        "hotline": "12345",
        "channel": "phone",
        "caller_phone": CALLER_PHONE,
        "content": CONSULTATION,
        "type": "consultation",
        "urgency": "normal",
        "mode": "answer",
        "text": "   ",
    }
    resp = await browser.post("/web/agent/register", form, page="/web/agent")
    html = await resp.text()
    assert resp.status == 400
    assert re.search(r'id="answer-error"[^>]*>请填写答复内容', html)
    assert 'aria-invalid="true"' in html and '<details id="answer-box" open' in html
    assert CONSULTATION in html  # the form is kept

    resp = await browser.post(
        "/web/agent/register",
        {**form, "type": "complaint", "text": "已告知市民"},
        page="/web/agent",
    )
    html = await resp.text()
    assert resp.status == 400
    assert "投诉类诉求需派单至承办单位办理,不能直接答复" in html
    assert "已告知市民" in html
    assert await _total(api) == 0


def test_duplicate_view_formats_what_the_suggestions_send():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    bare = {"number": "1", "similarity": 0.8, "same_place": True}
    assert _duplicate(bare, tz) == bare  # the fields to come are optional
    full = _duplicate(
        {
            **bare,
            "content": "垃圾" * 60,
            "state": "merged",
            "created_at": "2026-11-23T02:00:00+00:00",
        },
        tz,
    )
    assert full["state_label"] == "已并单"
    assert full["mergeable"] is False and full["created_at"] == "2026-11-23 10:00"
    assert len(full["content"]) == 81 and full["content"].endswith("…")


async def test_duplicates_show_what_they_are_and_merge_in_one_submit(chromium, base, api):  # noqa: F811
    first = await api.register(content=FIRST, address=PLACE)
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    await page.fill("#address", PLACE)
    await page.fill("#content", AGAIN)
    item = page.locator("#duplicate-list li.duplicate").first
    await item.wait_for()
    assert first["number"] in await item.inner_text()
    merge = item.locator("button.merge")
    await merge.click()
    assert "确认登记并并入" in await merge.inner_text()
    assert await _total(api) == 1
    async with page.expect_navigation():
        await merge.click()
    flash = await agent.flash()
    assert f"并入工单 {first['number']}" in flash
    number = re.search(r"工单 (\d+)", flash).group(1)
    order = await api.order(number)
    assert (order["state"], order["parent"]) == ("merged", first["number"])
    assert agent.errors == []


async def test_duplicates_render_content_address_state_and_time(chromium, base, api):  # noqa: F811
    """The fields dispatch.suggestions is adding, as /web/api/suggest will pass them."""
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    fake = {
        "kb": [],
        "category": [],
        "unit": [],
        "type": "complaint",
        "urgency": {"urgent": False},
        "duplicates": [
            {
                "number": "20261123000001",
                "similarity": 0.91,
                "same_place": True,
                "certain": True,
                "content": "锦绣花园楼道垃圾堆积一周无人清理",
                "address": PLACE,
                "state": "dispatched",
                "state_label": "已派单",
                "created_at": "2026-11-23 09:30",
            },
            {"number": "20261120000007", "similarity": 0.5, "state": "closed", "mergeable": False},
        ],
    }

    async def answer(route):
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(fake))

    await page.route("**/web/api/suggest?*", answer)
    await page.fill("#content", AGAIN)
    first = page.locator("#duplicate-list li.duplicate").first
    await first.wait_for()
    text = await first.inner_text()
    for part in (
        "20261123000001",
        "已派单",
        "确定重复",
        "锦绣花园楼道垃圾",
        PLACE,
        "2026-11-23 09:30",
    ):
        assert part in text
    assert await first.locator("button.merge").count() == 1
    closed = page.locator("#duplicate-list li.duplicate").nth(1)
    assert await closed.locator("button.merge").count() == 0
    await agent.shot("agent-02-duplicates.png")
    shutil.copyfile(SHOTS / "agent-02-duplicates.png", DOCS / "web-agent-duplicates.png")
    assert agent.errors == []


async def test_call_timer_shortcuts_and_canned_phrases(chromium, base, web_client, api):  # noqa: F811
    app = web_client.server.app
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    assert "Alt" in await page.inner_text("#shortcuts")
    user_id = await user_id_of(app[SESSIONS], "agent")
    for _ in range(200):
        if app[PUSH].listening(user_id):
            break
        await asyncio.sleep(0.02)
    call = {"type": "call", "call_id": "d" * 32, "hotline": "12345", "caller": CALLER_PHONE}
    assert app[PUSH].publish(user_id, {**call, "queue": "general", "orders": []}) == 1
    await page.wait_for_selector("#call-panel:not([hidden])")
    assert re.fullmatch(r"通话 00:0\d", await page.inner_text("#call-timer"))
    await page.wait_for_selector("#call-timer[data-seconds='1']")  # it counts

    # 常用语 goes into the answer box at the cursor
    await page.fill("#content", CONSULTATION)
    await page.keyboard.press("Alt+P")
    phrase = page.locator("#canned button").first
    assert await phrase.evaluate("b => b === document.activeElement")
    await phrase.click()
    assert app[SETTINGS].web.canned_phrases[0] in await page.input_value("#answer_text")
    # Alt+K: the KB list; Alt+A asks, a second Alt+A answers
    await page.locator(".kb-hit button.use-kb").first.wait_for()
    await page.keyboard.press("Alt+K")
    assert await page.evaluate("document.activeElement.classList.contains('use-kb')")
    await agent.shot("agent-03-call-timer.png")
    shutil.copyfile(SHOTS / "agent-03-call-timer.png", DOCS / "web-agent-call-timer.png")
    await page.select_option("#type", "consultation")
    await page.keyboard.press("Alt+A")
    assert "确认" in await page.inner_text("#btn-answer")
    assert await _total(api) == 0
    async with page.expect_navigation():
        await page.keyboard.press("Alt+A")
    assert "已登记并直接答复" in await agent.flash()
    # Alt+S registers
    await page.fill("#content", "小区物业不作为,楼道垃圾无人清理")
    await page.select_option("#type", "complaint")
    async with page.expect_navigation():
        await page.keyboard.press("Alt+S")
    assert "等待派单" in await agent.flash()
    assert agent.errors == []


async def test_recent_orders_are_the_agents_own(browser, api, web_client):
    mine = await api.register(content="路灯不亮已经一周了")
    others = await api.register(user="dispatcher", content="新华路菜市场门口占道经营严重")
    await browser.login("agent")
    html = await (await web_client.get("/web/agent")).text()
    recent = html[html.index("我登记的工单") :]
    assert mine["number"] in recent and others["number"] not in recent
