"""End to end in headless Chromium against the real server (DESIGN §9 Web UI, issue 5).

Every screen is saved under test-output/screenshots/ for a person to look at. Skipped
when Playwright or /usr/bin/chromium is missing, unless HOTLINE_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.keys import DISPATCH
from tests.conftest import PASSWORD
from tests.web.conftest import CALLER_PHONE, KB_ENTRY, MASKED_PHONE

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
TIMEOUT_MS = 10_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture
async def chromium() -> AsyncIterator:
    if reason := _missing():
        if os.environ.get("HOTLINE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"HOTLINE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Session:
    """One person at one browser: logs in, looks, clicks, and photographs the screen."""

    def __init__(self, browser, base: str, viewport: dict = DESKTOP) -> None:
        self.browser, self.base, self.viewport = browser, base, viewport
        self.page = None
        # Uncaught script errors of every page this person opened.
        self.errors: list[str] = []

    async def login(self, username: str, home: str, shot: str | None = None):
        context = await self.browser.new_context(viewport=self.viewport, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        self.page = page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        await page.goto(self.base + "/login")
        if shot:
            await self.shot(shot)
        await page.fill("input[name=username]", username)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]:has-text('登录')")
        await page.wait_for_url(self.base + home)
        return page

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(SHOTS / name), full_page=True)

    async def open(self, path: str) -> None:
        await self.page.goto(self.base + path)

    async def submit(self, form: str) -> None:
        """Click a form's submit button and wait for the page it leads to."""
        async with self.page.expect_navigation():
            await self.page.click(f"#form-{form} button[type=submit]")

    async def flash(self) -> str:
        return await self.page.inner_text(".flash")


@pytest.fixture
def base(web_client) -> str:
    return str(web_client.make_url("")).rstrip("/")


async def test_a_request_from_call_to_callback(chromium, base, api):
    # 话务员: a consultation answered from the knowledge base in one click
    agent = Session(chromium, base)
    page = await agent.login("agent", "/web/agent", shot="01-login.png")
    await agent.shot("02-agent-console.png")
    await page.fill("#caller_phone", CALLER_PHONE)
    await page.fill("#content", "我租房子住,想把公积金取出来怎么办")
    hit = page.locator(".kb-hit").first
    await hit.wait_for()
    assert KB_ENTRY["title"] in await hit.inner_text()
    await agent.shot("03-agent-suggestions.png")
    await hit.locator("button.use-kb").click()  # fills the answer box, posts nothing
    assert await page.input_value("#answer_text") == KB_ENTRY["answer"]
    await page.click("#btn-answer")  # asks for a confirming click
    async with page.expect_navigation():
        await page.click("#btn-answer")
    assert "已登记并直接答复" in await agent.flash()

    # ... and a complaint registered for dispatch
    await page.fill("#caller_phone", CALLER_PHONE)
    await page.fill("input[name=caller_name]", "王先生")
    await page.fill("#address", "东湖区湖滨街道锦绣花园")
    await page.fill("#content", "小区物业不作为,楼道垃圾无人清理,多次反映无果")
    await page.locator("#history-list li a").first.wait_for()  # the caller's last order
    assert "城乡建设" in await page.inner_text("#category-list")
    await page.select_option("#type", "complaint")
    async with page.expect_navigation():
        await page.click("#btn-register")
    flash = await agent.flash()
    assert "等待派单" in flash
    number = re.search(r"工单 (\d+)", flash).group(1)

    # 派单员: the queue, the order with its suggestions, dispatch
    dispatcher = Session(chromium, base)
    page = await dispatcher.login("dispatcher", "/web/dispatch")
    assert number in await page.inner_text("main")
    await dispatcher.shot("04-dispatch-queue.png")
    await page.click(f"a:text('{number}')")
    assert await page.inner_text("#caller-phone") == CALLER_PHONE
    await dispatcher.shot("05-dispatch-order.png")
    await page.click("#dispatch-suggestions [data-pick-unit=ZJJ]")  # the suggested unit
    assert await page.input_value("#form-dispatch select[name=unit]") == "ZJJ"
    await dispatcher.submit("dispatch")
    assert "派单成功" in await dispatcher.flash()

    # 承办单位: the inbox with its countdown; accept and reply
    unit = Session(chromium, base)
    page = await unit.login("zjj", "/web/unit")
    assert "剩余" in await page.inner_text(f"tr:has(a:text('{number}')) .due")
    await unit.shot("06-unit-inbox.png")
    await page.click(f"a:text('{number}')")
    assert await page.inner_text("#caller-phone") == MASKED_PHONE
    await unit.shot("07-unit-order.png")
    await unit.submit("accept")
    await page.fill(
        "#form-reply textarea[name=text]", "已责成物业公司当日清理楼道,并建立每日保洁制度。"
    )
    await unit.submit("reply")
    assert "已答复" in await page.inner_text("h1")

    # 督办/审核员: approve the reply, record the callback
    supervisor = Session(chromium, base)
    page = await supervisor.login("supervisor", "/web/supervise")
    await supervisor.shot("08-supervise.png")
    await page.click(f"a:text('{number}')")
    await supervisor.submit("review")
    await page.check("#form-callback input[name=satisfaction][value=satisfied]")
    await page.check("#form-callback input[name=resolved][value='1']")
    await page.fill("#form-callback input[name=note]", "市民表示满意")
    await supervisor.submit("callback")
    assert "已办结" in await page.inner_text("h1")
    log = await page.inner_text("#events")
    for label in ("登记", "派单", "签收", "答复", "审核", "回访"):
        assert label in log
    await supervisor.shot("09-order-closed.png")
    assert (await api.order(number))["state"] == "closed"

    # another unit cannot open the order, not even by its number
    other = Session(chromium, base)
    page = await other.login("cgj", "/web/unit")
    await other.open(f"/web/orders/{number}")
    assert "页面不存在" in await page.inner_text("main")
    await other.shot("10-other-unit-404.png")


