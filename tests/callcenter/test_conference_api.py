# ruff: noqa: F811 (the scenario's fixtures are imported and used as parameters)
"""三方通话 through the HTTP API on the real app, real SIP on 127.0.0.1: the agent on the
call adds a unit's phone and drops it; the console's WebSocket follows the unit leg;
the call record keeps the three-way; bad input is a JSON error, never a 500."""

from __future__ import annotations

import asyncio

from app.keys import CALLCENTER
from tests.api.conftest import Api, add_user, seed
from tests.callcenter.test_intake import assert_idle
from tests.callcenter.test_scenario import client, phone  # noqa: F401 (fixtures)
from tests.web.conftest import Browser


async def conference_event(ws, state: str) -> dict:
    """The next `conference` event on the console socket, which must be in `state`."""
    while True:
        event = await asyncio.wait_for(ws.receive_json(), 15)
        if event["type"] == "conference":
            assert event["state"] == state, event
            return event


async def test_agent_adds_and_drops_a_unit_over_the_api(client, phone):
    center = client.server.app[CALLCENTER]
    api = Api(client)
    await seed(api)
    await add_user(api, username="agent2", role="agent")
    await api.call(
        "PUT", "/api/v1/agents/me", "agent", {"action": "login", "sip_uri": phone.uri("agent1")}
    )
    browser = Browser(client)
    await browser.login("agent")
    ws = await client.ws_connect("/web/ws/agent")
    await phone.send(f"dial sip:12319@127.0.0.1:{center.endpoint.port} 1")
    pop = await asyncio.wait_for(ws.receive_json(), 20)
    path = f"/api/v1/calls/{pop['call_id']}/conference"
    unit = {"uri": phone.uri("unit1"), "unit": "CGJ"}

    bad = [
        ("agent", path, {"uri": "unit1@127.0.0.1"}, 400, "invalid_sip_uri"),
        ("agent", path, {"uri": "sip:a b@host"}, 400, "invalid_sip_uri"),
        ("agent", path, {}, 400, "validation_error"),
        ("agent", path, {**unit, "extra": 1}, 400, "validation_error"),
        ("agent", path, {**unit, "unit": "NOPE"}, 400, "validation_error"),
        ("agent2", path, unit, 404, "call_not_found"),  # another agent's call
        ("agent", f"/api/v1/calls/{'f' * 32}/conference", unit, 404, "call_not_found"),
        ("dispatcher", path, unit, 403, "forbidden"),
    ]
    for user, url, body, status, code in bad:
        answer = await api.call("POST", url, user, body, expect=status)
        assert answer["error"]["code"] == code and answer["error"]["message"], (body, answer)
    answer = await api.call("DELETE", path, "agent", expect=409)  # no unit on the line
    assert answer["error"]["code"] == "conference_not_possible"
    assert "没有三方通话" in answer["error"]["message"]

    answer = await api.call("POST", path, "agent", unit)
    assert answer == {"call": pop["call_id"], **unit, "state": "ringing"}
    await conference_event(ws, "ringing")
    connected = await conference_event(ws, "connected")
    assert (connected["call_id"], connected["unit"]) == (pop["call_id"], "CGJ")
    await phone.wait_for(event="confirmed", role="unit")
    again = await api.call("POST", path, "agent", unit, expect=409)  # one unit at a time
    assert again["error"]["code"] == "conference_not_possible"
    await asyncio.sleep(0.5)
    assert (await api.call("DELETE", path, "agent"))["state"] == "ending"
    ended = await conference_event(ws, "ended")
    assert ended["by"] == "agent" and ended["label"].startswith("承办单位已退出")
    await phone.wait_for(event="disconnected", role="unit")
    me = await api.call("GET", "/api/v1/agents/me", "agent")
    assert (me["state"], me["call"]) == ("talking", pop["call_id"])  # the call goes on

    await phone.send("hangup")
    await phone.wait_for(event="disconnected", role="agent")
    await center.flush()
    for method, body in (("POST", unit), ("DELETE", None)):  # the call has ended
        answer = await api.call(method, path, "agent", body, expect=409)
        assert answer["error"]["code"] == "conference_not_possible"
    [call] = (await api.call("GET", "/api/v1/calls", "supervisor"))["items"]
    assert call["three_way_at"] is not None and call["conference_unit"] == "CGJ"
    assert call["answered_at"] < call["three_way_at"] < call["ended_at"]
    await ws.close()
    await assert_idle(center)
