"""The whole call-centre story on the real app, real SIP on 127.0.0.1 and a real database:

citizen dials 12319 → IVR → presses 1 → queued → bridged to the free agent (screen pop
over the console's WebSocket) → recording of both legs → order registered from the
console and linked to the call → driven to callback_pending over the HTTP API → survey
call answered by the citizen pressing 1 then 1 → order closed 满意 / 已解决.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from app.factory import create_app
from app.keys import CALLCENTER, SESSIONS
from callcenter import storage
from config import SipSettings
from tests.api.conftest import Api, seed
from tests.callcenter.phones import AGENT_HZ, CITIZEN_HZ, Softphone, tone_power, wav_samples
from tests.callcenter.test_intake import assert_idle
from tests.conftest import make_settings
from tests.web.conftest import Browser, seed_web

CITIZEN = "13800138000"


@pytest.fixture
async def phone(sip_tools, tmp_path: Path) -> AsyncIterator[Softphone]:
    phone = Softphone(tmp_path)
    await phone.start()
    yield phone
    await phone.stop()


async def make_client(aiohttp_client, sqlite_url, clock, sip_settings, phone, **changes):
    settings = make_settings(sqlite_url)
    settings.web.session_key = Fernet.generate_key().decode()
    settings.sip = sip_settings.model_copy(
        update={
            "enabled": True,
            "ring_timeout_seconds": 5,
            "wrap_up_seconds": 0.5,
            "survey_uri": f"sip:{{phone}}@127.0.0.1:{phone.port}",
            "survey_interval_seconds": 0,  # the test places the survey calls
            "survey_hours": (0, 24),
            **changes,
        }
    )
    return await aiohttp_client(create_app(settings, now=clock, scanner=False))


@pytest.fixture
async def client(aiohttp_client, sqlite_url, clock, sip_settings: SipSettings, phone):
    return await make_client(aiohttp_client, sqlite_url, clock, sip_settings, phone)


async def callback_pending(api: Api, **fields) -> str:
    number = (await api.register(**fields))["number"]
    await api.act("dispatcher", number, "dispatch", unit="CGJ")
    await api.act("cgj", number, "accept")
    await api.act("cgj", number, "reply", text="已处理")
    order = await api.act("supervisor", number, "review", approve=True)
    assert order["state"] == "callback_pending"
    return number


async def test_call_to_agent_to_order_to_survey(client, phone):
    app = client.server.app
    center = app[CALLCENTER]
    api = Api(client)
    await seed_web(api)
    earlier = await api.register(hotline="12319", content="自来水管爆裂,楼下积水")
    other = await api.register(caller_phone="13900139000")

    agent = await api.call(
        "PUT", "/api/v1/agents/me", "agent", {"action": "login", "sip_uri": phone.uri("agent1")}
    )
    assert (agent["state"], agent["state_label"]) == ("available", "空闲")
    queues = {q["queue"]: q for q in (await api.call("GET", "/api/v1/queues", "agent"))["items"]}
    assert set(queues) == {"general", "business", "utilities", "price", "safety"}
    general = queues["general"]
    assert (general["waiting"], general["agents_available"]) == (0, 1)
    assert general["estimated_wait_seconds"] == 0.0
    browser = Browser(client)
    await browser.login("agent")
    ws = await client.ws_connect("/web/ws/agent")

    await phone.send(f"dial sip:12319@127.0.0.1:{center.endpoint.port} 1")
    pop = await asyncio.wait_for(ws.receive_json(), 20)
    assert (pop["type"], pop["hotline"], pop["caller"]) == ("call", "12319", CITIZEN)
    assert [o["number"] for o in pop["orders"]] == [earlier["number"]]
    assert other["number"] not in str(pop)
    assert pop["orders"][0]["state_label"] and pop["orders"][0]["content"].startswith("自来水")
    me = await api.call("GET", "/api/v1/agents/me", "agent")
    assert (me["state"], me["call"]) == ("talking", pop["call_id"])
    board = await api.call("GET", "/api/v1/agents", "supervisor")
    assert [(a["username"], a["state"]) for a in board["items"]] == [("agent", "talking")]

    form = {
        "hotline": pop["hotline"],
        "channel": "phone",
        "caller_phone": pop["caller"],
        "content": "小区停水三天了,物业说是供水公司的事",
        "type": "complaint",
        "urgency": "normal",
        "mode": "register",
        "call_id": pop["call_id"],
    }
    marked = await api.call("POST", f"/api/v1/calls/{pop['call_id']}/emergency", "agent", {})
    assert marked["emergency"] is True and marked["agent"] == "agent"
    resp = await browser.post("/web/agent/register", form, page="/web/agent")
    assert resp.status == 302, await resp.text()
    orders = await api.call("GET", "/api/v1/orders?state=registered", "agent")
    [number] = [o["number"] for o in orders["items"] if o["content"].startswith("小区停水")]

    await asyncio.sleep(1.5)  # a little conversation for the recording
    await phone.send("hangup")
    await phone.wait_for(event="disconnected", role="agent")
    await center.flush()
    [call] = (await api.call("GET", "/api/v1/calls", "supervisor"))["items"]
    assert (call["id"], call["agent"], call["order"]) == (pop["call_id"], "agent", number)
    assert call["outcome"] == "completed" and call["answered_at"] is not None
    assert call["emergency"] is True
    async with app[SESSIONS]() as session:
        row = await session.get(storage.Call, call["id"])
    samples = wav_samples(Path(row.recording), -1.2, -0.1)
    noise = tone_power(samples, 3100.0)
    assert tone_power(samples, CITIZEN_HZ) > 100 * noise
    assert tone_power(samples, AGENT_HZ) > 100 * noise

    await api.act("dispatcher", number, "dispatch", unit="CGJ")
    # The recording goes to those who may see the order: the centre, the unit handling it.
    path = f"/api/v1/calls/{call['id']}/recording"
    for user in ("supervisor", "cgj"):
        resp = await client.get(path, headers={"Authorization": f"Bearer {await api.login(user)}"})
        assert resp.status == 200 and resp.content_type == "audio/wav"
        assert (await resp.read())[:4] == b"RIFF"
    assert (await api.call("GET", path, "zjj", expect=404))["error"]["code"] == "order_not_found"
    await api.call("GET", path, "inspector", expect=403)
    await api.call("GET", "/api/v1/calls/nope/recording", "supervisor", expect=404)
    await api.act("cgj", number, "accept")
    await api.act("cgj", number, "reply", text="已协调供水公司恢复供水")
    order = await api.act("supervisor", number, "review", approve=True)
    assert order["state"] == "callback_pending"

    assert await center.survey.run_once() == 1  # only the phone order waiting for callback
    await phone.wait_for(event="incoming", role="survey", timeout=10)
    await phone.wait_for(event="dtmf", role="survey", count=2, timeout=15)
    await asyncio.wait_for(center.survey.wait_idle(), 20)
    order = await api.order(number)
    assert order["state"] == "closed"
    assert (order["satisfaction"], order["resolved"]) == ("satisfied", True)
    assert order["events"][-1]["action"] == "callback" and order["events"][-1]["by"] == "system"
    async with app[SESSIONS]() as session:
        [survey] = list(await session.scalars(select(storage.SurveyCall)))
    assert (survey.order_number, survey.state, survey.attempts) == (number, "done", 1)
    assert await center.survey.run_once() == 0  # nothing left to call
    await assert_idle(center)  # no call legs, Call objects or conference ports left


async def test_unanswered_survey_calls_are_retried_then_left_for_an_sms(
    aiohttp_client, sqlite_url, clock, sip_settings, phone
):
    client = await make_client(
        aiohttp_client,
        sqlite_url,
        clock,
        sip_settings,
        phone,
        survey_uri=f"sip:mute{{phone}}@127.0.0.1:{phone.port}",  # rings, never answered
        survey_ring_seconds=1,
        survey_attempts=2,
        survey_retry_minutes=30,
        survey_hours=(9, 20),
    )
    app = client.server.app
    dialer = app[CALLCENTER].survey
    api = Api(client)
    await seed(api)
    number = await callback_pending(api)
    await callback_pending(api, channel="web")  # web orders get no survey call

    async def row() -> storage.SurveyCall:
        async with app[SESSIONS]() as session:
            [one] = list(await session.scalars(select(storage.SurveyCall)))
            return one

    assert await dialer.run_once() == 1
    await phone.wait_for(event="incoming", role="mute")
    await asyncio.wait_for(dialer.wait_idle(), 10)
    first = await row()
    assert (first.order_number, first.state, first.attempts) == (number, "pending", 1)
    assert await dialer.run_once() == 0  # the retry waits its gap
    clock.advance(minutes=30)
    assert await dialer.run_once() == 1
    await phone.wait_for(event="incoming", role="mute", count=2)
    await asyncio.wait_for(dialer.wait_idle(), 10)
    last = await row()
    assert (last.state, last.attempts) == ("sms", 2)  # for the integrations' SMS link
    assert (await api.order(number))["state"] == "callback_pending"
    clock.advance(hours=12)  # 22:00 local: outside calling hours, and nothing due anyway
    assert await dialer.run_once() == 0
