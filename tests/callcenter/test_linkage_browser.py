# ruff: noqa: F811 (the web tests' fixtures are imported and used as parameters)
"""应急联动 in headless Chromium against the real server: the console's 转110/119/120/122
buttons (a confirmation first; the gateway leg's state over /web/ws/agent) and the order
page's hand-over table with its manual-record form. The live SIP path is in
test_linkage_api.py / test_linkage_sip.py; here no gateway is configured."""

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


async def test_console_buttons_ask_first_and_follow_the_gateway_leg(
    chromium, base, web_client, api
):
    app = web_client.server.app
    call_id = "c" * 32
    at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    record = domain.enqueue(
        domain.answer(domain.offer(call_id, "12345", CALLER, at), at), "general", at
    )
    record = domain.agent_answered(record, "agent", at + timedelta(seconds=4))
    async with unit_of_work(app[SESSIONS]) as session:
        await storage.save(session, [domain.end(record, record.answered_at + timedelta(60))])
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    assert await page.is_hidden("#linkage-bar")  # no call, no buttons
    user_id = await user_id_of(app[SESSIONS], "agent")
    for _ in range(200):
        if app[PUSH].listening(user_id):
            break
        await asyncio.sleep(0.02)
    pop = {"type": "call", "call_id": call_id, "hotline": "12345", "caller": CALLER}
    assert app[PUSH].publish(user_id, {**pop, "queue": "general", "orders": []}) == 1
    await page.wait_for_selector("#linkage-bar:not([hidden])")

    dialogs: list[str] = []

    async def answer(dialog, accept: bool) -> None:
        dialogs.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    handler = lambda d: asyncio.ensure_future(answer(d, False))  # noqa: E731
    page.once("dialog", handler)
    await page.click("button[data-linkage='119']")  # dismissed: nothing is sent
    await asyncio.sleep(0.3)
    assert dialogs == ["确认将当前来电联动至 119?"]
    assert await page.inner_text("#call-status") == ""

    await page.select_option("#linkage-mode", "transfer")
    page.once("dialog", lambda d: asyncio.ensure_future(answer(d, True)))
    await page.click("button[data-linkage='119']")  # sent: no gateway for 119 here
    await page.wait_for_selector("#call-status:has-text('未配置消防 119的联动网关')")
    assert "转接(您将退出通话)" in dialogs[-1]

    event = {"type": "linkage", "call_id": call_id, "service": "119", "mode": "transfer"}
    for state, label in (
        ("ringing", "正在呼叫119……"),
        ("transferred", "已转接119,来电人与119通话,您已退出"),
    ):
        app[PUSH].publish(user_id, {**event, "state": state, "label": label})
        await page.wait_for_selector(f"#linkage-state[data-state={state}]")
    assert await page.inner_text("#linkage-state") == "已转接119,来电人与119通话,您已退出"
    await page.screenshot(path=str(SHOTS / "console-linkage.png"), full_page=False)
    assert not agent.errors


async def test_order_page_records_a_hand_over_by_phone(chromium, base, web_client, api):
    number = (await api.register(content="煤气泄漏,闻到很浓的气味"))["number"]
    dispatcher = Session(chromium, base)
    page = await dispatcher.login("dispatcher", "/web/dispatch")
    await dispatcher.open(f"/web/orders/{number}")
    await page.wait_for_selector("#no-handovers")
    await page.select_option("#linkage-form select[name=service]", "119")
    await page.fill("#linkage-form input[name=note]", "已电话告知119指挥中心")
    async with page.expect_navigation():
        await page.click("#linkage-form button[type=submit]")
    assert "已登记移交消防 119" in await dispatcher.flash()
    rows = await page.locator("#handovers tbody tr").all_inner_texts()
    assert len(rows) == 1
    assert "消防 119" in rows[0] and "已通过其他方式移交" in rows[0]
    assert "已电话告知119指挥中心" in rows[0] and "dispatcher" in rows[0]
    events = await page.inner_text("#events")
    assert "应急联动" in events and "消防 119(其他方式),已通过其他方式移交" in events
    await dispatcher.shot("order-linkage.png")

    # Units see no hand-over section (and may not record one).
    answer = await api.call(
        "POST", f"/api/v1/orders/{number}/linkage", "cgj", {"service": "110"}, expect=403
    )
    assert answer["error"]["code"] == "forbidden"
    assert not dispatcher.errors
