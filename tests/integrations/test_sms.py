"""SMS against the real Kannel: bearerbox + smsbox with `smsc = fake`, and fakesmsc as
the operator (tests/integrations/kannel.py). Citizens' SMS travel fakesmsc → bearerbox →
smsbox → its get-url → the app; what the app sends travels outbox → smsbox sendsms →
bearerbox → fakesmsc."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from app.factory import create_app
from app.keys import DISPATCH, OUTBOX, SESSIONS
from callcenter.storage import SurveyCall
from dispatch.storage import Order
from integrations.outbox import OutboxMessage
from integrations.sms import services as sms
from integrations.sms.storage import SmsInbound
from tests.api.conftest import Api, seed
from tests.conftest import make_settings

pytestmark = pytest.mark.kannel

SECRET = "inbound-secret-0123456789"
PUBLIC = "https://12345.example.gov.cn"


@pytest.fixture
async def sms_api(aiohttp_client, any_db_url, clock, kannel):
    settings = make_settings(any_db_url)
    settings.sms.enabled = True
    settings.sms.sendsms_url = kannel.sendsms_url
    settings.sms.username, settings.sms.password = "hotline", kannel.secret
    settings.sms.inbound_secret = SECRET
    settings.server.public_url = PUBLIC
    client = await aiohttp_client(create_app(settings, now=clock, scanner=False))
    api = Api(client)
    await seed(api)
    kannel.configure(f"http://127.0.0.1:{client.server.port}/api/v1/sms/inbound", SECRET)
    await asyncio.to_thread(kannel.start)
    return api


async def _order_of(api: Api, phone: str, timeout: float = 20) -> Order:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with api.client.app[SESSIONS]() as session:
            order = await session.scalar(select(Order).where(Order.caller_phone == phone))
        if order is not None:
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"no order from {phone}")


async def _deliver(api: Api) -> tuple[int, int]:
    return await api.client.app[OUTBOX].deliver_due()


def _to(kannel, phone: str) -> list[str]:
    return [r.text for r in kannel.received() if r.to == phone]


async def _wait_text(kannel, phone: str, part: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for text in _to(kannel, phone):
            if part in text:
                return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"no SMS to {phone} with {part!r}: {_to(kannel, phone)}")


async def test_citizen_sms_becomes_an_order_and_is_acknowledged(sms_api, kannel):
    text = "东湖路12号 路灯坏了三天&晚上很黑 100%+"
    kannel.citizens_send([("13800001111", "12319", text)])
    order = await _order_of(sms_api, "13800001111")
    assert (order.channel, order.hotline_number) == ("sms", "12319")
    assert order.content == text
    async with sms_api.client.app[SESSIONS]() as session:
        record = await session.scalar(select(SmsInbound))
    assert (record.kind, record.order_number, record.phone) == (
        "order",
        order.number,
        "13800001111",
    )

    assert await _deliver(sms_api) == (1, 0)
    text = await _wait_text(kannel, "13800001111", order.number)
    assert f"{PUBLIC}/web/citizen/t/{order.tracking_token}" in text
    ack = next(r for r in kannel.received() if r.to == "13800001111")
    assert ack.sender == "12319"  # from the hotline the citizen wrote to


async def _callback_pending(api: Api, phone: str) -> str:
    number = (await api.register(caller_phone=phone))["number"]
    await api.act("dispatcher", number, "dispatch", unit="CGJ")
    await api.act("cgj", number, "accept")
    await api.act("cgj", number, "reply", text="已处理")
    order = await api.act("supervisor", number, "review", approve=True)
    assert order["state"] == "callback_pending"
    return number


async def test_survey_sms_fallback_and_the_answer_by_sms(sms_api, kannel, clock):
    phone = "13800002222"
    number = await _callback_pending(sms_api, phone)
    app = sms_api.client.app
    async with app[SESSIONS]() as session, session.begin():
        # what the dialer leaves after its last unanswered call (callcenter/survey.py)
        session.add(
            SurveyCall(
                order_number=number,
                phone=phone,
                state="sms",
                attempts=3,
                next_attempt_at=clock(),
                created_at=clock(),
                updated_at=clock(),
            )
        )
    assert await sms.send_due_surveys(app[SESSIONS], app[DISPATCH].settings.sms, clock()) == 1
    assert await sms.send_due_surveys(app[SESSIONS], app[DISPATCH].settings.sms, clock()) == 0
    await _deliver(sms_api)  # the registration's acknowledgement and the survey
    await _wait_text(kannel, phone, "回复1满意 2基本满意 3不满意")

    kannel.citizens_send([(phone, "12345", "2")])
    deadline = time.monotonic() + 20
    while (await sms_api.order(number))["state"] != "closed":
        assert time.monotonic() < deadline, "the SMS answer was not recorded"
        await asyncio.sleep(0.1)
    detail = await sms_api.order(number)
    callback = [e for e in detail["events"] if e["action"] == "callback"][-1]
    assert callback["by"] == "system" and callback["note"] == "短信回访"
    async with app[SESSIONS]() as session:
        row = await session.scalar(select(SurveyCall))
        orders = await session.scalar(select(func.count(Order.id)))
    assert (row.state, row.satisfaction, row.resolved) == ("done", "basic", True)
    assert orders == 1  # the answer is no new order
    assert await _deliver(sms_api) == (1, 0)
    await _wait_text(kannel, phone, "感谢您的评价")


async def test_unit_alerts_on_dispatch_and_warning(sms_api, kannel, clock):
    await sms_api.call(
        "PUT",
        "/api/v1/sms/unit-contacts",
        "admin",
        {"unit": "CGJ", "phones": ["13900000001", "13900000002"]},
    )
    number = (await sms_api.register(caller_phone="010-12345678"))["number"]  # no ack
    await sms_api.act("dispatcher", number, "dispatch", unit="CGJ")
    assert await _deliver(sms_api) == (2, 0)
    for phone in ("13900000001", "13900000002"):
        await _wait_text(kannel, phone, f"新工单 {number} 已派至本单位")
    clock.advance(hours=1, minutes=40)  # 75 % of the 2 working hours to accept
    await sms_api.client.app[DISPATCH].scan()
    assert await _deliver(sms_api) == (2, 0)
    await _wait_text(kannel, "13900000001", f"工单 {number} 即将超过签收时限")


async def test_kannel_down_the_outbox_retries_and_delivers_later(sms_api, kannel, clock):
    await asyncio.to_thread(kannel.stop_boxes)
    number = (await sms_api.register(channel="phone", caller_phone="13800003333"))["number"]
    assert await _deliver(sms_api) == (0, 1)
    async with sms_api.client.app[SESSIONS]() as session:
        message = await session.scalar(select(OutboxMessage))
    assert message.status == "pending" and "kannel sendsms" in message.last_error
    await asyncio.to_thread(kannel.start)
    assert await _deliver(sms_api) == (0, 0)  # not due before its back-off
    clock.advance(seconds=30)
    assert await _deliver(sms_api) == (1, 0)
    await _wait_text(kannel, "13800003333", number)
