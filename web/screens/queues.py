"""The role home screens: 派单队列, 本单位工单, 督办 — lists of the orders waiting for them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from accounts.domain import Actor, Role
from accounts.routes import phones_viewed
from app.errors import AppError
from app.http import parse_model
from app.keys import DISPATCH, SESSIONS, SETTINGS
from dispatch.privacy import phones_shown
from dispatch.services import OrderFilter
from dispatch.views import order_summary
from stats.domain import three_rate_weights
from stats.routes import RankingParams
from stats.routes import ranking as stats_ranking
from web import queries
from web.render import duration_text, order_row, render, unit_names, verify_deadline
from web.session import actor_of, flash, screen

QUEUE_SIZE = 100  # the most urgent orders of a list; its total is shown beside it
# 派单队列 reloads itself this often, unless a form on it is being filled in.
REFRESH_SECONDS = 60
FAR_FUTURE = datetime.max.isoformat()


async def _rows(
    request: web.Request, actor: Actor, filters: OrderFilter, size: int | None = None
) -> dict[str, Any]:
    """The first page of one list, in the list's SQL order (work queues: oldest deadline
    first), with countdowns, the total, and unit names for display."""
    service = request.app[DISPATCH]
    orders, total, _exact, units = await service.list(actor, filters, 1, size or QUEUE_SIZE)
    now = service.now()
    rows = [order_row(order_summary(o, units, actor, service.tz), o, now) for o in orders]
    return {
        "rows": rows,
        "total": total,
        "orders": orders,
        "units": unit_names(units),
        "directory": units,
    }


def _by_due(rows: list[dict]) -> list[dict]:
    """Most urgent first, for a list merged from two (each already in SQL's due order)."""
    return sorted(
        rows, key=lambda r: r["deadline"].due.isoformat() if r["deadline"] else FAR_FUTURE
    )


def _aging(rows: list[dict], since: dict[str, datetime], now: datetime, settings) -> None:
    """等待时长 and 派单时限 of queue rows, coloured by the share of the target used."""
    target = timedelta(minutes=settings.web.dispatch_target_minutes)
    warn = settings.deadlines.warning_ratio
    for row in rows:
        start = since.get(row["number"]) or datetime.fromisoformat(row["created_at"])
        waited = now - start
        share = waited / target
        row["waited"] = duration_text(waited.total_seconds())
        row["wait_due"] = start + target
        row["aging"] = "overdue" if share >= 1 else "warning" if share >= warn else "ok"


async def _phones_viewed(
    request: web.Request, actor: Actor, where: str, *lists: dict[str, Any]
) -> None:
    """One audit line for the full phone numbers a screen shows, over all its lists."""
    orders = {o.id: o for rows in lists for o in rows["orders"]}
    await phones_viewed(request, actor, phones_shown(actor, list(orders.values())), where)


def _drop_objected(returned: dict[str, Any], objected_total: int) -> None:
    """The 退单 list without the orders under 派单异议 (listed apart)."""
    keep = [i for i, r in enumerate(returned["rows"]) if "objected" not in r["flags"]]
    returned["rows"] = [returned["rows"][i] for i in keep]
    returned["orders"] = [returned["orders"][i] for i in keep]
    returned["total"] -= objected_total


@screen(Role.DISPATCHER)
async def dispatch_queue(request: web.Request) -> web.StreamResponse:
    """派单队列: registered orders to dispatch, returned ones with the unit's reason; how
    long each has waited against the dispatch target; bulk dispatch; auto-refresh."""
    actor = await actor_of(request)
    q = request.query.get("q", "").strip()[:100] or None
    waiting = await _rows(request, actor, OrderFilter(state="registered", q=q))
    returned = await _rows(request, actor, OrderFilter(state="returned", q=q))
    objected = await _rows(request, actor, OrderFilter(state="returned", flag="objected", q=q))
    # 派单异议 are decided in their own list, not re-dispatched like a plain 退单
    _drop_objected(returned, objected["total"])
    now, settings = request.app[DISPATCH].now(), request.app[SETTINGS]
    _aging(waiting["rows"], {}, now, settings)
    async with request.app[SESSIONS]() as session:
        for rows, action in ((returned, "return"), (objected, "object")):
            ids = [o.id for o in rows["orders"]]
            reasons = await queries.return_reasons(session, ids, action)
            for row, order in zip(rows["rows"], rows["orders"], strict=True):
                row["return_reason"] = reasons.get(order.id)
            since = {o.number: r.at for o in rows["orders"] if (r := reasons.get(o.id))}
            _aging(rows["rows"], since, now, settings)
    units = {**waiting["units"], **returned["units"], **objected["units"]}
    await _phones_viewed(request, actor, "web.dispatch", waiting, returned, objected)
    return await render(
        request,
        "dispatch.html",
        {
            "waiting": waiting,
            "returned": returned,
            "objected": objected,
            "q": q or "",
            "units": units,
            "unit_options": sorted(
                (u for u in (waiting["directory"]).by_code.values() if u.active),
                key=lambda u: u.path,
            ),
            "refresh_seconds": REFRESH_SECONDS,
            "target_minutes": settings.web.dispatch_target_minutes,
        },
    )


@screen(Role.DISPATCHER)
async def bulk_dispatch(request: web.Request) -> web.StreamResponse:
    """批量派单: the ticked orders to one unit, each through the dispatch use case."""
    actor = await actor_of(request)
    form = await request.post()
    numbers = [n for n in form.getall("numbers", []) if isinstance(n, str) and n.isdigit()]
    unit = str(form.get("unit", "")).strip()[:40]
    if not numbers or not unit:
        await flash(request, "error", "批量派单:请勾选工单并选择承办单位")
        raise web.HTTPFound("/web/dispatch")
    service, done, failed = request.app[DISPATCH], [], []
    for number in numbers[:QUEUE_SIZE]:
        try:
            await service.act(actor, number[:20], "dispatch", {"unit": unit})
        except AppError as exc:  # another dispatcher was quicker, an inactive unit, ...
            failed.append(f"{number}({exc.message})")
        else:
            done.append(number)
    if done:
        await flash(request, "ok", f"已批量派单 {len(done)} 件")
    if failed:
        await flash(request, "error", "未派出:" + ";".join(failed))
    raise web.HTTPFound("/web/dispatch")


# 本单位工单's tabs (one list at a time at phone width, or when one is chosen).
UNIT_TABS = {
    "accept": "待签收",
    "progress": "办理中",
    "returned": "已退回",
    "due": "临期超期",
    "replied": "待审核",
}


@screen(Role.UNIT, Role.LEADER)
async def unit_inbox(request: web.Request) -> web.StreamResponse:
    """本单位工单: to accept, in progress (with countdowns), returned, near or past the
    deadline, replied and waiting for review; `?tab=` shows one of them. 单位领导 see the
    same lists of their unit and its sub-units, read-only (the life cycle gives them no
    action), with the overdue and escalation notices of the ladder."""
    actor = await actor_of(request)
    to_accept = await _rows(request, actor, OrderFilter(state="dispatched"))
    in_progress = await _rows(request, actor, OrderFilter(state="accepted"))
    returned = await _rows(request, actor, OrderFilter(state="returned"))
    replied = await _rows(request, actor, OrderFilter(state="replied"))
    lists = {
        "accept": to_accept["rows"],
        "progress": in_progress["rows"],
        "returned": returned["rows"],
        "replied": replied["rows"],
    }
    lists["due"] = _by_due(
        [
            r
            for r in to_accept["rows"] + in_progress["rows"]
            if r["deadline"] and r["deadline"].css in ("warning", "overdue")
        ]
    )
    chosen = request.query.get("tab", "")
    return await render(
        request,
        "unit.html",
        {
            "lists": lists,
            # the whole count of each list, beyond the rows shown
            "totals": {
                "accept": to_accept["total"],
                "progress": in_progress["total"],
                "returned": returned["total"],
                "replied": replied["total"],
                "due": len(lists["due"]),
            },
            "tabs": UNIT_TABS,
            "chosen": chosen if chosen in UNIT_TABS else "",
            # at phone width, without a choice: the first non-empty list
            "current": chosen
            if chosen in UNIT_TABS
            else next((t for t in ("accept", "progress") if lists[t]), "accept"),
            "units": to_accept["units"] | in_progress["units"] | returned["units"],
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
    # disputes (DESIGN §4): plain returns and 派单异议 waiting for the centre
    disputed = await _rows(request, actor, OrderFilter(flags=("disputed", "objected")))
    review = await _rows(request, actor, OrderFilter(state="replied"))
    callback = await _rows(request, actor, OrderFilter(state="callback_pending"))
    verify = await _rows(request, actor, OrderFilter(flag="verify_pending"))
    service = request.app[DISPATCH]
    async with request.app[SESSIONS]() as session:
        rated = await queries.rated_at(session, [o.id for o in verify["orders"]])
    now = service.now()
    for row, order in zip(verify["rows"], verify["orders"], strict=True):
        if order.id in rated:
            row["verify_due"] = verify_deadline(rated[order.id], service.policy, now)
    verify["rows"].sort(key=lambda r: r["verify_due"].due if "verify_due" in r else now)
    verify["overdue"] = sum(
        1 for r in verify["rows"] if "verify_due" in r and r["verify_due"].css == "overdue"
    )
    await _phones_viewed(
        request, actor, "web.supervise", alarmed, disputed, review, callback, verify
    )
    return await render(
        request,
        "supervise.html",
        {
            "alarmed": alarmed,
            "disputed": disputed,
            "review": review,
            "callback": callback,
            "verify": verify,
            "verify_days": request.app[SETTINGS].deadlines.verify_working_days,
            "units": alarmed["units"] | disputed["units"] | verify["units"],
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


def _month_to_date(today: date) -> tuple[date, date]:
    """本月: this month so far, [first day, tomorrow). Not the whole month: its days still
    to come hold no orders, and the comparison (`Period.previous`, the period of equal
    length just before) would then reach back into the month before last."""
    return today.replace(day=1), today + timedelta(days=1)


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
    first, tomorrow = _month_to_date(today)
    previous_first, _ = _month_period(first - timedelta(days=1))
    start = request.query.get("from", "").strip()[:40] or first.isoformat()
    end = request.query.get("to", "").strip()[:40] or tomorrow.isoformat()
    context: dict[str, Any] = {
        "start": start,
        "end": end,
        "rates": RANKING_RATES,
        "presets": [
            ("本月", first.isoformat(), tomorrow.isoformat()),
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
