"""建议派往 in the browser: the agent picks a suggested category and unit, the dispatcher
dispatches the proposal from the queue with one click (DESIGN §3: the agent proposes,
the dispatcher dispatches). Screenshots go under test-output/screenshots/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.web.conftest import CALLER_PHONE
from tests.web.test_browser import PHONE, SHOTS, Session, base, chromium  # noqa: F401

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
COMPLAINT = "小区物业不作为,楼道垃圾无人清理,多次反映无果"


async def test_agent_proposes_and_the_dispatcher_dispatches_in_one_click(chromium, base, api):  # noqa: F811
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent")
    await page.fill("#caller_phone", CALLER_PHONE)
    await page.fill("#content", COMPLAINT)
    category = page.locator("#category-list button[data-code=CJ]")
    unit = page.locator("#unit-list button[data-code=ZJJ]")
    await category.wait_for()
    assert await page.is_hidden("#category-pick") and await page.is_hidden("#unit-pick")

    await category.click()
    assert await page.input_value("#category") == "CJ"
    assert await page.inner_text("#category-name") == "城乡建设"
    assert await category.get_attribute("aria-pressed") == "true"
    await unit.click()  # a second click, or its ×, clears it; the keyboard works too
    assert await page.input_value("#proposed_unit") == "ZJJ"
    await unit.click()
    assert await page.input_value("#proposed_unit") == ""
    assert await page.is_hidden("#unit-pick")
    await unit.focus()
    await page.keyboard.press("Enter")
    assert await page.input_value("#proposed_unit") == "ZJJ"
    await page.click("#unit-clear")  # the × of "建议派往:X"
    assert await page.input_value("#proposed_unit") == ""
    assert await unit.get_attribute("aria-pressed") == "false"
    await unit.focus()
    await page.keyboard.press("Space")
    assert await page.input_value("#proposed_unit") == "ZJJ"
    assert "建议派往:市住建局" in await page.inner_text("#unit-pick")
    assert await unit.get_attribute("aria-pressed") == "true"
    await agent.shot("proposal-01-agent-console.png")
    shutil.copyfile(SHOTS / "proposal-01-agent-console.png", DOCS / "web-agent-proposal.png")

    await page.select_option("#type", "complaint")
    async with page.expect_navigation():
        await page.click("#btn-register")
    flash = await agent.flash()
    assert "等待派单(建议派往:市住建局)" in flash
    number = re.search(r"工单 (\d+)", flash).group(1)
    order = await api.order(number)
    assert (order["state"], order["category"], order["proposed_unit"]) == (
        "registered",
        "CJ",
        "ZJJ",
    )
    assert order["lead_unit"] is None  # a proposal, not a dispatch
    assert order["events"][0]["data"]["proposed_unit"] == "ZJJ"

    # 派单员: the order page shows the proposal and preselects it in the dispatch form
    dispatcher = Session(chromium, base)
    page = await dispatcher.login("dispatcher", "/web/dispatch")
    row = page.locator(f"tr:has(a:text('{number}'))")
    assert "坐席建议:市住建局" in await row.inner_text()
    await dispatcher.shot("proposal-02-dispatch-queue.png")
    await dispatcher.open(f"/web/orders/{number}")
    assert "市住建局" in await page.inner_text("#proposed-unit")
    assert await page.input_value("#form-dispatch select[name=unit]") == "ZJJ"
    await dispatcher.shot("proposal-03-dispatch-order.png")

    # ... and dispatches it from the queue with one click
    await dispatcher.open("/web/dispatch")
    async with page.expect_navigation():
        await page.click(f"#propose-{number} button[type=submit]")
    assert "派单成功" in await dispatcher.flash()
    assert await page.locator(f"#propose-{number}").count() == 0  # no longer waiting
    order = await api.order(number)
    assert (order["state"], order["lead_unit"], order["assignee"]) == ("dispatched", "ZJJ", "ZJJ")
    assert order["proposed_unit"] == "ZJJ"
    dispatch = order["events"][-1]
    assert (dispatch["action"], dispatch["by"], dispatch["data"]["unit"]) == (
        "dispatch",
        "dispatcher",
        "ZJJ",
    )


async def test_the_queue_with_proposals_fits_a_phone(chromium, base, api):  # noqa: F811
    number = (await api.register(proposed_unit="CGJ"))["number"]
    dispatcher = Session(chromium, base, viewport=PHONE)
    page = await dispatcher.login("dispatcher", "/web/dispatch")
    assert "坐席建议:市城管局" in await page.inner_text(f"#propose-{number}")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the queue scrolls sideways at phone width ({width}px)"
    await dispatcher.shot("proposal-04-phone-dispatch-queue.png")
    async with page.expect_navigation():
        await page.click(f"#propose-{number} button[type=submit]")
    assert (await api.order(number))["lead_unit"] == "CGJ"


async def test_console_form_refuses_an_unknown_proposed_unit(browser, api):
    await browser.login("agent")
    resp = await browser.post(
        "/web/agent/register",
        {
            "hotline": "12345",
            "channel": "phone",
            "content": COMPLAINT,
            "type": "complaint",
            "urgency": "normal",
            "category": "CJ",
            "proposed_unit": "NOPE",
            "mode": "register",
        },
        page="/web/agent",
    )
    assert resp.status == 400
    text = await resp.text()
    assert "建议派往的单位不存在或已停用: NOPE" in text
    assert COMPLAINT in text  # the input is kept, the chosen category with its name
    assert '<b id="category-name">城乡建设</b>' in text
    listed = await api.call("GET", "/api/v1/orders", "supervisor")
    assert listed["total"] == 0  # nothing registered