async def test_return_redispatch_and_overdue(chromium, base, api, web_client, clock):
    number = (await api.register(caller_phone=CALLER_PHONE))["number"]
    await api.act("dispatcher", number, "dispatch", unit="CGJ")

    # the wrong unit returns it with a reason
    wrong = Session(chromium, base)
    page = await wrong.login("cgj", "/web/unit")
    await page.click(f"a:text('{number}')")
    await page.click("#box-return summary")  # folded: 签收 is the usual next step
    await page.fill("#form-return textarea[name=reason]", "不属于城管职责,应由住建局物业科处理")
    await page.click("#form-return button[type=submit]")  # asks first (issue 15 #10)
    await wrong.submit("return")
    assert "退单成功" in await wrong.flash()

    # the dispatcher sees why and re-dispatches
    dispatcher = Session(chromium, base)
    page = await dispatcher.login("dispatcher", "/web/dispatch")
    assert "应由住建局物业科处理" in await page.inner_text("main")
    await dispatcher.shot("11-dispatch-returned.png")
    await page.click(f"a:text('{number}')")
    assert "应由住建局物业科处理" in await page.inner_text("#return-reason")
    await page.select_option("#form-redispatch select[name=unit]", "ZJJ-WY")
    await dispatcher.submit("redispatch")
    assert "改派成功" in await dispatcher.flash()

    # a day later nobody has accepted it: the scanner raises the red card
    clock.advance(days=1)
    await web_client.app[DISPATCH].scan()
    unit = Session(chromium, base)
    page = await unit.login("zjj_wy", "/web/unit")
    due = page.locator(f"tr:has(a:text('{number}')) .due")
    assert "overdue" in await due.get_attribute("class")
    assert "已超期" in await due.inner_text()
    await unit.shot("12-unit-overdue.png")

    supervisor = Session(chromium, base)
    page = await supervisor.login("supervisor", "/web/supervise")
    assert number in await page.inner_text("main")
    await supervisor.shot("13-supervise-alarms.png")
    await page.click(f"a:text('{number}')")
    await page.fill("#form-supervise textarea[name=note]", "请今日内签收并联系市民")
    await supervisor.submit("supervise")
    assert "督办成功" in await supervisor.flash()
    assert "请今日内签收并联系市民" in await page.inner_text("#events")


async def test_screens_fit_a_phone(chromium, base, api):
    number = (await api.register(caller_phone=CALLER_PHONE))["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    for username, home, name in (
        ("agent", "/web/agent", "14-phone-agent.png"),
        ("zjj", "/web/unit", "15-phone-unit.png"),
    ):
        person = Session(chromium, base, viewport=PHONE)
        page = await person.login(username, home)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{home} scrolls sideways at phone width ({width}px)"
        await person.shot(name)
    await person.open(f"/web/orders/{number}")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    await person.shot("16-phone-order.png")
