"""派单异议 (国办函〔2025〕66号) through the API: the lead unit objects to a dispatch with a
reason, the clocks stop, the centre accepts (re-dispatch, the new unit starts afresh) or
rejects (the unit handles it, the clocks run on)."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.keys import DISPATCH


async def _dispatched(api, unit: str = "CGJ") -> str:
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit=unit)
    return number


async def test_rejected_objection_sends_the_order_back_with_its_clock(api, clock):
    number = await _dispatched(api)
    await api.act("cgj", number, "accept")
    due = datetime.fromisoformat((await api.order(number))["finish_due"])
    await api.act("cgj", number, "object", reason="", expect=400)
    order = await api.act("cgj", number, "object", reason="占道经营属街道职责,非本局")
    assert order["state"] == "returned"
    assert {"objected", "clock_stopped"} <= set(order["flags"])
    assert "disputed" not in order["flags"]  # not a plain 退单
    news = await api.call("GET", "/api/v1/notifications", "dispatcher")
    assert news["items"][0]["kind"] == "object" and "派单异议" in news["items"][0]["message"]
    # no plain re-dispatch while the objection waits; the unit cannot decide it
    await api.act("dispatcher", number, "redispatch", unit="DHQ", expect=400)
    await api.act("cgj", number, "object_decide", accept=False, note="x", expect=403)
    await api.act("dispatcher", number, "object_decide", accept=False, expect=400)  # reason

    clock.advance(hours=2)  # the review's time is not the unit's
    order = await api.act(
        "dispatcher", number, "object_decide", accept=False, note="属城管执法范围,请办理"
    )
    assert order["state"] == "accepted" and order["lead_unit"] == "CGJ"
    assert not {"objected", "clock_stopped"} & set(order["flags"])
    assert datetime.fromisoformat(order["finish_due"]) > due
    assert [e["action"] for e in order["events"]][-2:] == ["object", "object_decide"]
    news = await api.call("GET", "/api/v1/notifications", "cgj")
    assert "未被采纳" in news["items"][0]["message"]
    await api.act("cgj", number, "reply", text="已处理")


async def test_accepted_objection_redispatches_with_a_fresh_deadline(api, clock):
    number = await _dispatched(api)
    first_due = datetime.fromisoformat((await api.order(number))["finish_due"])
    clock.advance(hours=1)
    await api.act("cgj", number, "object", reason="属东湖区管辖")
    await api.act("supervisor", number, "object_decide", accept=True, expect=400)  # no unit
    await api.act(
        "supervisor", number, "object_decide", accept=True, unit="CGJ", expect=400
    )  # the same unit
    clock.advance(days=3)
    order = await api.act(
        "supervisor", number, "object_decide", accept=True, unit="DHQ", note="异议成立"
    )
    assert order["state"] == "dispatched" and order["lead_unit"] == "DHQ"
    # the whole 15 working days again, from the decision: the objecting unit's time and
    # the review's do not count
    due = datetime.fromisoformat(order["finish_due"])
    calendar = api.client.app[DISPATCH].policy.calendar
    assert due == calendar.add_working_seconds(clock.at, 15 * calendar.day_seconds)
    assert due - first_due > timedelta(days=2)
    await api.order(number, user="cgj", expect=404)  # the objecting unit is off it
    news = await api.call("GET", "/api/v1/notifications", "dhq")
    assert "改派至本单位" in news["items"][0]["message"]
    await api.act("dhq", number, "accept")


async def test_objection_limits(api, clock):
    number = await _dispatched(api, "ZJJ")
    await api.act("zjj", number, "accept")
    await api.act("zjj", number, "subdispatch", unit="ZJJ-WY")
    await api.act("zjj_wy", number, "object", reason="不归我科", expect=400)
    late = await _dispatched(api)
    clock.advance(days=5)
    body = await api.act("cgj", late, "object", reason="非本局职责", expect=400)
    assert body["error"]["code"] == "return_window_closed"
    await api.act("dhq", late, "object", reason="非本单位", expect=404)
