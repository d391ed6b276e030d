# ruff: noqa: F811 (the web tests' fixtures are imported and used as parameters)
"""The console's 三方通话 / 结束三方 controls in headless Chromium against the real server.

The unit leg's state arrives over /web/ws/agent (published on the push hub as the intake
does); without the intake the call has ended, and the button says so (the live path is
in test_conference_api.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.db import unit_of_work
from app.keys import PUSH, SESSIONS
from callcenter import domain, storage
from callcenter.desk import user_id_of
from tests.web.conftest import api, category_model, web_client  # noqa: F401 (fixtures)
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401 (fixtures)

CALLER = "13700137000"
UNIT_URI = "sip:unit1@127.0.0.1:5070"


async def test_console_adds_a_unit_and_follows_its_leg(chromium, base, web_client, api):
    app = web_client.server.app
    call_id = "d" * 32
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    record = domain.offer(call_id, "12319", CALLER, at)
    record = domain.answer(record, at)
    record = domain.enqueue(record, "general", at)
    record = domain.agent_answered(record, "agent", at + timedelta(seconds=4))
    async with unit_of_work(app[SESSIONS]) as session:
        await storage.save(session, [domain.end(record, record.answered_at + timedelta(60))])

    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    user_id = await user_id_of(app[SESSIONS], "agent")
    for _ in range(200):
        if app[PUSH].listening(user_id):
            break
        await asyncio.sleep(0.02)
    pop = {
        "type": "call",
        "call_id": call_id,
        "hotline": "12319",
        "caller": CALLER,
        "queue": "general",
        "orders": [],
    }
    assert app[PUSH].publish(user_id, pop) == 1
    await page.wait_for_selector("#call-panel:not([hidden])")
    assert await page.is_hidden("#conference-end")

    await page.click("#conference-add")  # no SIP URI typed
    await page.wait_for_selector("#call-status:has-text('请填写承办单位的 SIP 地址')")
    await page.fill("#conference-uri", "unit1")
    await page.click("#conference-add")
    await page.wait_for_selector("#call-status:has-text('SIP 地址格式不正确')")
    await page.fill("#conference-uri", UNIT_URI)
    await page.fill("#conference-unit", "CGJ")
    await page.click("#conference-add")  # the call has ended: 409 with its reason
    await page.wait_for_selector("#call-status:has-text('通话已结束')")

    event = {"type": "conference", "call_id": call_id, "uri": UNIT_URI, "unit": "CGJ"}
    for state, label in (("ringing", "正在呼叫承办单位……"), ("connected", "三方通话中")):
        app[PUSH].publish(user_id, {**event, "state": state, "label": label})
        await page.wait_for_selector(f"#conference-state[data-state={state}]")
    assert await page.inner_text("#conference-state") == "三方通话中(CGJ)"
    assert await page.is_visible("#conference-end")
    await page.screenshot(path=str(SHOTS / "call-panel-three-way.png"), full_page=False)
    await page.click("#conference-end")  # the call has ended meanwhile: the reason shows
    await page.wait_for_selector("#call-status:has-text('通话已结束')")
    label = "承办单位已退出三方通话,继续与来电人通话"
    app[PUSH].publish(user_id, {**event, "state": "ended", "label": label, "by": "unit"})
    await page.wait_for_selector("#conference-state[data-state=ended]")
    assert await page.is_hidden("#conference-end")
    assert label in await page.inner_text("#call-status")
    # Another call's events are not shown on this one.
    app[PUSH].publish(
        user_id, {**event, "call_id": "e" * 32, "state": "connected", "label": "三方通话中"}
    )
    await asyncio.sleep(0.3)
    assert await page.get_attribute("#conference-state", "data-state") == "ended"
