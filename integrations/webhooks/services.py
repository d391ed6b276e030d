"""Use cases of webhooks: register, list, delete; and the subscriber that turns each
appended order event into outbox deliveries for the webhooks that hear it."""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.domain import Actor, Role, UnitRef
from app.bus import announce
from app.db import on_commit_of
from dispatch.services import Appended, OrderDetail, Subscriber, UnitDirectory
from dispatch.storage import Hotline, Order, OrderEvent, Unit
from dispatch.views import order_detail
from integrations.exceptions import WebhookInvalid, WebhookNotFound
from integrations.outbox import enqueue_webhook
from integrations.webhooks import domain
from integrations.webhooks.storage import Webhook


async def create(
    session: AsyncSession,
    url: str,
    secret: str,
    events: list[str],
    unit: str | None,
    hotline: str | None,
    by: Actor,
    now: datetime,
) -> Webhook:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookInvalid("url: 应为 http:// 或 https:// 地址", code="invalid_url")
    if unknown := domain.unknown_events(events):
        raise WebhookInvalid(f"未知事件: {', '.join(unknown)}", code="unknown_event")
    unit_id = None
    if unit:
        unit_id = await session.scalar(select(Unit.id).where(Unit.code == unit))
        if unit_id is None:
            raise WebhookInvalid(f"未知单位: {unit}", code="unknown_unit")
    if hotline and await session.get(Hotline, hotline) is None:
        raise WebhookInvalid(f"未知热线: {hotline}", code="unknown_hotline")
    hook = Webhook(
        url=url,
        secret=secret,
        events=list(dict.fromkeys(events)),
        unit_id=unit_id,
        hotline_number=hotline or None,
        created_by=by.username,
        created_at=now,
        active=True,
    )
    session.add(hook)
    await session.flush()
    return hook


async def listed(session: AsyncSession) -> list[tuple[Webhook, str | None]]:
    rows = await session.execute(
        select(Webhook, Unit.code)
        .outerjoin(Unit, Unit.id == Webhook.unit_id)
        .where(Webhook.active.is_(True))
        .order_by(Webhook.id)
    )
    return [(hook, code) for hook, code in rows]


async def delete(session: AsyncSession, webhook_id: int) -> None:
    """The hook hears nothing more; deliveries still queued for it become dead letters."""
    hook = await session.get(Webhook, webhook_id)
    if hook is None or not hook.active:
        raise WebhookNotFound(webhook_id)
    hook.active = False


def _hears(hook: Webhook, name: str, appended: Appended, units: UnitDirectory) -> bool:
    if not domain.subscribed(hook.events, name):
        return False
    if hook.hotline_number is not None and hook.hotline_number != appended.hotline:
        return False
    if hook.unit_id is None:
        return True
    unit = units.by_id.get(hook.unit_id)
    view = appended.view
    involved = {view.lead_unit, view.assignee, appended.event.data.get("unit")}
    return unit is not None and any(
        isinstance(code, str) and units.within(code, unit.code) for code in involved
    )


def _viewer(hook: Webhook, units: UnitDirectory) -> Actor:
    """Who the order is shown as: the hook's unit (masked phone, confidential hidden, as
    GET /orders/{number} shows it to that unit); a hook without a unit as `system`,
    which PHONE_ROLES leaves out too."""
    unit = units.by_id.get(hook.unit_id) if hook.unit_id is not None else None
    if unit is None:
        return Actor(f"webhook:{hook.id}", Role.SYSTEM)
    return Actor(f"webhook:{hook.id}", Role.UNIT, UnitRef(unit.id, unit.code, unit.name, unit.path))


_changes = 0  # webhooks changed (here or on another node) this many times


def forget_webhooks() -> None:
    """The subscribers read the active webhooks again."""
    global _changes
    _changes += 1


def _webhooks_changed() -> None:
    forget_webhooks()
    announce("webhooks")  # the other nodes of a cluster forget theirs too


on_commit_of((Webhook,), _webhooks_changed)


def subscriber(tz: ZoneInfo) -> Subscriber:
    # The active webhooks (detached rows), read once and kept until one changes: every
    # appended event asks for them.
    cached: tuple[int, list[Webhook]] = (-1, [])

    async def active(session: AsyncSession) -> list[Webhook]:
        nonlocal cached
        seen, hooks = cached
        if seen != _changes:
            seen = _changes
            hooks = list(await session.scalars(select(Webhook).where(Webhook.active.is_(True))))
            if seen == _changes:  # none changed while they were read
                cached = (seen, hooks)
        return hooks

    async def webhooks_out(session: AsyncSession, appended: Appended, units: UnitDirectory) -> None:
        names = domain.event_names(appended.event)
        hooks = await active(session)
        matches = [(h, n) for n in names for h in hooks if _hears(h, n, appended, units)]
        if not matches:
            return
        # The order as it is after this event: its row and log are flushed in this session.
        order = await session.get(Order, appended.order_id)
        events = list(
            await session.scalars(
                select(OrderEvent)
                .where(OrderEvent.order_id == appended.order_id)
                .order_by(OrderEvent.seq)
            )
        )
        detail = OrderDetail(order, events, units, appended.view)
        at = appended.event.at.astimezone(tz).isoformat(timespec="seconds")
        for hook, name in matches:
            event_id = uuid.uuid4().hex
            shown = order_detail(detail, _viewer(hook, units), tz)
            body = domain.body(name, event_id, at, shown)
            enqueue_webhook(session, hook, name, event_id, body, appended.event.at)

    return webhooks_out
