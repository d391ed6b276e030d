"""The role home screens: 派单队列, 本单位工单, 督办 — lists of the orders waiting for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from accounts.domain import Actor, Role
from app.keys import DISPATCH, SESSIONS
from dispatch.services import OrderFilter
from dispatch.views import order_summary
from web import queries
from web.render import order_row, render, unit_names
from web.session import actor_of, screen

QUEUE_SIZE = 100
FAR_FUTURE = datetime.max.isoformat()


async def _rows(request: web.Request, actor: Actor, filters: OrderFilter) -> dict[str, Any]:
    """One list: rows with countdowns, the total, and unit names for display."""
    service = request.app[DISPATCH]
    orders, total, units = await service.list(actor, filters, 1, QUEUE_SIZE)
    now = service.now()
    rows = [order_row(order_summary(o, units, actor, service.tz), o, now) for o in orders]
    return {"rows": rows, "total": total, "orders": orders, "units": unit_names(units)}


def _by_due(rows: list[dict]) -> list[dict]:
    """Most urgent first: the nearest (or most overdue) deadline at the top."""
    return sorted(
        rows, key=lambda r: r["deadline"].due.isoformat() if r["deadline"] else FAR_FUTURE
    )


@screen(Role.DISPATCHER)
async def dispatch_queue(request: web.Request) -> web.StreamResponse:
    """派单队列: registered orders to dispatch, returned ones with the unit's reason."""
    actor = await actor_of(request)
    q = request.query.get("q", "").strip()[:100] or None
    waiting = await _rows(request, actor, OrderFilter(state="registered", q=q))
    returned = await _rows(request, actor, OrderFilter(state="returned", q=q))
    async with request.app[SESSIONS]() as session:
        reasons = await queries.return_reasons(session, [o.id for o in returned["orders"]])
    for row, order in zip(returned["rows"], returned["orders"], strict=True):
        row["return_reason"] = reasons.get(order.id)
    return await render(
        request,
        "dispatch.html",
        {
            "waiting": waiting,
            "returned": returned,
            "q": q or "",
            "units": {**waiting["units"], **returned["units"]},
        },
    )


@screen(Role.UNIT)
async def unit_inbox(request: web.Request) -> web.StreamResponse:
    """本单位工单: to accept, in progress (with countdowns), replied and waiting for review."""
    actor = await actor_of(request)
    to_accept = await _rows(request, actor, OrderFilter(state="dispatched"))
    in_progress = await _rows(request, actor, OrderFilter(state="accepted"))
    replied = await _rows(request, actor, OrderFilter(state="replied"))
    return await render(
        request,
        "unit.html",
        {
            "to_accept": _by_due(to_accept["rows"]),
            "in_progress": _by_due(in_progress["rows"]),
            "replied": replied["rows"],
            "units": {**to_accept["units"]},
        },
    )


ALARM_FLAGS = ("overdue", "accept_overdue", "escalated", "warning", "accept_warning")


@screen(Role.SUPERVISOR)
async def supervise_board(request: web.Request) -> web.StreamResponse:
    """督办: overdue and warned orders, returns in dispute, replies to review, callbacks."""
    actor = await actor_of(request)
    alarmed: dict[str, dict] = {}
    units: dict[str, str] = {}
    for flag in ALARM_FLAGS:  # red first: a red order is listed once, under its worst flag
        part = await _rows(request, actor, OrderFilter(flag=flag))
        units.update(part["units"])
        for row in part["rows"]:
            alarmed.setdefault(row["number"], row)
    disputed = await _rows(request, actor, OrderFilter(flag="disputed"))
    review = await _rows(request, actor, OrderFilter(state="replied"))
    callback = await _rows(request, actor, OrderFilter(state="callback_pending"))
    return await render(
        request,
        "supervise.html",
        {
            "alarmed": list(alarmed.values()),
            "disputed": disputed["rows"],
            "review": review["rows"],
            "callback": callback["rows"],
            "units": units | disputed["units"],
        },
    )
