"""The outbox (DESIGN §8): workers claim rows, send after the commit, retry with back-off
(first retry within 30 s), give up into dead letters that admins list and re-send."""

from __future__ import annotations

import asyncio
import email
import json
from collections import Counter
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app import db
from app.factory import create_app
from app.keys import OUTBOX, SESSIONS
from config import OutboxSettings
from integrations.outbox import OutboxMessage, OutboxSender, WebhookTransport, enqueue_webhook
from integrations.webhooks.storage import Webhook
from tests.api.conftest import Api, add_user, seed
from tests.conftest import MONDAY_10AM, FakeClock, make_settings
from tests.integrations.receivers import ScriptedSmtp, WebhookReceiver, free_port

SECRET = "s3cret-for-the-partner-system"


async def _database(url: str):
    """An engine, its sessions and (SQLite) its one writer: what one node has."""
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    writer = await db.Writer.start(url, sessions) if engine.dialect.name == "sqlite" else None
    return engine, sessions, writer


async def _close(engine, writer) -> None:
    if writer is not None:
        await writer.stop()
    await engine.dispose()


async def test_two_workers_never_send_the_same_message(any_db_url, aiohttp_server):
    """Two nodes' workers (each its own engine, and on SQLite its own writer) drain one
    outbox at once against a real receiver: every message arrives exactly once."""
    receiver = WebhookReceiver(SECRET)
    server = await aiohttp_server(receiver.app())
    setup = db.create_engine(any_db_url)
    await db.migrate(setup)
    await setup.dispose()
    nodes = [await _database(any_db_url) for _ in range(2)]
    clock = FakeClock(MONDAY_10AM)
    n = 120
    async with db.unit_of_work(nodes[0][1]) as session:
        hook = Webhook(
            url=str(server.make_url("/hook")),
            secret=SECRET,
            events=["order.*"],
            created_by="admin",
            created_at=clock(),
        )
        session.add(hook)
        await session.flush()
        for i in range(n):
            body = json.dumps({"event": "order.registered", "id": f"e{i}", "at": "", "order": {}})
            enqueue_webhook(session, hook, "order.registered", f"e{i}", body, clock())
    settings = OutboxSettings(batch=7)
    senders = [
        OutboxSender(sessions, settings, {"webhook": WebhookTransport(5)}, clock, f"node{i}")
        for i, (_, sessions, _) in enumerate(nodes)
    ]

    async def drain(sender: OutboxSender) -> int:
        total = 0
        while True:
            sent, failed = await sender.deliver_due()
            assert failed == 0
            if not sent:
                return total
            total += sent

    try:
        counts = await asyncio.gather(*(drain(s) for s in senders))
        async with nodes[1][1]() as session:
            statuses = Counter(await session.scalars(select(OutboxMessage.status)))
    finally:
        for engine, _, writer in nodes:
            await _close(engine, writer)
    ids = Counter(d.event_id for d in receiver.deliveries)
    assert len(ids) == n and max(ids.values()) == 1, "a message was sent twice"
    assert sum(counts) == n and all(counts), counts  # both workers took a share
    assert all(d.signature_ok for d in receiver.deliveries)
    assert statuses == {"sent": n}


async def test_a_lapsed_claim_is_taken_over_and_the_late_outcome_ignored(
    sqlite_url, aiohttp_server
):
    """A worker that dies mid-send leaves a claim; after `claim_seconds` another worker
    sends the message (at least once), and the first one's late outcome changes nothing."""
    receiver = WebhookReceiver(SECRET)
    server = await aiohttp_server(receiver.app())
    engine, sessions, writer = await _database(sqlite_url)
    await db.migrate(engine)
    clock = FakeClock(MONDAY_10AM)
    try:
        async with db.unit_of_work(sessions) as session:
            hook = Webhook(
                url=str(server.make_url("/hook")),
                secret=SECRET,
                events=["order.*"],
                created_by="admin",
                created_at=clock(),
            )
            session.add(hook)
            await session.flush()
            body = json.dumps({"event": "order.registered", "id": "e1", "at": "", "order": {}})
            enqueue_webhook(session, hook, "order.registered", "e1", body, clock())
        settings = OutboxSettings(claim_seconds=60)
        transports = {"webhook": WebhookTransport(5)}
        dying = OutboxSender(sessions, settings, transports, clock, "dying")
        other = OutboxSender(sessions, settings, transports, clock, "other")
        [claimed] = await dying._claim(clock())  # claimed, then the process "dies"
        assert await other.deliver_due() == (0, 0)
        clock.advance(seconds=61)
        assert await other.deliver_due() == (1, 0)
        await dying._record(claimed.id, None)  # too late: the claim is no longer its own
        async with sessions() as session:
            row = await session.get(OutboxMessage, claimed.id)
        assert (row.status, row.attempts, row.claimed_by) == ("sent", 1, None)
    finally:
        await _close(engine, writer)


async def _app(aiohttp_client, sqlite_url, clock, **outbox) -> Api:
    settings = make_settings(sqlite_url)
    for key, value in outbox.items():
        setattr(settings.outbox, key, value)
    api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
    await seed(api)
    return api


async def _hook(api: Api, url: str, **fields) -> dict:
    body = {"url": url, "secret": SECRET, "events": ["order.dispatched"], **fields}
    return await api.call("POST", "/api/v1/webhooks", "admin", body, expect=201)


