"""What a webhook delivery is, without I/O: event names, matching, the signed body."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from dispatch.lifecycle import RULES, SYSTEM_ACTIONS, Event, State

# The life-cycle action -> the event partners subscribe to (DESIGN §8: `order.<action>`,
# named for what happened: order.registered, order.dispatched, order.replied, ...).
EVENT_OF_ACTION = {
    "register": "order.registered",
    "answer": "order.answered",
    "dispatch": "order.dispatched",
    "accept": "order.accepted",
    "return": "order.returned",
    "object": "order.objected",
    "object_decide": "order.objection_decided",
    "redispatch": "order.redispatched",
    "subdispatch": "order.subdispatched",
    "extend_request": "order.extension_requested",
    "extend_decide": "order.extension_decided",
    "reply": "order.replied",
    "review": "order.reviewed",
    "callback": "order.called_back",
    "verify": "order.verified",
    "reopen": "order.reopened",
    "merge": "order.merged",
    "invalidate": "order.invalidated",
    "supervise": "order.supervised",
    "suspend": "order.suspended",
    "resume": "order.resumed",
    "inspect": "order.inspected",
    "accept_warning": "order.accept_warning",
    "accept_overdue": "order.accept_overdue",
    "warning": "order.warning",
    "overdue": "order.overdue",
    "escalated": "order.escalated",
    "verify_warning": "order.verify_warning",
    "verify_overdue": "order.verify_overdue",
    "parent_replied": "order.parent_replied",
    "linkage": "order.linkage",  # 应急联动 (callcenter/linkage.py): no state change
}
# Besides its action's event, an action that closes the order is also `order.closed`.
CLOSED = "order.closed"
ALL = "order.*"
EVENTS = frozenset(EVENT_OF_ACTION.values()) | {CLOSED}
assert set(EVENT_OF_ACTION) == set(RULES) | set(SYSTEM_ACTIONS)

SIGNATURE_HEADER = "X-Hotline-Signature"
EVENT_ID_HEADER = "X-Hotline-Event-Id"
EVENT_HEADER = "X-Hotline-Event"


def event_names(event: Event) -> list[str]:
    names = [EVENT_OF_ACTION.get(event.action, f"order.{event.action}")]
    if event.to_state == State.CLOSED and event.from_state != State.CLOSED:
        names.append(CLOSED)
    return names


def unknown_events(events: Iterable[str]) -> list[str]:
    return [e for e in events if e not in EVENTS and e != ALL]


def subscribed(events: Iterable[str], name: str) -> bool:
    wanted = set(events)
    return name in wanted or ALL in wanted


def body(name: str, event_id: str, at: str, order: dict[str, Any]) -> str:
    """The JSON a delivery POSTs; signed byte for byte as stored."""
    payload = {"event": name, "id": event_id, "at": at, "order": order}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def signature(secret: str, raw: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body with the secret>`."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def signature_valid(secret: str, raw: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(signature(secret, raw), header)
