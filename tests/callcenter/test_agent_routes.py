"""Agents' API and the console's WebSocket on the real app, SIP intake off (the stored
state changes; tests/callcenter/test_scenario.py covers the live ACD)."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.fernet import Fernet

from app.factory import create_app
from app.keys import PUSH, SESSIONS
from callcenter import storage
from callcenter.desk import user_id_of
from tests.api.conftest import Api, seed
from tests.conftest import make_settings
from tests.web.conftest import Browser

URI = "sip:1001@10.0.0.5:5070"


@pytest.fixture
async def api(aiohttp_client, sqlite_url, clock):
    settings = make_settings(sqlite_url)
    settings.web.session_key = Fernet.generate_key().decode()
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    return api


async def put(api: Api, body: dict, expect: int = 200, user: str = "agent") -> dict:
    return await api.call("PUT", "/api/v1/agents/me", user, body, expect=expect)


async def test_agent_logs_in_pauses_resumes_and_logs_out(api: Api, clock):
    me = await api.call("GET", "/api/v1/agents/me", "agent")
    assert (me["state"], me["sip_uri"]) == ("logged_out", None)
    me = await put(api, {"action": "login", "sip_uri": URI, "queues": ["utilities"]})
    assert (me["state"], me["sip_uri"], me["queues"]) == ("available", URI, ["utilities"])
    assert me["idle_since"] == clock().isoformat()
    me = await put(api, {"action": "pause"})
    assert (me["state"], me["state_label"], me["pause_reason"]) == ("paused", "示忙", "示忙")
    clock.advance(minutes=5)
    me = await put(api, {"action": "resume"})
    assert (me["state"], me["idle_since"]) == ("available", clock().isoformat())
    me = await put(api, {"action": "logout"})
    assert me["state"] == "logged_out"
    # Logging in again keeps the SIP URI and skills given before.
    me = await put(api, {"action": "login"})
    assert (me["state"], me["sip_uri"], me["queues"]) == ("available", URI, ["utilities"])
    board = await api.call("GET", "/api/v1/agents", "supervisor")
    assert [(a["username"], a["state"]) for a in board["items"]] == [("agent", "available")]
    async with api.client.server.app[SESSIONS]() as session:
        [row] = await storage.load_agents(session)
    assert (row.username, row.sip_uri) == ("agent", URI)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"action": "login"}, 400, "invalid_sip_uri"),  # no URI known yet
        ({"action": "login", "sip_uri": "1001@10.0.0.5"}, 400, "invalid_sip_uri"),
        ({"action": "login", "sip_uri": "sip:a b@host"}, 400, "invalid_sip_uri"),
        ({"action": "pause"}, 409, "illegal_agent_transition"),  # not logged in
        ({"action": "dance"}, 400, "validation_error"),
        ({"action": "login", "sip_uri": URI, "extra": 1}, 400, "validation_error"),
        ({"action": "login", "sip_uri": "sip:" + "x" * 300 + "@h"}, 400, "validation_error"),
    ],
)
async def test_bad_agent_changes_are_json_errors(api: Api, body, status, code):
    answer = await put(api, body, expect=status)
    assert answer["error"]["code"] == code and answer["error"]["message"]


async def test_only_agents_change_their_state_and_only_managers_list(api: Api):
    for user in ("dispatcher", "zjj"):
        await put(api, {"action": "pause"}, expect=403, user=user)
    await api.call("GET", "/api/v1/agents", "agent", expect=403)
    await api.call("GET", "/api/v1/agents", "admin")
    await api.call("GET", "/api/v1/agents/me", None, expect=401)


async def test_console_socket_relays_call_events_to_the_signed_in_agent(api: Api):
    client = api.client
    anonymous = await client.get("/web/ws/agent", allow_redirects=False)
    assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/login")
    browser = Browser(client)
    await browser.login("dispatcher")
    assert (await client.get("/web/ws/agent")).status == 403

    await browser.login("agent")
    app = client.server.app
    user_id = await user_id_of(app[SESSIONS], "agent")
    async with client.ws_connect("/web/ws/agent") as ws:
        for _ in range(100):
            if app[PUSH].listening(user_id):
                break
            await asyncio.sleep(0.01)
        other = await user_id_of(app[SESSIONS], "dispatcher")
        assert app[PUSH].publish(other, {"type": "call", "call_id": "not-for-agent"}) == 0
        assert app[PUSH].publish(user_id, {"type": "call", "call_id": "c1"}) == 1
        event = await asyncio.wait_for(ws.receive_json(), 5)
        assert event == {"type": "call", "call_id": "c1"}
    for _ in range(100):  # the browser went away: the subscription ends
        if not app[PUSH].listening(user_id):
            break
        await asyncio.sleep(0.01)
    assert not app[PUSH].listening(user_id)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"agent": "agent2", "queue": "general"}, 400),  # one target only
        ({}, 400),
        ({"queue": ""}, 400),
        ({"queue": "general"}, 404),  # no such call on the agent's line
    ],
)
async def test_bad_transfers_are_json_errors(api: Api, body, status):
    answer = await api.call("POST", "/api/v1/calls/abc123/transfer", "agent", body, expect=status)
    assert answer["error"]["code"] and answer["error"]["message"]
    await api.call("POST", "/api/v1/calls/abc123/transfer", "dispatcher", body, expect=403)


async def test_emergency_and_recording_of_unknown_calls_are_404(api: Api):
    for path, method in (("emergency", "POST"), ("recording", "GET")):
        body = await api.call(method, f"/api/v1/calls/{'f' * 32}/{path}", "supervisor", expect=404)
        assert body["error"]["code"] == "call_not_found"
    await api.call("GET", "/api/v1/calls/../../etc/recording", "supervisor", expect=404)