async def _messages(api: Api) -> list[OutboxMessage]:
    async with api.client.app[SESSIONS]() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_a_webhook_refused_first_is_delivered_on_the_retry(
    aiohttp_client, aiohttp_server, sqlite_url, clock
):
    receiver = WebhookReceiver(SECRET, statuses=[503])
    server = await aiohttp_server(receiver.app())
    api = await _app(aiohttp_client, sqlite_url, clock)
    await _hook(api, str(server.make_url("/hook")), unit="ZJJ")
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")  # committed, nothing sent yet
    assert receiver.deliveries == []
    sender = api.client.app[OUTBOX]
    assert await sender.deliver_due() == (0, 1)
    [message] = await _messages(api)
    assert message.status == "pending" and message.attempts == 1 and "503" in message.last_error
    assert (message.next_attempt_at - clock()).total_seconds() <= 30  # first retry within 30 s
    assert await sender.deliver_due() == (0, 0)  # not yet due
    clock.advance(seconds=30)
    assert await sender.deliver_due() == (1, 0)
    first, second = receiver.deliveries
    assert first.event_id == second.event_id == message.event_id  # a retry, same event id
    assert second.signature_ok and second.event == "order.dispatched"
    order = second.body["order"]
    assert order["number"] == number and order["lead_unit"] == "ZJJ"
    assert order["caller_phone"] == "138****8000"  # as the unit sees it
    assert [e["action"] for e in order["events"]] == ["register", "dispatch"]
    [message] = await _messages(api)
    assert message.status == "sent" and message.attempts == 2


async def test_dead_letters_are_listed_and_resent(
    aiohttp_client, aiohttp_server, sqlite_url, clock
):
    receiver = WebhookReceiver(SECRET, statuses=[500, 500])
    server = await aiohttp_server(receiver.app())
    api = await _app(aiohttp_client, sqlite_url, clock, max_attempts=2)
    await _hook(api, str(server.make_url("/hook")), unit="ZJJ")
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    sender = api.client.app[OUTBOX]
    assert await sender.deliver_due() == (0, 1)
    clock.advance(seconds=30)
    assert await sender.deliver_due() == (0, 1)
    clock.advance(days=1)
    assert await sender.deliver_due() == (0, 0)  # dead: never tried again on its own
    dead = await api.call("GET", "/api/v1/outbox?status=dead", "admin")
    [item] = dead["items"]
    assert dead["total"] == 1 and item["channel"] == "webhook" and item["attempts"] == 2
    assert item["subject"] == "order.dispatched" and "500" in item["last_error"]
    await api.call("GET", "/api/v1/outbox?status=dead", "dispatcher", expect=403)
    await api.call("GET", "/api/v1/outbox?status=lost", "admin", expect=400)
    resent = await api.call("POST", f"/api/v1/outbox/{item['id']}/resend", "admin")
    assert resent["status"] == "pending" and resent["attempts"] == 0
    error = await api.call("POST", f"/api/v1/outbox/{item['id']}/resend", "admin", expect=409)
    assert error["error"]["code"] == "not_dead"
    await api.call("POST", "/api/v1/outbox/99999/resend", "admin", expect=404)
    await api.call("POST", "/api/v1/outbox/abc/resend", "admin", expect=404)
    assert await sender.deliver_due() == (1, 0)
    assert len(receiver.accepted) == 1
    assert (await api.call("GET", "/api/v1/outbox?status=dead", "admin"))["total"] == 0


async def test_mail_refused_first_is_delivered_on_the_retry(aiohttp_client, sqlite_url, clock):
    """A real SMTP exchange (aiosmtpd): 451 (try later) first, then accepted."""
    handler = ScriptedSmtp(["451 4.3.0 try again later"])
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings = make_settings(sqlite_url)
        settings.email.enabled, settings.email.port = True, controller.port
        api = Api(await aiohttp_client(create_app(settings, now=clock, scanner=False)))
        await seed(api)
        await add_user(api, username="zjj_mail", role="unit", unit="ZJJ", email="zjj@unit.example")
        number = (await api.register())["number"]
        await api.act("dispatcher", number, "dispatch", unit="ZJJ")
        sender = api.client.app[OUTBOX]
        assert await sender.deliver_due() == (0, 1)
        [message] = await _messages(api)
        assert "451" in message.last_error and message.status == "pending"
        clock.advance(seconds=settings.outbox.retry_base_seconds)
        assert await sender.deliver_due() == (1, 0)
        assert await sender.deliver_due() == (0, 0)
    finally:
        controller.stop()
    [raw] = handler.received
    mail = email.message_from_bytes(raw, policy=default_policy)
    assert mail["To"] == "zjj@unit.example" and number in mail.get_content()


@pytest.mark.parametrize("status", [301, 404])
async def test_a_redirect_or_client_error_is_a_failure(
    aiohttp_client, aiohttp_server, sqlite_url, clock, status
):
    receiver = WebhookReceiver(SECRET, statuses=[status])
    server = await aiohttp_server(receiver.app())
    api = await _app(aiohttp_client, sqlite_url, clock)
    await _hook(api, str(server.make_url("/hook")), unit="ZJJ")
    number = (await api.register())["number"]
    await api.act("dispatcher", number, "dispatch", unit="ZJJ")
    assert await api.client.app[OUTBOX].deliver_due() == (0, 1)
