"""Webhooks (DESIGN §8): admins register them; each life-cycle event they hear becomes a
signed delivery through the outbox."""

from __future__ import annotations

from sqlalchemy import select

from app.keys import OUTBOX, SESSIONS
from integrations.outbox import OutboxMessage
from tests.api.conftest import Api
from tests.integrations.receivers import WebhookReceiver

SECRET = "sixteen-chars-or-more"


async def _create(api: Api, expect: int = 201, **fields) -> dict:
    body = {"url": "http://127.0.0.1:9/hook", "secret": SECRET, "events": ["order.*"], **fields}
    return await api.call("POST", "/api/v1/webhooks", "admin", body, expect=expect)


async def _queued(api: Api) -> list[OutboxMessage]:
    async with api.client.app[SESSIONS]() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_webhooks_are_created_listed_without_secret_and_deleted(api):
    hook = await _create(api, unit="ZJJ", hotline="12345", events=["order.dispatched"])
    assert (hook["unit"], hook["hotline"], hook["events"]) == ("ZJJ", "12345", ["order.dispatched"])
    [listed] = (await api.call("GET", "/api/v1/webhooks", "admin"))["items"]
    assert listed == hook and "secret" not in listed
    bad = [
        ({"url": "ftp://x/hook"}, "invalid_url"),
        ({"url": "not a url"}, "invalid_url"),
        ({"events": ["order.exploded"]}, "unknown_event"),
        ({"events": []}, "validation_error"),
        ({"secret": "short"}, "validation_error"),
        ({"unit": "NOPE"}, "unknown_unit"),
        ({"hotline": "99999"}, "unknown_hotline"),
    ]
    for fields, code in bad:
        error = await _create(api, expect=400, **fields)
        assert error["error"]["code"] == code, fields
    await api.call("GET", "/api/v1/webhooks", "dispatcher", expect=403)
    await api.call("DELETE", f"/api/v1/webhooks/{hook['id']}", "admin")
    await api.call("DELETE", f"/api/v1/webhooks/{hook['id']}", "admin", expect=404)
    assert (await api.call("GET", "/api/v1/webhooks", "admin"))["items"] == []


async def test_events_reach_the_hooks_of_the_unit_or_the_hotline(api):
    unit_hook = await _create(api, unit="ZJJ", events=["order.dispatched", "order.closed"])
    hotline_hook = await _create(api, hotline="12319", events=["order.registered"])
    number = (await api.register())["number"]  # 12345: neither hears the registration
    await api.act("dispatcher", number, "dispatch", unit="ZJJ-WY")  # a sub-unit of ZJJ
    await api.register(hotline="12319")
    other = (await api.register())["number"]
    await api.act("dispatcher", other, "dispatch", unit="CGJ")  # another unit: not heard
    # the order is closed by its callback: order.called_back is not subscribed, order.closed is
    await api.act("zjj_wy", number, "accept")
    await api.act("zjj_wy", number, "reply", text="已清理")
    await api.act("supervisor", number, "review", approve=True)
    await api.act("agent", number, "callback", satisfaction="satisfied", resolved=True)
    queued = [(m.webhook_id, m.subject) for m in await _queued(api)]
    assert queued == [
        (unit_hook["id"], "order.dispatched"),
        (hotline_hook["id"], "order.registered"),
        (unit_hook["id"], "order.closed"),
    ]


async def test_a_deleted_hooks_queued_deliveries_become_dead_letters(api, aiohttp_server):
    receiver = WebhookReceiver(SECRET)
    server = await aiohttp_server(receiver.app())
    hook = await _create(api, url=str(server.make_url("/hook")), unit="ZJJ")
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    await api.call("DELETE", f"/api/v1/webhooks/{hook['id']}", "admin")
    assert await api.client.app[OUTBOX].deliver_due() == (0, 1)
    [message] = await _queued(api)
    assert message.status == "dead" and "已删除" in message.last_error
    assert receiver.deliveries == []
