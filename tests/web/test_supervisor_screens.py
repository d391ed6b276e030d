"""督办 after a supervisor's walk (issue 15, supervisor part): 延期审批, 差评核实 and 重办
from the order page, each a form with a confirming click where it cannot be undone."""

from __future__ import annotations

import shutil

from tests.web.conftest import CALLER_PHONE
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS

CONTENT = "小区物业不作为,楼道垃圾无人清理,多次反映无果"


async def _accepted(api, unit: str = "ZJJ", user: str = "zjj") -> str:
    number = (await api.register(caller_phone=CALLER_PHONE, content=CONTENT))["number"]
    await api.act("dispatcher", number, "dispatch", unit=unit)
    await api.act(user, number, "accept")
    return number


async def _rated_badly(api) -> str:
    """Replied, reviewed, and a 差评 from the callback: waiting for 核实."""
    number = await _accepted(api)
    await api.act("zjj", number, "reply", text="已督促物业清理")
    await api.act("supervisor", number, "review", approve=True)
    await api.act("supervisor", number, "callback", satisfaction="dissatisfied", resolved=False)
    return number


async def _confirm(session: Session, form: str, question: str) -> None:
    """The two clicks of a `data-confirm` button: the first asks, the second posts."""
    button = session.page.locator(f"#form-{form} button[type=submit]")
    await button.click()
    assert question in await button.inner_text()
    async with session.page.expect_navigation():
        await button.click()


async def test_supervisor_decides_an_extension(chromium, base, api):  # noqa: F811
    number = await _accepted(api)
    await api.act("zjj", number, "extend_request", days=3, reason="需协调多个部门现场处理")
    before = (await api.order(number))["finish_due"]
    sup = Session(chromium, base)
    page = await sup.login("supervisor", "/web/supervise")
    await sup.open(f"/web/orders/{number}")
    assert await page.get_attribute("#box-extend_decide", "open") is not None  # opened first
    request = await page.inner_text("#extension-request")
    assert "3" in request and "需协调多个部门现场处理" in request
    await page.check("#form-extend_decide input[name=approve][value='1']")
    await page.fill("#form-extend_decide input[name=note]", "同意延期")
    await sup.shot("supervisor-01-extension.png")
    shutil.copyfile(SHOTS / "supervisor-01-extension.png", DOCS / "web-supervisor-extension.png")
    await _confirm(sup, "extend_decide", "确认")
    assert "延期审批成功" in await sup.flash()
    order = await api.order(number)
    assert order["finish_due"] > before and order["extensions"] == 1
    assert "extension_pending" not in order["flags"]
    assert not await page.is_visible("#form-extend_decide")  # nothing left to decide

    # a second request, refused
    await api.act("zjj", number, "extend_request", days=2, reason="再延两天")
    await sup.open(f"/web/orders/{number}")
    await page.check("#form-extend_decide input[name=approve][value='0']")
    await _confirm(sup, "extend_decide", "确认")
    order = await api.order(number)
    assert order["extensions"] == 1 and "extension_pending" not in order["flags"]
    assert sup.errors == []


async def test_supervisor_verifies_a_bad_rating(chromium, base, api):  # noqa: F811
    valid, invalid = await _rated_badly(api), await _rated_badly(api)
    sup = Session(chromium, base)
    page = await sup.login("supervisor", "/web/supervise")
    await sup.open(f"/web/orders/{valid}")
    assert await page.get_attribute("#box-verify", "open") is not None
    await page.check("#form-verify input[name=valid][value='1']")
    await page.fill("#form-verify textarea[name=note]", "经核实物业仍未清理,重办整改")
    button = page.locator("#form-verify button[type=submit]")
    await button.click()
    assert "确认核实" in await button.inner_text()
    assert (await api.order(valid))["state"] == "callback_pending"  # not posted yet
    await sup.shot("supervisor-02-verify.png")
    shutil.copyfile(SHOTS / "supervisor-02-verify.png", DOCS / "web-supervisor-verify.png")
    async with page.expect_navigation():
        await button.click()
    assert "差评核实成功" in await sup.flash()
    order = await api.order(valid)
    assert order["state"] == "dispatched" and "reopened" in order["flags"]

    await sup.open(f"/web/orders/{invalid}")
    await page.check("#form-verify input[name=valid][value='0']")
    await page.fill("#form-verify textarea[name=note]", "诉求超出职能范围,已解释")
    await _confirm(sup, "verify", "确认核实")
    order = await api.order(invalid)
    assert order["state"] == "closed" and order["satisfaction"] == "dissatisfied"
    assert "verify_pending" not in order["flags"]
    assert sup.errors == []


