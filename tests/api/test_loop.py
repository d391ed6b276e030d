"""The whole closed loop of DESIGN §4 through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from app.keys import SESSIONS
from dispatch.org import set_unit_active
from tests.api.conftest import make_api


async def test_full_loop_with_return_subdispatch_extension_and_reopen(
    aiohttp_client, any_db_url, clock
):
    api = await make_api(aiohttp_client, any_db_url, clock)
    order = await api.register()
    number = order["number"]
    assert order["state"] == "registered"
    assert len(number) == 14 and number.startswith("20261123")
    assert set(order["suggestions"]) >= {"category", "unit", "kb", "duplicates"}

    order = await api.act("dispatcher", number, "dispatch", unit="CGJ")
    assert order["state"] == "dispatched" and order["lead_unit"] == "CGJ"
    assert order["accept_due"] == "2026-11-23T12:00:00+08:00"  # 2 working hours
    # complaint: 15 working days of 7 h from Monday 10:00
    assert order["finish_due"] == "2026-12-14T10:00:00+08:00"

    clock.advance(hours=1)
    order = await api.act("cgj", number, "return", reason="不属于本单位职责,应由住建部门处理")
    assert order["state"] == "returned"
    assert "disputed" in order["flags"] and "clock_stopped" in order["flags"]

    clock.advance(days=1)  # Tuesday 11:00: a working day spent while the clock stood still
    order = await api.act("dispatcher", number, "redispatch", unit="ZJJ")
    assert order["state"] == "dispatched" and order["lead_unit"] == "ZJJ"
    # 1 h of the 105 h budget was used before the return: the due moves by the 7 h stopped
    assert order["finish_due"] == "2026-12-15T10:00:00+08:00"
    assert order["accept_due"] == "2026-11-24T14:30:00+08:00"

    clock.advance(minutes=30)
    order = await api.act("zjj", number, "accept")
    assert order["state"] == "accepted"
    order = await api.act("zjj", number, "subdispatch", unit="ZJJ-WY")
    assert order["assignee"] == "ZJJ-WY" and order["lead_unit"] == "ZJJ"
    # the sub-unit sees it and can work on it
    await api.order(number, user="zjj_wy")

    order = await api.act("zjj_wy", number, "extend_request", days=5, reason="需协调多个部门")
    assert "extension_pending" in order["flags"]
    order = await api.act("supervisor", number, "extend_decide", approve=True)
    assert order["extensions"] == 1 and "extended" in order["flags"]
    assert order["finish_due"] == "2026-12-22T10:00:00+08:00"

    clock.advance(days=2)
    order = await api.act("zjj_wy", number, "reply", text="已约谈物业公司,楼道垃圾已清理完毕")
    assert order["state"] == "replied"
    order = await api.act("supervisor", number, "review", approve=False, note="答复过于简单")
    assert order["state"] == "accepted"
    order = await api.act("zjj_wy", number, "reply", text="已约谈物业公司并建立每日清扫台账")
    order = await api.act("supervisor", number, "review", approve=True)
    assert order["state"] == "callback_pending"

    order = await api.act("agent", number, "callback", satisfaction="dissatisfied", resolved=False)
    assert order["state"] == "callback_pending" and "verify_pending" in order["flags"]
    order = await api.act("supervisor", number, "verify", valid=True, note="核实属实,重办整改")
    assert order["state"] == "dispatched" and order["reopen_count"] == 1
    assert order["lead_unit"] == "ZJJ" and "reopened" in order["flags"]

    await api.act("zjj", number, "accept")
    await api.act("zjj", number, "reply", text="整改完毕,物业已更换保洁公司")
    await api.act("supervisor", number, "review", approve=True)
    order = await api.act("agent", number, "callback", satisfaction="satisfied", resolved=True)
    assert order["state"] == "closed"
    assert order["satisfaction"] == "satisfied" and order["resolved"] is True

    actions = [e["action"] for e in order["events"]]
    assert actions == [
        "register",
        "dispatch",
        "return",
        "redispatch",
        "accept",
        "subdispatch",
        "extend_request",
        "extend_decide",
        "reply",
        "review",
        "reply",
        "review",
        "callback",
        "verify",
        "accept",
        "reply",
        "review",
        "callback",
    ]
    states = [(e["from"], e["to"]) for e in order["events"]]
    assert states[0] == (None, "registered") and states[-1] == ("callback_pending", "closed")


async def test_direct_answer_merge_and_invalid(api, clock):
    parent = (await api.register(content="路灯不亮", type="complaint"))["number"]
    child = (await api.register(content="同一路段路灯不亮", type="complaint"))["number"]
    spam = (await api.register(content="无意义来电"))["number"]
    ask = (await api.register(content="公积金怎么提取", type="consultation"))["number"]

    order = await api.act("agent", child, "merge", parent=parent)
    assert order["state"] == "merged" and order["parent"] == parent
    order = await api.act("agent", spam, "invalidate", reason="骚扰电话")
    assert order["state"] == "invalid"
    order = await api.act("agent", ask, "answer", text="可通过公积金中心网上大厅办理提取")
    assert order["state"] == "replied" and "direct" in order["flags"]
    await api.act("supervisor", ask, "review", approve=True)
    order = await api.act("agent", ask, "callback", satisfaction="basic", resolved=True)
    assert order["state"] == "closed"
    # the parent's reply closes the merged child with the same answer
    await api.act("dispatcher", parent, "dispatch", unit="CGJ")
    await api.act("cgj", parent, "accept")
    await api.act("cgj", parent, "reply", text="路灯已全部修复")
    child_order = await api.order(child)
    assert child_order["state"] == "closed"
    assert child_order["events"][-1]["action"] == "parent_replied"
    assert child_order["events"][-1]["note"] == "路灯已全部修复"
    # a replied order cannot take new children; a merged one cannot be a parent
    late = (await api.register())["number"]
    err = await api.act("agent", late, "merge", parent=parent, expect=400)
    assert err["error"]["code"] == "invalid_parent"
    other = (await api.register())["number"]
    err = await api.act("agent", other, "merge", parent=child, expect=400)
    assert err["error"]["code"] == "invalid_parent"


async def test_the_agents_proposed_unit_is_recorded_shown_and_never_dispatches(api):
    """建议派往: an optional registration field, validated, kept in the register event."""
    order = await api.register(proposed_unit="CGJ")
    assert order["proposed_unit"] == "CGJ"
    assert order["state"] == "registered" and order["lead_unit"] is None
    assert order["events"][0]["data"]["proposed_unit"] == "CGJ"
    number = order["number"]
    listed = await api.call("GET", f"/api/v1/orders?q={number}", "dispatcher")
    assert [o["proposed_unit"] for o in listed["items"]] == ["CGJ"]
    order = await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    assert (order["lead_unit"], order["proposed_unit"]) == ("ZJJ", "CGJ")
    assert (await api.register())["proposed_unit"] is None

    for code in ("NOPE", "ZJJ-WY-X"):
        err = await api.call(
            "POST",
            "/api/v1/orders",
            "agent",
            {"channel": "phone", "hotline": "12345", "content": "路灯不亮", "proposed_unit": code},
            expect=400,
        )
        assert err["error"]["code"] == "unknown_unit"
        assert "建议派往的单位" in err["error"]["message"]
    async with api.client.app[SESSIONS]() as session, session.begin():
        await set_unit_active(session, "DHQ-DH", False)
    err = await api.call(
        "POST",
        "/api/v1/orders",
        "agent",
        {"channel": "phone", "hotline": "12345", "content": "路灯不亮", "proposed_unit": "DHQ-DH"},
        expect=400,
    )
    assert err["error"]["code"] == "unknown_unit"
