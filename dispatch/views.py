"""How orders look from outside: the JSON of DESIGN §9, masked for the caller's role."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from accounts.domain import PHONE_ROLES, Actor, mask_phone
from dispatch.lifecycle import STATE_LABELS, State, action_label
from dispatch.services import OrderDetail, UnitDirectory
from dispatch.storage import Order, OrderEvent

CONFIDENTIAL = "保密"


def local(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat(timespec="seconds") if at else None


def _caller(order: Order, actor: Actor) -> dict[str, Any]:
    if order.confidential and actor.role not in PHONE_ROLES:
        return {"caller_phone": None, "caller_name": CONFIDENTIAL}
    phone = order.caller_phone if actor.role in PHONE_ROLES else mask_phone(order.caller_phone)
    return {"caller_phone": phone, "caller_name": order.caller_name}


def _unit_codes(order: Order, units: UnitDirectory) -> dict[str, Any]:
    co = sorted(units.code(u.unit_id) for u in order.units if u.role == "co")
    return {
        "lead_unit": units.code(order.lead_unit_id),
        "assignee": units.code(order.assignee_unit_id),
        "proposed_unit": units.code(order.proposed_unit_id),  # 坐席建议派往
        "co_units": co,
    }


def order_summary(order: Order, units: UnitDirectory, actor: Actor, tz: ZoneInfo) -> dict[str, Any]:
    """One row of an order list."""
    return {
        "number": order.number,
        "state": order.state,
        "state_label": STATE_LABELS[State(order.state)],
        "hotline": order.hotline_number,
        "channel": order.channel,
        "type": order.request_type,
        "urgency": order.urgency,
        "title": order.title,
        "content": order.content,
        "address": order.address,
        "district": order.district,
        "category": order.category_code,
        **_unit_codes(order, units),
        **_caller(order, actor),
        "created_at": local(order.created_at, tz),
        "accept_due": local(order.accept_due, tz),
        "finish_due": local(order.finish_due, tz),
        "flags": sorted(f.flag for f in order.flag_rows),
    }


def event_json(row: OrderEvent, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "at": local(row.at, tz),
        "by": row.actor,
        "role": row.actor_role,
        "unit": row.actor_unit,
        "action": row.action,
        "label": action_label(row.action),
        "from": row.from_state,
        "to": row.to_state,
        "note": row.note,
        "data": row.data,
    }


def order_detail(detail: OrderDetail, actor: Actor, tz: ZoneInfo) -> dict[str, Any]:
    order, view = detail.order, detail.view
    body = order_summary(order, detail.units, actor, tz)
    body.update(
        {
            "parent": view.parent,  # 并单: the number, straight from the log
            "latitude": order.latitude,
            "longitude": order.longitude,
            "confidential": order.confidential,
            "contact_preference": order.contact_preference,
            "dispatched_at": local(order.dispatched_at, tz),
            "accepted_at": local(order.accepted_at, tz),
            "replied_at": local(order.replied_at, tz),
            "closed_at": local(order.closed_at, tz),
            "extensions": order.extensions,
            "return_count": order.return_count,
            "reopen_count": order.reopen_count,
            "co_replies": list(view.co_replies),
            "satisfaction": order.satisfaction,
            "resolved": order.resolved,
            "events": [event_json(e, tz) for e in detail.events],
        }
    )
    if actor.role in PHONE_ROLES or order.created_by == actor.username:
        body["tracking_token"] = order.tracking_token
    return body
