# ruff: noqa: F811 (the web tests' fixtures are imported and used as parameters)
"""The agent console's incoming-call panel in headless Chromium against the real server.

The screen pop arrives over /web/ws/agent (published on the push hub as the intake
does when a call is bridged); the panel fills the form, and the order registered from it
lands on the call record.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from app.db import unit_of_work
from app.keys import PUSH, SESSIONS
from callcenter import domain, storage
from callcenter.desk import user_id_of
from tests.web.conftest import api, category_model, web_client  # noqa: F401 (fixtures)
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401 (fixtures)

CALLER = "13700137000"


async def test_screen_pop_fills_the_console_and_links_the_order(chromium, base, web_client, api):
    app = web_client.server.app
    earlier = await api.register(caller_phone=CALLER, hotline="12319", content="路灯不亮已经一周")
    call_id = "c" * 32
    at = (await api.order(earlier["number"]))["created_at"]
    record = domain.offer(call_id, "12319", CALLER, datetime.fromisoformat(at))
    record = domain.answer(record, record.offered_at)
    record = domain.enqueue(record, "general", record.offered_at)
    record = domain.agent_answered(record, "agent", record.offered_at + timedelta(seconds=4))
    async with unit_of_work(app[SESSIONS]) as session:
        await storage.save(session, [domain.end(record, record.answered_at + timedelta(60))])

    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    assert await page.is_hidden("#call-panel")  # no call: the console as before
    # 坐席状态: a bad SIP URI is refused on the console; then 签入, 示忙, 示闲.
    await page.wait_for_selector("#agent-state-label:text('离线')")
    await page.fill("#agent-sip-uri", "1001")
    await page.click("[data-agent-action=login]")
    await page.wait_for_selector("#agent-state-error:not([hidden])")
    assert "SIP 地址格式不正确" in await page.inner_text("#agent-state-error")
    await page.fill("#agent-sip-uri", "sip:1001@127.0.0.1:5070")
    await page.click("[data-agent-action=login]")
    await page.wait_for_selector("#agent-state-label:text('空闲')")
    await page.click("[data-agent-action=pause]")
    await page.wait_for_selector("#agent-state-label:text('示忙')")
    await page.click("[data-agent-action=resume]")
    await page.wait_for_selector("#agent-state-label:text('空闲')")
    me = await api.call("GET", "/api/v1/agents/me", "agent")
    assert (me["state"], me["sip_uri"]) == ("available", "sip:1001@127.0.0.1:5070")
    user_id = await user_id_of(app[SESSIONS], "agent")
    for _ in range(200):
        if app[PUSH].listening(user_id):
            break
        await asyncio.sleep(0.02)
    event = {
        "type": "call",
        "call_id": call_id,
        "hotline": "12319",
        "caller": CALLER,
        "queue": "general",
        "orders": [
            {
                "number": earlier["number"],
                "state": "registered",
                "state_label": "待派单",
                "category": None,
                "created": "2026-11-23 10:00",
                "content": "路灯不亮已经一周",
            }
        ],
    }
    assert app[PUSH].publish(user_id, event) == 1
    await page.wait_for_selector("#call-panel:not([hidden])")
    assert CALLER in await page.inner_text("#call-panel")
    assert earlier["number"] in await page.inner_text("#call-orders")
    assert await page.input_value("#caller_phone") == CALLER
    assert await page.input_value("#hotline") == "12319"
    assert await page.input_value("#call_id") == call_id
    await page.screenshot(path=str(SHOTS / "call-panel.png"), full_page=True)
    # 转接 needs a call in progress on the intake (here it has ended): the reason shows.
    await page.select_option("#transfer-queue", "general")
    await page.click("#call-transfer")
    await page.wait_for_selector("#call-status:has-text('通话不存在')")
    await page.click("#call-emergency")
    await page.wait_for_selector("#call-status:has-text('已标记为紧急转接')")
    async with app[SESSIONS]() as session:
        assert (await session.get(storage.Call, call_id)).emergency is True

    await page.fill("#content", "路灯还是不亮,晚上出行不安全")
    async with page.expect_navigation():
        await page.click("#btn-register")
    assert "已登记" in await page.inner_text(".flash")
    async with app[SESSIONS]() as session:
        row = await session.get(storage.Call, call_id)
    assert row.order_number is not None and row.order_number != earlier["number"]
    order = await api.order(row.order_number)
    assert (order["caller_phone"], order["hotline"]) == (CALLER, "12319")
