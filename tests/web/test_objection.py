"""派单异议 in the browser (国办函〔2025〕66号; issue 15, sub-platform/leaders part): the unit
objects from its order page, the dispatcher finds it in the 派单异议 queue and decides it
on the order page (accept → another unit, reject → back to the unit)."""

from __future__ import annotations

import shutil

from tests.web.conftest import CALLER_PHONE
from tests.web.test_browser import SHOTS, Session, base, chromium  # noqa: F401
from tests.web.test_proposal import DOCS
from tests.web.test_supervisor_screens import _confirm

CONTENT = "夜市占道经营,油烟噪音扰民到深夜"
REASON = "该路段夜市由东湖区街道审批管理,建议派至东湖区政府"


async def _dispatched(api) -> str:
    number = (await api.register(caller_phone=CALLER_PHONE, content=CONTENT))["number"]
    await api.act("dispatcher", number, "dispatch", unit="CGJ")
    return number


async def test_a_unit_objects_and_the_dispatcher_decides(chromium, base, api):  # noqa: F811
    accepted, rejected = await _dispatched(api), await _dispatched(api)
    await api.act("cgj", rejected, "object", reason="不属于本局")

    unit = Session(chromium, base)
    page = await unit.login("cgj", "/web/unit")
    await unit.open(f"/web/orders/{accepted}")
    await page.click("#box-object summary")
    await page.fill("#form-object textarea[name=reason]", REASON)
    await unit.shot("objection-01-unit.png")
    shutil.copyfile(SHOTS / "objection-01-unit.png", DOCS / "web-unit-objection.png")
    await _confirm(unit, "object", "确认提出派单异议")
    assert "派单异议成功" in await unit.flash()
    order = await api.order(accepted)
    assert order["state"] == "returned" and "objected" in order["flags"]
    assert unit.errors == []

    disp = Session(chromium, base)
    page = await disp.login("dispatcher", "/web/dispatch")
    queue = await page.inner_text("#objections")
    assert accepted in queue and rejected in queue and REASON in queue
    await disp.shot("objection-02-queue.png")
    shutil.copyfile(SHOTS / "objection-02-queue.png", DOCS / "web-dispatch-objections.png")

    await disp.open(f"/web/orders/{accepted}")
    assert REASON in await page.inner_text("#objection")
    assert await page.get_attribute("#box-object_decide", "open") is not None
    assert await page.locator("#form-redispatch").count() == 0  # decided, not overridden
    await page.check("#form-object_decide input[name=accept][value='1']")
    await page.select_option("#object_decide-unit", "DHQ")
    await page.fill("#form-object_decide input[name=note]", "异议成立,改派东湖区")
    await disp.shot("objection-03-decide.png")
    shutil.copyfile(SHOTS / "objection-03-decide.png", DOCS / "web-order-objection-decide.png")
    await _confirm(disp, "object_decide", "确认审核结果")
    assert "派单异议审核成功" in await disp.flash()
    order = await api.order(accepted)
    assert (order["state"], order["lead_unit"]) == ("dispatched", "DHQ")

    # rejected without a reason: refused in Chinese; with one: back to the unit
    await disp.open(f"/web/orders/{rejected}")
    await page.check("#form-object_decide input[name=accept][value='0']")
    await _confirm(disp, "object_decide", "确认审核结果")
    assert "请填写驳回理由" in await disp.flash()
    await page.check("#form-object_decide input[name=accept][value='0']")
    await page.fill("#form-object_decide input[name=note]", "属城管执法职责,请办理")
    await _confirm(disp, "object_decide", "确认审核结果")
    order = await api.order(rejected)
    assert (order["state"], order["lead_unit"]) == ("dispatched", "CGJ")
    assert "objected" not in order["flags"]
    await disp.open("/web/dispatch")
    assert "暂无待审核的派单异议" in await page.inner_text("#objections")
    assert disp.errors == []

    # the unit sees the decision in the order's history
    await unit.open(f"/web/orders/{rejected}")
    events = await unit.page.inner_text("#events")
    assert "派单异议" in events and "派单异议审核" in events and "属城管执法职责" in events
    assert unit.errors == []
