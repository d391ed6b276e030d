"""E-mail notifications through a real SMTP exchange (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import socket
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.factory import create_app
from app.keys import OUTBOX, SESSIONS
from integrations.outbox import OutboxMessage
from tests.api.conftest import Api, add_user, seed
from tests.conftest import make_settings


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


async def _api(aiohttp_client, sqlite_url, clock, port: int) -> Api:
    settings = make_settings(sqlite_url)
    settings.email.enabled, settings.email.port = True, port
    settings.outbox.max_attempts, settings.outbox.retry_base_seconds = 2, 30
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    await add_user(api, username="zjj_mail", role="unit", unit="ZJJ", email="zjj@unit.example")
    return api


async def test_dispatch_notifies_the_unit_by_email(aiohttp_client, sqlite_url, clock, smtp):
    inbox, port = smtp
    api = await _api(aiohttp_client, sqlite_url, clock, port)
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    sender = api.client.app[OUTBOX]
    assert await sender.deliver_due() == (1, 0)  # only the user with an address
    assert await sender.deliver_due() == (0, 0)  # sent once
    [message] = inbox.messages
    assert message["To"] == "zjj@unit.example"
    assert message["Subject"] == f"【12345热线】新工单 {number} 已派至本单位,请及时签收"
    assert number in message.get_content()


async def test_smtp_down_retries_then_gives_up(aiohttp_client, sqlite_url, clock):
    api = await _api(aiohttp_client, sqlite_url, clock, _free_port())  # nobody listens
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")  # the action still succeeds
    sender = api.client.app[OUTBOX]
    assert await sender.deliver_due() == (0, 1)
    assert await sender.deliver_due() == (0, 0)  # backing off for 30 s
    clock.advance(seconds=31)
    assert await sender.deliver_due() == (0, 1)
    async with api.client.app[SESSIONS]() as session:
        [row] = await session.scalars(select(OutboxMessage))
    assert row.status == "dead" and row.attempts == 2 and "SMTP" in row.last_error
    clock.advance(days=1)
    assert await sender.deliver_due() == (0, 0)
    assert (await api.order(number))["state"] == "dispatched"


async def test_email_disabled_queues_nothing(api):
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    async with api.client.app[SESSIONS]() as session:
        assert list(await session.scalars(select(OutboxMessage))) == []
