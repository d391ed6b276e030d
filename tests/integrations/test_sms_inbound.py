"""The SMS entrypoints without Kannel: what a wrong or broken call from the smsbox
get-url gets (nothing changed), the units' alert numbers, and anonymisation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from app.factory import create_app
from app.keys import SESSIONS
from dispatch import privacy
from dispatch.storage import Order
from integrations.outbox import OutboxMessage
from integrations.sms.storage import SmsInbound
from tests.api.conftest import Api, seed
from tests.conftest import make_settings

SECRET = "inbound-secret-0123456789"
INBOUND = "/api/v1/sms/inbound"


@pytest.fixture
async def api(aiohttp_client, any_db_url, clock) -> Api:
    settings = make_settings(any_db_url)
    settings.sms.enabled, settings.sms.inbound_secret = True, SECRET
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    return api


async def _counts(api: Api) -> tuple[int, int, int]:
    async with api.client.app[SESSIONS]() as session:
        return tuple(
            [
                await session.scalar(select(func.count()).select_from(model))
                for model in (Order, SmsInbound, OutboxMessage)
            ]
        )


async def _inbound(api: Api, expect: int, **params) -> dict:
    query = {"secret": SECRET, "from": "13800001111", "to": "12345", "text": "你好", **params}
    resp = await api.client.get(INBOUND, params=query)
    body = await resp.json()
    assert resp.status == expect, body
    return body


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"secret": "wrong"}, 403, "bad_secret"),
        ({"secret": ""}, 403, "bad_secret"),
        ({"text": "   "}, 400, "empty_text"),
        ({"to": "99999"}, 400, "unknown_hotline"),
        ({"from": "not-a-phone"}, 400, "validation_error"),
        ({"to": "12345&x"}, 400, "validation_error"),
    ],
)
async def test_bad_inbound_calls_change_nothing(api, params, status, code):
    body = await _inbound(api, status, **params)
    assert body["error"]["code"] == code and body["error"]["message"]
    assert await _counts(api) == (0, 0, 0)


async def test_inbound_refused_when_sms_is_off(aiohttp_client, sqlite_url, clock):
    settings = make_settings(sqlite_url)
    settings.sms.inbound_secret = SECRET  # enabled stays false
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    assert (await _inbound(api, 403))["error"]["code"] == "bad_secret"


async def test_inbound_order_acknowledged_and_later_anonymised(api, clock):
    body = await _inbound(api, 201, text="楼下餐馆油烟扰民", **{"from": "+8613800001111"})
    number = body["order"]
    assert body["kind"] == "order"
    assert (await api.order(number))["caller_phone"] == "13800001111"
    assert await _counts(api) == (1, 1, 1)  # the order, its SMS, the acknowledgement
    await api.act("dispatcher", number, "dispatch", unit="CGJ")
    await api.act("cgj", number, "accept")
    await api.act("cgj", number, "reply", text="已处理")
    await api.act("supervisor", number, "review", approve=True)
    await api.act("agent", number, "callback", satisfaction="satisfied", resolved=True)
    async with api.client.app[SESSIONS]() as session, session.begin():
        for message in await session.scalars(select(OutboxMessage)):
            message.status = "sent"
    done = await privacy.anonymise_due(api.client.app[SESSIONS], 365, clock() + timedelta(days=400))
    assert done == [number]
    async with api.client.app[SESSIONS]() as session:
        assert await session.scalar(select(SmsInbound.phone)) is None
        assert set(await session.scalars(select(OutboxMessage.recipient))) == {""}


async def test_unit_contacts_are_set_and_listed_by_admins(api):
    path = "/api/v1/sms/unit-contacts"
    body = {"unit": "CGJ", "phones": ["13900000001", "13900000001", "13900000002"]}
    assert (await api.call("PUT", path, "admin", body))["phones"] == [
        "13900000001",
        "13900000002",
    ]
    await api.call("PUT", path, "admin", {"unit": "ZJJ", "phones": ["13700000000"]})
    await api.call("PUT", path, "admin", {"unit": "ZJJ", "phones": []})
    listed = await api.call("GET", path, "admin")
    assert listed["total"] == 1
    assert listed["items"] == [
        {"unit": "CGJ", "name": "市城管局", "phones": ["13900000001", "13900000002"]}
    ]
    await api.call("GET", path, "dispatcher", expect=403)
    await api.call("PUT", path, "dispatcher", body, expect=403)
    error = await api.call("PUT", path, "admin", {"unit": "NOPE", "phones": []}, expect=404)
    assert error["error"]["code"] == "unit_not_found"
    error = await api.call("PUT", path, "admin", {"unit": "CGJ", "phones": ["0101234"]}, expect=400)
    assert error["error"]["code"] == "not_mobile"
    assert (await api.call("GET", path, "admin"))["total"] == 1
    async with api.client.app[SESSIONS]() as session:
        lines = list(await session.scalars(select(AuditEntry).where(AuditEntry.object == "CGJ")))
    changes = [line.detail for line in lines if line.detail.get("action") == "sms_contacts"]
    assert changes == [
        {"action": "sms_contacts", "phones": ["139****0001", "139****0001", "139****0002"]}
    ]
