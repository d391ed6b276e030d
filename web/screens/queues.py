"""The role home screens: 派单队列, 本单位工单, 督办 — lists of the orders waiting for them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from accounts.domain import Actor, Role
from app.errors import AppError
from app.http import parse_model
from app.keys import DISPATCH, SESSIONS, SETTINGS
from dispatch.services import OrderFilter
from dispatch.views import order_summary
from stats.domain import three_rate_weights
from stats.routes import RankingParams
from stats.routes import ranking as stats_ranking
from web import queries
from web.render import order_row, render, unit_names
from web.session import actor_of, screen

QUEUE_SIZE = 100  # the most urgent orders of a list; its total is shown beside it


async def _rows(
    request: web.Request, actor: Actor, filters: OrderFilter, size: int | None = None
) -> dict[str, Any]:
    """The first page of one list, in the list's SQL order (work queues: oldest deadline
    first), with countdowns, the total, and unit names for display."""
    service = request.app[DISPATCH]
    orders, total, units = await service.list(actor, filters, 1, size or QUEUE_SIZE)
    now = service.now()
    rows = [order_row(order_summary(o, units, actor, service.tz), o, now) for o in orders]
    return {"rows": rows, "total": total, "orders": orders, "units": unit_names(units)}


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
            "to_accept": to_accept,
            "in_progress": in_progress,
            "replied": replied,
            "units": {**to_accept["units"]},
        },
    )


ALARM_FLAGS = ("overdue", "accept_overdue", "escalated", "warning", "accept_warning")
ALARM_LIMIT = 300  # alarmed orders shown (it was up to 100 per flag)


@screen(Role.SUPERVISOR)
async def supervise_board(request: web.Request) -> web.StreamResponse:
    """督办: overdue and warned orders, returns in dispute, replies to review, callbacks."""
    actor = await actor_of(request)
    # One query for the five alarm flags, each order once, the oldest running deadline
    # first: the overdue (deadline passed, the longest ago on top) come before the warned.
    alarmed = await _rows(request, actor, OrderFilter(flags=ALARM_FLAGS), ALARM_LIMIT)
    disputed = await _rows(request, actor, OrderFilter(flag="disputed"))
    review = await _rows(request, actor, OrderFilter(state="replied"))
    callback = await _rows(request, actor, OrderFilter(state="callback_pending"))
    return await render(
        request,
        "supervise.html",
        {
            "alarmed": alarmed,
            "disputed": disputed,
            "review": review,
            "callback": callback,
            "units": alarmed["units"] | disputed["units"],
        },
    )


# ---------------------------------------------------------------------- 单位排名

RANKING_RATES = (
    ("ontime_accept_rate", "响应率"),
    ("resolution_rate", "解决率"),
    ("satisfaction_rate", "满意率"),
)


def _month_period(today: date) -> tuple[date, date]:
    """This calendar month as a half-open [first day, first day of next month)."""
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


async def unit_ranking(app: web.Application, actor: Actor, start: str, end: str) -> dict:
    """What `GET /api/v1/stats/ranking?from=&to=` answers: the same `stats.routes.ranking`."""
    return await stats_ranking(app, actor, parse_model(RankingParams, {"from": start, "to": end}))


@screen(Role.SUPERVISOR)
async def ranking(request: web.Request) -> web.StreamResponse:
    """单位排名: units by the weighted 三率 score, with the change against the previous period.

    The figures are those of `GET /api/v1/stats/ranking` (`unit_ranking`), so the page
    and the API agree.
    """
    actor = await actor_of(request)
    service = request.app[DISPATCH]
    today = service.now().astimezone(service.tz).date()
    first, following = _month_period(today)
    previous_first, _ = _month_period(first - timedelta(days=1))
    start = request.query.get("from", "").strip()[:40] or first.isoformat()
    end = request.query.get("to", "").strip()[:40] or following.isoformat()
    context: dict[str, Any] = {
        "start": start,
        "end": end,
        "rates": RANKING_RATES,
        "presets": [
            ("本月", first.isoformat(), following.isoformat()),
            ("上月", previous_first.isoformat(), first.isoformat()),
            ("近30天", str(today - timedelta(days=29)), str(today + timedelta(days=1))),
        ],
        "weights": three_rate_weights(request.app[SETTINGS].kpi.three_rate_weights),
    }
    try:
        context["ranking"] = await unit_ranking(request.app, actor, start, end)
    except AppError as exc:
        context["error"] = exc.message
        return await render(request, "ranking.html", context, status=exc.status)
    return await render(request, "ranking.html", context)
