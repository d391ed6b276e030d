"""PIPL: settled orders' caller data anonymised after the configured time, a caller's
data exported on request, full phone numbers shown only with an audit line."""

from __future__ import annotations

from datetime import timedelta

from app.db import unit_of_work
from app.keys import SESSIONS
from callcenter.storage import Call, CallerLanguage
from dispatch.privacy import anonymise_due
from tests.api.conftest import Api
from tests.api.test_audit import last, lines
from tests.conftest import MONDAY_10AM


async def _closed_order(api: Api) -> str:
    number = (await api.register())["number"]
    await api.act("agent", number, "answer", text="已电话答复市民")  # replied
    await api.act("supervisor", number, "review", approve=True)
    await api.act("agent", number, "callback", satisfaction="satisfied", resolved=True)
    assert (await api.order(number))["state"] == "closed"
    return number


async def test_settled_orders_are_anonymised_after_the_period(api: Api, clock):
    sessions = api.client.app[SESSIONS]
    closed = await _closed_order(api)
    still_open = (await api.register(caller_phone="13900139000"))["number"]
    async with unit_of_work(sessions) as session:
        session.add(
            Call(
                id="c" * 32,
                hotline="12345",
                caller="13800138000",
                offered_at=MONDAY_10AM,
                order_number=closed,
            )
        )
    days = 365
    assert await anonymise_due(sessions, days, clock() + timedelta(days=364)) == []
    done = await anonymise_due(sessions, days, clock() + timedelta(days=366))
    assert done == [closed]
    order = await api.order(closed, "supervisor")
    assert (order["caller_phone"], order["caller_name"]) == (None, None)
    assert (await api.order(still_open, "supervisor"))["caller_phone"] == "13900139000"
    async with sessions() as session:
        assert (await session.get(Call, "c" * 32)).caller == ""
    line = await last(api, "pii.anonymise")
    assert (line["subject"], line["role"], line["object"]) == ("system", "system", "1 orders")
    assert line["detail"]["orders"] == [closed] and line["detail"]["calls"] == 1
    # nothing left to do: no second line
    assert await anonymise_due(sessions, days, clock() + timedelta(days=400)) == []
    assert len(await lines(api, type="pii.anonymise")) == 1
    assert "13800138000" not in str(await lines(api))  # the trail never holds a number


async def test_remembered_caller_languages_are_forgotten_after_the_period(api: Api, clock):
    sessions = api.client.app[SESSIONS]
    async with unit_of_work(sessions) as session:
        session.add(CallerLanguage(phone="13800138000", language="ug", updated_at=clock()))
        later = clock() + timedelta(days=300)
        session.add(CallerLanguage(phone="13900139000", language="en", updated_at=later))
    await anonymise_due(sessions, 365, clock() + timedelta(days=366))
    async with sessions() as session:
        assert await session.get(CallerLanguage, "13800138000") is None
        assert (await session.get(CallerLanguage, "13900139000")).language == "en"


async def test_citizen_data_export(api: Api):
    first = (await api.register())["number"]
    second = (await api.register(content="噪音扰民,夜间施工"))["number"]
    await api.register(caller_phone="13900139000")
    body = await api.call(
        "POST", "/api/v1/citizen-data/export", "supervisor", {"phone": "13800138000"}
    )
    assert [o["number"] for o in body["orders"]] == [first, second]
    assert body["orders"][0]["caller_phone"] == "13800138000" and body["orders"][0]["events"]
    line = await last(api, "pii.export")
    assert (line["subject"], line["object"]) == ("supervisor", "138****8000")
    assert line["detail"] == {"orders": [first, second]}
    for user in ("agent", "dispatcher", "zjj"):
        await api.call(
            "POST", "/api/v1/citizen-data/export", user, {"phone": "13800138000"}, expect=403
        )
    await api.call("POST", "/api/v1/citizen-data/export", "admin", {"phone": "x"}, expect=400)


async def test_full_phone_numbers_shown_are_audited(api: Api):
    number = (await api.register())["number"]
    await api.order(number, "dispatcher")
    line = await last(api, "phone.view")
    assert (line["subject"], line["object"], line["detail"]["where"]) == (
        "dispatcher",
        number,
        "api.order",
    )
    await api.call("GET", "/api/v1/orders?caller_phone=13800138000", "agent")
    line = await last(api, "phone.view")
    assert (line["subject"], line["detail"]["objects"]) == ("agent", [number])
    # a unit sees the number masked: nothing to record
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    before = len(await lines(api, type="phone.view"))
    order = await api.order(number, "zjj")
    assert order["caller_phone"] == "138****8000"
    assert len(await lines(api, type="phone.view")) == before
