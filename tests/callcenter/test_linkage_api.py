# ruff: noqa: F811 (the scenario's fixtures are imported and used as parameters)
"""应急联动 through the HTTP API on the real app, real SIP on 127.0.0.1: the citizen and
the agent on the softphone, the 119 gateway a SIPp UAS. The hand-over record on the call
and the order (its event and the audit line), the console's events, the manual record;
bad input is a JSON error that changes nothing, never a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from accounts.domain import Actor, Role
from app.factory import create_app
from app.keys import CALLCENTER
from callcenter import desk, linkage
from config import LinkageSettings, SipSettings
from tests.api.conftest import Api, add_user, seed
from tests.api.test_audit import lines
from tests.callcenter.gateway import Gateway
from tests.callcenter.test_intake import assert_idle
from tests.callcenter.test_scenario import phone  # noqa: F401 (fixture)
from tests.conftest import make_settings
from tests.web.conftest import Browser


@pytest.fixture
async def gateway(sip_tools, tmp_path: Path):
    gateway = await Gateway(tmp_path, "answer", hold_ms=60_000).start()
    yield gateway
    await gateway.stop()


@pytest.fixture
async def client(aiohttp_client, any_db_url, clock, sip_settings: SipSettings, gateway):
    settings = make_settings(any_db_url)
    settings.web.session_key = Fernet.generate_key().decode()
    settings.sip = sip_settings.model_copy(
        update={"enabled": True, "ring_timeout_seconds": 5, "wrap_up_seconds": 0.5}
    )
    settings.linkage = LinkageSettings(
        gateways={"119": gateway.uri("119"), "110": gateway.uri("110")}, ring_timeout_seconds=5
    )
    return await aiohttp_client(create_app(settings, now=clock, scanner=False))


async def linkage_event(ws, state: str) -> dict:
    while True:
        event = await asyncio.wait_for(ws.receive_json(), 15)
        if event["type"] == "linkage":
            assert event["state"] == state, event
            return event


async def test_hand_over_a_call_to_119_and_record_one_by_hand(client, phone, gateway):
    app = client.server.app
    center = app[CALLCENTER]
    api = Api(client)
    await seed(api)
    await add_user(api, username="agent2", role="agent")
    me = {"action": "login", "sip_uri": phone.uri("agent1")}
    await api.call("PUT", "/api/v1/agents/me", "agent", me)
    browser = Browser(client)
    await browser.login("agent")
    ws = await client.ws_connect("/web/ws/agent")
    await phone.send(f"dial sip:12345@127.0.0.1:{center.endpoint.port} 1")
    pop = await asyncio.wait_for(ws.receive_json(), 20)
    call_id = pop["call_id"]
    path = f"/api/v1/calls/{call_id}/linkage"

    bad = [
        ("agent", path, {"service": "999"}, 400, "validation_error"),
        ("agent", path, {"service": "119", "mode": "refer"}, 400, "validation_error"),
        ("agent", path, {"service": "119", "extra": 1}, 400, "validation_error"),
        ("agent", path, {}, 400, "validation_error"),
        ("agent2", path, {"service": "119"}, 404, "call_not_found"),  # not this agent's call
        ("agent", f"/api/v1/calls/{'f' * 32}/linkage", {"service": "119"}, 404, "call_not_found"),
        ("dispatcher", path, {"service": "119"}, 403, "forbidden"),
        ("agent", path, {"service": "122"}, 409, "linkage_not_possible"),  # no gateway set
    ]
    for user, url, body, status, code in bad:
        answer = await api.call("POST", url, user, body, expect=status)
        assert answer["error"]["code"] == code and answer["error"]["message"], (body, answer)
    # Nothing changed: no hand-over, no emergency mark, no gateway call.
    assert (await api.call("GET", path, "agent"))["items"] == []
    assert center.active_record(call_id)[1].emergency_at is None
    assert center.unit_leg_of(call_id) is None

    answer = await api.call("POST", path, "agent", {"service": "119", "mode": "conference"})
    assert (answer["service"], answer["mode"], answer["outcome"]) == ("119", "conference", None)
    assert answer["gateway_uri"] == gateway.uri("119") and answer["requested_by"] == "agent"
    await linkage_event(ws, "ringing")
    connected = await linkage_event(ws, "connected")
    assert connected["call_id"] == call_id and "119已接通" in connected["label"]
    again = await api.call("POST", path, "supervisor", {"service": "110"}, expect=409)
    assert again["error"]["code"] == "linkage_not_possible"  # one hand-over at a time

    [item] = (await api.call("GET", path, "supervisor"))["items"]
    assert item["id"] == answer["id"]
    assert (item["outcome"], item["outcome_label"]) == ("answered", "已接通")
    assert item["answered_at"] is not None and item["ended_at"] is None
    assert 0 <= item["seconds_from_mark"] < 5  # the POST marked the call

    # The order registered during the call gets its hand-over, and the event on its log.
    number = (await api.register(content="家里着火了,浓烟很大"))["number"]
    # (what the console's registration form does with the call id: web/screens/agent.py)
    assert await desk.link_order(app, Actor("agent", Role.AGENT), call_id, number)
    assert await linkage.attach_order(app, call_id, number) == 1

    await phone.send("hangup")  # the caller leaves: the gateway's leg ends too
    await phone.wait_for(event="disconnected", role="agent")
    await linkage_event(ws, "ended")
    await center.flush()
    ended = await api.call("POST", path, "agent", {"service": "119"}, expect=409)
    assert ended["error"]["code"] == "linkage_not_possible"
    assert "已结束" in ended["error"]["message"]

    # A second hand-over, made by phone, recorded by hand on the order.
    order_path = f"/api/v1/orders/{number}/linkage"
    for body, status, code in (
        ({"service": "911"}, 400, "validation_error"),
        ({"service": "120", "note": "x" * 501}, 400, "validation_error"),
    ):
        wrong = await api.call("POST", order_path, "agent", body, expect=status)
        assert wrong["error"]["code"] == code
    missing = "/api/v1/orders/NOPE/linkage"
    answer = await api.call("POST", missing, "agent", {"service": "120"}, expect=404)
    assert answer["error"]["code"] == "order_not_found"
    by_phone = {"service": "120", "note": "电话告知120调度员"}
    manual = await api.call("POST", order_path, "dispatcher", by_phone, expect=201)
    assert (manual["outcome"], manual["mode"], manual["call"]) == ("manual", None, None)
    # (the intake runs on the real clock, the order service on the test's clock)
    items = (await api.call("GET", order_path, "supervisor"))["items"]
    items.sort(key=lambda i: i["service"])
    assert [(i["service"], i["outcome"]) for i in items] == [("119", "answered"), ("120", "manual")]
    assert items[0]["ended_at"] is not None and items[0]["call"] == call_id
    await api.call("GET", order_path, "cgj", expect=403)

    events = [e for e in (await api.order(number))["events"] if e["action"] == "linkage"]
    assert [e["label"] for e in events] == ["应急联动", "应急联动"]
    assert "消防 119(三方通话),已接通" in events[0]["note"]
    assert events[1]["note"].endswith("电话告知120调度员") and events[1]["by"] == "dispatcher"
    audit = await lines(api, type="linkage")
    assert {(a["object"], a["result"]) for a in audit} >= {
        (call_id, "success"),
        (call_id, "failure"),  # the refusals are in the trail too
        (number, "success"),
    }
    await ws.close()
    await assert_idle(center)