async def test_supervisor_reopens_a_closed_order(chromium, base, api):  # noqa: F811
    number = await _accepted(api)
    await api.act("zjj", number, "reply", text="已处理")
    await api.act("supervisor", number, "review", approve=True)
    await api.act("supervisor", number, "callback", satisfaction="satisfied", resolved=True)
    assert (await api.order(number))["state"] == "closed"
    sup = Session(chromium, base)
    page = await sup.login("supervisor", "/web/supervise")
    await sup.open(f"/web/orders/{number}")
    assert await page.get_attribute("#box-reopen", "open") is not None  # the only action
    await page.fill("#form-reopen textarea[name=reason]", "市民再次来电反映问题复发")
    await _confirm(sup, "reopen", "确认重办")
    assert "重办成功" in await sup.flash()
    order = await api.order(number)
    assert order["state"] == "dispatched" and order["reopen_count"] == 1
    assert "市民再次来电反映问题复发" in await page.inner_text("#events")
    assert sup.errors == []


async def test_verify_clock_on_the_board(chromium, base, api, clock):  # noqa: F811
    """核实 within 1 working day of the rating, on the working calendar: the board lists
    the 差评 oldest deadline first, coloured, with the count of those overdue."""
    late = await _rated_badly(api)  # Monday 10:00: due Tuesday 10:00 (7 working hours)
    clock.advance(days=1, hours=2)
    fresh = await _rated_badly(api)  # Tuesday 12:00
    sup = Session(chromium, base)
    page = await sup.login("supervisor", "/web/supervise")
    rows = page.locator("#verify-list tbody tr")
    assert await rows.count() == 2
    assert late in await rows.nth(0).inner_text() and fresh in await rows.nth(1).inner_text()
    assert "overdue" in await rows.nth(0).locator(".verify-due").get_attribute("class")
    assert "已超期" in await rows.nth(0).locator(".verify-due").inner_text()
    assert "ok" in await rows.nth(1).locator(".verify-due").get_attribute("class")
    assert await page.inner_text("#verify-overdue") == "核实超期 1"
    await page.locator("#verify-list").screenshot(path=str(SHOTS / "supervisor-03-board.png"))
    shutil.copyfile(SHOTS / "supervisor-03-board.png", DOCS / "web-supervisor-verify-board.png")
    await sup.open(f"/web/orders/{fresh}")
    due = await page.inner_text("#verify-due")
    assert "核实时限" in due and "剩余" in due
    assert sup.errors == []


async def test_ranking_compares_this_month_so_far_with_as_long_before(chromium, base, api):  # noqa: F811
    """本月 is the month so far (Monday 23 November: 1–23 November), compared with the
    period of equal length just before (9–31 October), with the orders per unit."""
    for unit in ("ZJJ", "ZJJ", "ZJJ", "CGJ"):
        number = (await api.register(caller_phone=CALLER_PHONE, content=CONTENT))["number"]
        await api.act("dispatcher", number, "dispatch", unit=unit)
    sup = Session(chromium, base)
    page = await sup.login("supervisor", "/web/supervise")
    await sup.open("/web/supervise/ranking")
    title = await page.inner_text("main section.card h2")
    assert "2026-11-01 至 2026-11-24" in title and "2026-10-09 至 2026-11-01" in title
    expected = await api.call(
        "GET", "/api/v1/stats/ranking?from=2026-11-01&to=2026-11-24", "supervisor"
    )
    assert expected["previous_from"][:10] == "2026-10-09"
    orders = {r["key"]: r["orders"] for r in expected["rows"]}
    assert orders["ZJJ"] == 3 and orders["CGJ"] == 1
    for key, count in orders.items():
        cell = page.locator(f"#ranking tr[data-unit='{key}'] .orders")
        assert await cell.inner_text() == str(count)
    await sup.shot("supervisor-04-ranking.png")
    assert sup.errors == []
