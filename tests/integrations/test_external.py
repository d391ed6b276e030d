"""Mode `external` end to end (DESIGN §2, §8): the order of an external hotline is handed
to the unit standing for its own system at registration, the unit's webhook carries it
out, and the system — a separate process here — answers through the API with its key."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from app.keys import OUTBOX, SESSIONS
from integrations.outbox import OutboxMessage
from integrations.webhooks.domain import signature
from tests.api.conftest import Api
from tests.integrations.receivers import free_port

SCRIPT = Path(__file__).with_name("external_system.py")
SECRET = "price-system-shared-secret"


@pytest.fixture
async def price_system(api: Api):
    """The 12358 system: a unit, its key, the hotline handed to it, its webhook, and the
    process that answers."""
    unit = {"code": "JG-SYS", "name": "价格举报业务系统"}
    await api.call("POST", "/api/v1/units", "admin", unit, expect=201)
    key = (
        await api.call(
            "POST", "/api/v1/api-keys", "admin", {"name": "12358系统", "unit": "JG-SYS"}, expect=201
        )
    )["api_key"]
    body = {"mode": "external", "handoff_unit": "JG-SYS"}
    await api.call("PUT", "/api/v1/hotlines/12358", "admin", body)
    port = free_port()
    hook = {
        "url": f"http://127.0.0.1:{port}/hook",
        "secret": SECRET,
        "events": ["order.dispatched"],
        "unit": "JG-SYS",
    }
    await api.call("POST", "/api/v1/webhooks", "admin", hook, expect=201)
    base = str(api.client.make_url("/"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--port",
        str(port),
        "--secret",
        SECRET,
        "--api",
        base,
        "--key",
        key,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line.strip() == b"ready"
        yield f"http://127.0.0.1:{port}", key
    finally:
        process.terminate()
        await process.wait()


async def _until(api: Api, number: str, state: str, seconds: float = 20) -> dict:
    for _ in range(int(seconds * 10)):
        order = await api.order(number)
        if order["state"] == state:
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"{number} stayed {order['state']}")


async def test_an_external_hotline_order_goes_out_and_comes_back(api, price_system):
    system, _ = price_system
    order = await api.register(hotline="12358", content="超市标价9.9元结账收12元,多收费用")
    assert (order["state"], order["lead_unit"]) == ("dispatched", "JG-SYS")
    _, dispatch = order["events"]
    assert (dispatch["action"], dispatch["by"], dispatch["note"]) == (
        "dispatch",
        "system",
        "转外部系统办理(热线原业务系统)",
    )
    number = order["number"]
    assert await api.client.app[OUTBOX].deliver_due() == (1, 0)  # after the commit
    replied = await _until(api, number, "replied")
    accept, reply = replied["events"][-2:]
    assert (accept["action"], reply["action"]) == ("accept", "reply")
    assert (
        accept["by"] == reply["by"]
        and accept["by"].startswith("key:")
        and reply["unit"] == "JG-SYS"
    )
    assert "多收费用" in reply["note"]
    async with aiohttp.ClientSession() as http, http.get(f"{system}/log") as resp:
        log = await resp.json()
    assert log[0] == {"event": "order.dispatched", "id": log[0]["id"], "order": number}
    assert [e["action"] for e in log if "action" in e] == ["accept", "reply"]
    # the centre keeps review, callback and rating, as for any unit
    await api.act("supervisor", number, "review", approve=True)
    closed = await api.act("agent", number, "callback", satisfaction="satisfied", resolved=True)
    assert closed["state"] == "closed"


async def test_bad_input_on_both_sides_changes_nothing(api, price_system):
    system, key = price_system
    number = (await api.register(hotline="12358", content="加油站价格未明码标价"))["number"]
    async with api.client.app[SESSIONS]() as session:
        [message] = await session.scalars(select(OutboxMessage))
    raw = message.body.encode()
    headers = {"X-Hotline-Event-Id": message.event_id, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        # the receiver refuses an unsigned or badly signed delivery: the order stays put
        for sig in (None, "sha256=" + "0" * 64, signature("wrong-secret", raw), "md5=abc"):
            extra = {} if sig is None else {"X-Hotline-Signature": sig}
            async with http.post(f"{system}/hook", data=raw, headers={**headers, **extra}) as resp:
                assert resp.status == 401
        # the outbox's own delivery, signed, is accepted and acted on
        assert await api.client.app[OUTBOX].deliver_due() == (1, 0)
        await _until(api, number, "replied")
        # a replayed delivery (same event id, validly signed) is ignored by the receiver
        signed = {**headers, "X-Hotline-Signature": signature(SECRET, raw)}
        async with http.post(f"{system}/hook", data=raw, headers=signed) as resp:
            assert (await resp.json()) == {"duplicate": True}
        async with http.get(f"{system}/log") as resp:
            log = await resp.json()
    assert [e.get("refused") for e in log[:4]] == ["signature"] * 4
    assert [e["action"] for e in log if "action" in e] == ["accept", "reply"]  # acted once
    # the external system answering for another unit's order: 404, nothing changes
    other = (await api.register())["number"]
    await api.act("dispatcher", other, "dispatch", unit="ZJJ")
    for action, body in (("accept", {}), ("reply", {"text": "x"}), ("return", {"reason": "x"})):
        error = await api.call(
            "POST",
            f"/api/v1/orders/{other}/actions/{action}",
            json=body,
            expect=404,
            headers={"X-API-Key": key},
        )
        assert error["error"] == {"code": "order_not_found", "message": f"工单不存在: {other}"}
    await api.call("GET", f"/api/v1/orders/{other}", expect=404, headers={"X-API-Key": key})
    assert (await api.order(other))["state"] == "dispatched"
    # every delivery has its own event id
    ids = [m.event_id for m in await _all(api)]
    assert len(ids) == len(set(ids))


async def _all(api: Api) -> list[OutboxMessage]:
    async with api.client.app[SESSIONS]() as session:
        return list(await session.scalars(select(OutboxMessage)))
