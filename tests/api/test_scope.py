"""Authorisation: unit scope, sub-platform hotlines, masked phone numbers."""

from __future__ import annotations


async def test_unit_isolation(api):
    cgj_order = (await api.register(content="占道经营"))["number"]
    await api.act("dispatcher", cgj_order, "dispatch", unit="CGJ")
    wy_order = (await api.register(content="物业纠纷"))["number"]
    await api.act("dispatcher", wy_order, "dispatch", unit="ZJJ-WY")

    # another unit's order: 404, as if it did not exist
    err = await api.order(cgj_order, user="zjj", expect=404)
    assert err["error"]["code"] == "order_not_found"
    await api.act("zjj", cgj_order, "accept", expect=404)
    # a sub-unit's order is visible to its parent unit, not to a sibling
    assert (await api.order(wy_order, user="zjj"))["lead_unit"] == "ZJJ-WY"
    await api.order(wy_order, user="cgj", expect=404)
    # lists are scoped the same way
    zjj_list = await api.call("GET", "/api/v1/orders", "zjj")
    assert [o["number"] for o in zjj_list["items"]] == [wy_order]
    assert (await api.call("GET", "/api/v1/orders", "zjj_wy"))["total"] == 1
    assert (await api.call("GET", "/api/v1/orders", "dhq"))["total"] == 0
    assert (await api.call("GET", "/api/v1/orders", "supervisor"))["total"] == 2


async def test_phone_masked_for_units_and_hidden_when_confidential(api):
    number = (await api.register(caller_phone="13912345678"))["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    assert (await api.order(number, "supervisor"))["caller_phone"] == "13912345678"
    seen = await api.order(number, "zjj")
    assert seen["caller_phone"] == "139****5678"
    assert "tracking_token" not in seen

    secret = (await api.register(caller_phone="13912345678", confidential=True))["number"]
    await api.act("dispatcher", secret, "dispatch", unit="ZJJ")
    seen = await api.order(secret, "zjj")
    assert seen["caller_phone"] is None and seen["caller_name"] == "保密"


async def test_subplatform_manager_sees_only_its_hotline(api):
    central = (await api.register(hotline="12345"))["number"]
    safety = (await api.register(hotline="12350", content="厂房消防通道堵塞"))["number"]
    listed = await api.call("GET", "/api/v1/orders", "aq_dispatcher")
    assert [o["number"] for o in listed["items"]] == [safety]
    await api.order(central, "aq_dispatcher", expect=404)
    await api.act("aq_dispatcher", safety, "dispatch", unit="DHQ")
    await api.act("aq_dispatcher", central, "dispatch", unit="DHQ", expect=404)


async def test_filters(api):
    a = (await api.register(content="路灯不亮"))["number"]
    b = (await api.register(content="噪音扰民"))["number"]
    await api.act("dispatcher", a, "dispatch", unit="DHQ-DH")
    by_state = await api.call("GET", "/api/v1/orders?state=dispatched", "supervisor")
    assert [o["number"] for o in by_state["items"]] == [a]
    by_unit = await api.call("GET", "/api/v1/orders?unit=DHQ", "supervisor")
    assert [o["number"] for o in by_unit["items"]] == [a]
    by_text = await api.call("GET", "/api/v1/orders?q=噪音", "supervisor")
    assert [o["number"] for o in by_text["items"]] == [b]
    paged = await api.call("GET", "/api/v1/orders?page=2&page_size=1", "supervisor")
    assert paged["total"] == 2 and len(paged["items"]) == 1 and paged["page_size"] == 1
    err = await api.call("GET", "/api/v1/orders?unit=NOPE", "supervisor", expect=400)
    assert err["error"]["code"] == "unknown_unit"
