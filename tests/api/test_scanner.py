"""The deadline scanner raises warning then overdue exactly once, and notifies."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from app.keys import DISPATCH
from tests.api.conftest import add_user, make_api


async def test_scanner_warning_then_overdue_exactly_once(api, clock):
    # 单位领导: of the handling unit's parent (hears of it), and of another unit (does not)
    await add_user(api, username="zjj_leader", role="leader", unit="ZJJ")
    await add_user(api, username="cgj_leader", role="leader", unit="CGJ")
    number = (await api.register(type="consultation"))["number"]  # 2 working days = 14 h
    order = await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await api.act("zjj", number, "accept")
    await api.act("zjj", number, "subdispatch", unit="ZJJ-WY")
    service = api.client.app[DISPATCH]
    assert await service.scan() == []

    # 75 % of 14 working hours = 10.5 h: Monday 6 h, Tuesday 3 h + 1.5 h after lunch
    clock.at = service.policy.calendar.add_working_seconds(clock.at, 10.5 * 3600)
    assert clock.at.isoformat() == "2026-11-24T15:00:00+08:00"
    assert await service.scan() == [(number, "warning")]
    assert await service.scan() == []
    assert "warning" in (await api.order(number))["flags"]

    clock.at = clock.at + timedelta(hours=1)
    assert await service.scan() == []
    due = (await api.order(number))["finish_due"]
    assert due == "2026-11-25T10:00:00+08:00"
    clock.advance(days=2)
    assert await service.scan() == [(number, "overdue")]
    assert await service.scan() == []
    order = await api.order(number)
    assert {"warning", "overdue"} <= set(order["flags"])
    assert [e["action"] for e in order["events"]].count("overdue") == 1
    overdue = await api.call("GET", "/api/v1/orders?flag=overdue", "supervisor")
    assert [o["number"] for o in overdue["items"]] == [number]

    # the unit and the supervisors were told, in the app
    unit_news = await api.call("GET", "/api/v1/notifications", "zjj_wy")
    kinds = [n["kind"] for n in unit_news["items"]]
    assert kinds.count("warning") == 1 and kinds.count("overdue") == 1
    sup_news = await api.call("GET", "/api/v1/notifications?unread=true", "supervisor")
    assert [n["kind"] for n in sup_news["items"]].count("overdue") == 1
    first = sup_news["items"][0]
    await api.call("POST", f"/api/v1/notifications/{first['id']}/read", "supervisor")
    await api.call("POST", f"/api/v1/notifications/{first['id']}/read", "zjj", expect=404)

    # two more working days overdue (Wed 10:00 + 14 h = Thu 17:30): up to the leadership
    clock.advance(days=1)
    assert await service.scan() == [(number, "escalated")]
    assert await service.scan() == []
    # the ladder's second rung is the unit leader above the handling unit, not the admins
    leader_news = await api.call("GET", "/api/v1/notifications", "zjj_leader")
    assert [n["kind"] for n in leader_news["items"]] == ["escalated", "overdue"]
    assert "请关注" in leader_news["items"][0]["message"]
    assert (await api.call("GET", "/api/v1/notifications", "cgj_leader"))["items"] == []
    assert (await api.call("GET", "/api/v1/notifications", "admin"))["items"] == []
    # the leader sees the unit's orders, read-only
    assert (await api.order(number, user="zjj_leader"))["number"] == number
    await api.order(number, user="cgj_leader", expect=404)
    await api.act("zjj_leader", number, "reply", text="已办结", expect=403)

    # supervision with a new deadline clears the red card; it can be raised again later
    new_due = clock.at + timedelta(days=3)
    order = await api.act(
        "supervisor", number, "supervise", note="限期三日内办结", due=new_due.isoformat()
    )
    assert not {"overdue", "escalated"} & set(order["flags"])
    assert "supervised" in order["flags"]
    assert datetime.fromisoformat(order["finish_due"]) == new_due


async def test_accept_overdue_for_unaccepted_order(api, clock):
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="CGJ")
    clock.advance(hours=3)  # past 12:00: 2 working hours gone
    service = api.client.app[DISPATCH]
    assert await service.scan() == [(number, "accept_overdue")]
    assert await service.scan() == []


@pytest.mark.postgres
async def test_an_order_changed_during_the_scan_does_not_undo_its_chunk(
    aiohttp_client, postgres_server, clock, monkeypatch, caplog
):
    """The due orders of a chunk share a transaction; one changed by someone else while
    the scanner works makes the chunk go again order by order, each alarm raised once.

    PostgreSQL only: on SQLite every write goes through the one writer (app.db.Writer),
    so no other change can land while the scanner's chunk is open."""
    from tests.postgres import create_database

    api = await make_api(aiohttp_client, await create_database(postgres_server), clock)
    numbers = []
    for _ in range(3):
        number = (await api.register(type="consultation"))["number"]
        await api.act("dispatcher", number, "dispatch", unit="ZJJ")
        await api.act("zjj", number, "accept")
        numbers.append(number)
    service = api.client.app[DISPATCH]
    clock.advance(days=3)
    raise_due, meddled = service._raise_due, []

    async def meddling(session, order, now, units):
        if not meddled:  # a user acts on the last order while the first is scanned
            meddled.append(order.number)
            await api.act("supervisor", numbers[-1], "supervise", note="请加快办理")
        return await raise_due(session, order, now, units)

    monkeypatch.setattr(service, "_raise_due", meddling)
    caplog.set_level(logging.INFO, logger="dispatch.services")
    raised = await service.scan()
    assert "its chunk is redone order by order" in caplog.text
    assert sorted(n for n, flag in raised if flag == "overdue") == sorted(numbers)
    assert await service.scan() == []
    for number in numbers:
        actions = [e["action"] for e in (await api.order(number))["events"]]
        assert actions.count("overdue") == 1, (number, actions)


async def test_verify_clock_warns_then_overdue_for_supervisors(api, clock):
    """差评核实: one working day from the bad rating, warned at 75 %, then overdue."""
    number = (await api.register(type="consultation"))["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await api.act("zjj", number, "accept")
    await api.act("zjj", number, "reply", text="已处理")
    await api.act("supervisor", number, "review", approve=True)
    await api.act("agent", number, "callback", satisfaction="dissatisfied", resolved=False)
    service = api.client.app[DISPATCH]
    assert await service.scan() == []
    day = service.policy.calendar.day_seconds
    clock.at = service.policy.calendar.add_working_seconds(clock.at, 0.8 * day)
    assert await service.scan() == [(number, "verify_warning")]
    clock.at = service.policy.calendar.add_working_seconds(clock.at, 0.3 * day)
    assert await service.scan() == [(number, "verify_overdue")]
    assert await service.scan() == []
    order = await api.order(number)
    assert {"verify_pending", "verify_warning", "verify_overdue"} <= set(order["flags"])
    news = await api.call("GET", "/api/v1/notifications", "supervisor")
    kinds = [n["kind"] for n in news["items"]]
    assert kinds[:2] == ["verify_overdue", "verify_warning"]
    assert "核实时限" in news["items"][0]["message"]
    # verified: the alarms go, and none comes back
    order = await api.act("supervisor", number, "verify", valid=False, note="诉求超出职责范围")
    assert not {"verify_pending", "verify_warning", "verify_overdue"} & set(order["flags"])
    clock.advance(days=10)
    assert await service.scan() == []
