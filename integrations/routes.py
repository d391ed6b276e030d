"""HTTP entrypoints of integrations (admin): the outbox's dead letters and re-sending,
and webhooks (DESIGN §8)."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field
from sqlalchemy import func, select

from accounts.domain import Role
from app.db import unit_of_work
from app.http import ApiRoute, Call, Page, StrictBody, ascii_int, page_answer, page_of
from app.keys import DISPATCH, SESSIONS
from integrations import outbox
from integrations.exceptions import MessageNotFound, WebhookNotFound
from integrations.outbox import OutboxMessage
from integrations.webhooks import services as webhooks
from integrations.webhooks.storage import Webhook

ADMIN = frozenset({Role.ADMIN})


class OutboxQuery(Page):
    status: Literal["pending", "sent", "dead"] | None = None
    channel: Literal["email", "webhook"] | None = None


def message_json(m: OutboxMessage) -> dict:
    return {
        "id": m.id,
        "channel": m.channel,
        "recipient": m.recipient,
        "subject": m.subject,
        "status": m.status,
        "attempts": m.attempts,
        "created_at": m.created_at,
        "next_attempt_at": m.next_attempt_at,
        "sent_at": m.sent_at,
        "last_error": m.last_error,
        "event_id": m.event_id,
        "webhook": m.webhook_id,
    }


async def outbox_page(session, q: OutboxQuery) -> tuple[list[OutboxMessage], int]:
    """One page of outbox messages, newest first (the admin screen shares it)."""
    conditions = []
    if q.status:
        conditions.append(OutboxMessage.status == q.status)
    if q.channel:
        conditions.append(OutboxMessage.channel == q.channel)
    total = await session.scalar(select(func.count(OutboxMessage.id)).where(*conditions))
    rows = await session.scalars(
        select(OutboxMessage)
        .where(*conditions)
        .order_by(OutboxMessage.id.desc())
        .offset((q.page - 1) * q.page_size)
        .limit(q.page_size)
    )
    return list(rows), total or 0


async def list_outbox(request: web.Request, call: Call):
    q: OutboxQuery = call.query
    async with request.app[SESSIONS]() as session:
        rows, total = await outbox_page(session, q)
    return page_answer([message_json(m) for m in rows], total, q.page, q.page_size)


async def resend_message(request: web.Request, call: Call):
    message_id = ascii_int(request.match_info["id"])
    if message_id is None:
        raise MessageNotFound(request.match_info["id"])
    async with unit_of_work(request.app[SESSIONS]) as session:
        message = await outbox.resend(session, message_id, request.app[DISPATCH].now())
        return message_json(message)


class CreateWebhook(StrictBody):
    url: str = Field(min_length=1, max_length=500)
    secret: str = Field(min_length=16, max_length=200)
    events: list[str] = Field(min_length=1, max_length=50)
    unit: str | None = Field(None, max_length=40)
    hotline: str | None = Field(None, max_length=20)


def webhook_json(hook: Webhook, unit: str | None) -> dict:
    """Never the secret."""
    return {
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "unit": unit,
        "hotline": hook.hotline_number,
        "created_by": hook.created_by,
        "created_at": hook.created_at,
    }


async def create_webhook(request: web.Request, call: Call):
    body: CreateWebhook = call.body
    now = request.app[DISPATCH].now()
    async with unit_of_work(request.app[SESSIONS]) as session:
        hook = await webhooks.create(
            session, body.url, body.secret, body.events, body.unit, body.hotline, call.actor, now
        )
        return webhook_json(hook, body.unit)


async def list_webhooks(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        rows = await webhooks.listed(session)
    return page_of([webhook_json(hook, unit) for hook, unit in rows], call.query)


async def delete_webhook(request: web.Request, call: Call):
    webhook_id = ascii_int(request.match_info["id"])
    if webhook_id is None:
        raise WebhookNotFound(request.match_info["id"])
    async with unit_of_work(request.app[SESSIONS]) as session:
        await webhooks.delete(session, webhook_id)
    return {"id": webhook_id, "deleted": True}


routes = [
    ApiRoute(
        "GET",
        "/api/v1/outbox",
        list_outbox,
        "外发消息(status=dead:发送失败的死信)",
        roles=ADMIN,
        query=OutboxQuery,
        tags=("admin",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/outbox/{id}/resend",
        resend_message,
        "重发一条死信",
        roles=ADMIN,
        tags=("admin",),
        errors=(409,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/webhooks",
        create_webhook,
        "新增 Webhook",
        roles=ADMIN,
        body=CreateWebhook,
        status=201,
        creates=("id", "/api/v1/webhooks/{id}"),
        tags=("admin",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/webhooks",
        list_webhooks,
        "Webhook 列表",
        roles=ADMIN,
        query=Page,
        tags=("admin",),
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/webhooks/{id}",
        delete_webhook,
        "删除 Webhook",
        roles=ADMIN,
        tags=("admin",),
    ),
]
