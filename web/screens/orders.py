"""工单详情 (with the event log and the actions the user may take) and 工单查询."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from sqlalchemy import delete, func, select

from accounts.domain import Actor, Role
from accounts.routes import phones_viewed, trail
from accounts.storage import User
from app.db import unit_of_work
from app.errors import AppError, NotFound
from app.http import page_number
from app.keys import DISPATCH, SESSIONS, SETTINGS, SUGGESTER
from callcenter import linkage
from dispatch.lifecycle import RULES, STATE_LABELS, State
from dispatch.privacy import phones_shown
from dispatch.services import OrderDetail, OrderFilter
from dispatch.views import order_detail, order_summary
from web import labels, queries, uploads
from web.forms import FormError, action_payload, read_form
from web.render import order_row, page_count, render, unit_names, verify_deadline
from web.screens.geo import map_options
from web.session import actor_of, flash, screen
from web.storage import SavedView

# Actions this step of the web interface offers; the rest stay API-only for now.
WEB_ACTIONS = (
    "answer",
    "dispatch",
    "redispatch",
    "merge",
    "invalidate",
    "accept",
    "return",
    "object",
    "object_decide",
    "reply",
    "supervise",
    "review",
    "callback",
    "extend_decide",
    "verify",
    "reopen",
)
# Offered only while the order waits for it (the rules allow them in a state; the flag
# says whether there is a request to decide or a rating to verify).
NEEDS_FLAG = {
    "extend_decide": "extension_pending",
    "verify": "verify_pending",
    "object_decide": "objected",
}
# Not offered while the order carries the flag: a 派单异议 is decided, not overridden.
NOT_WITH_FLAG = {"redispatch": "objected"}
# After these the order usually leaves the user's list: go back to the queue.
BACK_TO_QUEUE = frozenset(
    {"dispatch", "redispatch", "merge", "invalidate", "return", "object", "object_decide"}
)
# Actions whose form may carry files (web/uploads.py), attached to the event they make.
UPLOAD_ACTIONS = frozenset({"reply"})
PAGE_SIZE = 50
# The form opened on the order page: the first of these the user may take (the others
# stay folded, one click away).
USUAL_FIRST = (
    "object_decide",
    "extend_decide",
    "verify",
    "dispatch",
    "redispatch",
    "accept",
    "reply",
    "review",
    "callback",
    "supervise",
    "answer",
    "merge",
    "invalidate",
    "return",
    "object",
    "reopen",
)


def offered_actions(actor: Actor, state: str, flags: Iterable[str] = ()) -> list[str]:
    """The actions the life-cycle rules allow this role in this state (the forms shown);
    延期审批 and 差评核实 only while there is something to decide."""
    flags = set(flags)
    return [
        name
        for name in WEB_ACTIONS
        if actor.role in RULES[name].roles
        and State(state) in RULES[name].from_states
        and NEEDS_FLAG.get(name, "") in flags | {""}
        and NOT_WITH_FLAG.get(name) not in flags
    ]


def pending_extension(events: list[dict]) -> dict | None:
    """The 延期申请 waiting for a decision: the latest request, if none was decided since."""
    for event in reversed(events):
        if event["action"] == "extend_decide":
            return None
        if event["action"] == "extend_request":
            return event
    return None


async def _suggestions(request: web.Request, actor: Actor, detail: OrderDetail) -> dict | None:
    if actor.role != Role.DISPATCHER or detail.order.state not in (
        State.REGISTERED,
        State.RETURNED,
        State.DISPATCHED,
    ):
        return None
    found = await request.app[SUGGESTER].suggest(actor, detail.order)
    async with request.app[SESSIONS]() as session:
        returned = await queries.returned_by(session, detail.order.id)
    return demote_returning_units(found, returned)


def demote_returning_units(suggestions: dict, returned: set[str]) -> dict:
    """A unit that returned this order goes to the end of the unit suggestions, marked.

    The suggester (dispatch/suggestions.py) knows the text, not the order's history; a
    unit that has already refused the order is the least likely right answer.
    """
    if not returned or not suggestions.get("unit"):
        return suggestions
    units = suggestions["unit"]
    kept = [u for u in units if u.get("unit") not in returned]
    demoted = [{**u, "returned": True} for u in units if u.get("unit") in returned]
    return {**suggestions, "unit": kept + demoted}


async def _verify_due(request: web.Request, detail: OrderDetail):
    """核实时限 of a 差评 waiting for verification (web.render.verify_deadline)."""
    service = request.app[DISPATCH]
    async with request.app[SESSIONS]() as session:
        rated = await queries.rated_at(session, [detail.order.id])
    at = rated.get(detail.order.id)
    return verify_deadline(at, service.policy, service.now()) if at else None


@screen()
async def detail_page(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    service = request.app[DISPATCH]
    detail = await service.get(actor, request.match_info["number"])
    order = order_detail(detail, actor, service.tz)
    await phones_viewed(request, actor, phones_shown(actor, [detail.order]), "web.order")
    actions = offered_actions(actor, detail.order.state, order["flags"])
    context: dict[str, Any] = {
        "order": order,
        "deadline": order_row(order, detail.order, service.now())["deadline"],
        "units": unit_names(detail.units),
        "actions": actions,
        "open_action": next((a for a in USUAL_FIRST if a in actions), None),
        "labels": {name: RULES[name].label for name in WEB_ACTIONS},
        "suggestions": await _suggestions(request, actor, detail),
        "satisfaction": labels.SATISFACTION,
        "back": labels.home_of(actor.role),
        "upload_accept": uploads.ACCEPT_ATTR,
        "verify_due": await _verify_due(request, detail) if "verify" in actions else None,
        "extension": pending_extension(order["events"]) if "extend_decide" in actions else None,
    }
    async with request.app[SESSIONS]() as session:
        rows = await uploads.for_orders(session, [detail.order.id])
    context["attachments"] = [uploads.as_json(row, service.tz) for row in rows]
    if detail.order.latitude is not None and detail.order.longitude is not None:
        context["map"] = map_options(request, detail.order.latitude, detail.order.longitude)
    if {"dispatch", "redispatch", "object_decide"} & set(actions):
        async with request.app[SESSIONS]() as session:
            context["categories"] = await queries.categories(session)
        context["unit_options"] = sorted(
            (u for u in detail.units.by_code.values() if u.active), key=lambda u: u.path
        )
    if actor.role in LINKAGE_VIEWERS:  # 应急联动: the hand-overs, the manual record form
        context["handovers"] = await linkage.for_order(request.app, actor, detail.order.number)
        context["linkage_services"] = linkage.SERVICES
        context["may_record_linkage"] = actor.role in linkage.RECORD_ROLES
    if detail.order.state == State.RETURNED or "disputed" in order["flags"]:
        async with request.app[SESSIONS]() as session:
            reasons = await queries.return_reasons(session, [detail.order.id])
        context["return_reason"] = reasons.get(detail.order.id)
    if "objected" in order["flags"]:
        async with request.app[SESSIONS]() as session:
            objections = await queries.return_reasons(session, [detail.order.id], "object")
        context["objection"] = objections.get(detail.order.id)
    return await render(request, "order.html", context)


@screen()
async def print_page(request: web.Request) -> web.StreamResponse:
    """交办单: the order on paper (print stylesheet); masked for units like the detail."""
    actor = await actor_of(request)
    service = request.app[DISPATCH]
    detail = await service.get(actor, request.match_info["number"])
    await phones_viewed(request, actor, phones_shown(actor, [detail.order]), "web.print")
    context = {
        "order": order_detail(detail, actor, service.tz),
        "units": unit_names(detail.units),
        "printed_at": service.now(),
        "back": f"/web/orders/{detail.order.number}",
    }
    return await render(request, "order_print.html", context)


@screen()
async def act(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    number, action = request.match_info["number"], request.match_info["action"]
    if action not in WEB_ACTIONS:
        raise NotFound("未知的操作")
    service = request.app[DISPATCH]
    form = await request.post()
    here = f"/web/orders/{number}"
    settings, sessions = request.app[SETTINGS].web, request.app[SESSIONS]
    try:
        payload = action_payload(action, form, service.tz)
        files = uploads.from_form(form, settings) if action in UPLOAD_ACTIONS else []
        if files:  # checked before the action, so a refused file records nothing
            order_id = (await service.get(actor, number)).order.id
            await uploads.check_quota(sessions, order_id, len(files), settings)
        detail = await service.act(actor, number, action, payload)
    except NotFound:
        raise
    except AppError as exc:  # rejected input, illegal state, another unit's order, ...
        await flash(request, "error", f"{RULES[action].label}未成功:{exc.message}")
        raise web.HTTPFound(here) from None
    done = f"工单 {number}:{RULES[action].label}成功"
    if files:
        event_id = detail.events[-1].id
        await uploads.save(
            sessions, settings, detail.order.id, event_id, actor, files, service.now()
        )
        done += f",附件 {len(files)} 个"
    await flash(request, "ok", done, here)
    raise web.HTTPFound(labels.home_of(actor.role) if action in BACK_TO_QUEUE else here)


LINKAGE_VIEWERS = linkage.RECORD_ROLES | {Role.ADMIN}


@screen(*linkage.RECORD_ROLES)
async def record_linkage(request: web.Request) -> web.StreamResponse:
    """登记应急联动: a hand-over made by other means (by phone), from the order page."""
    actor = await actor_of(request)
    number = request.match_info["number"]
    form = await request.post()
    service = str(form.get("service", ""))
    note = str(form.get("note", "")).strip()
    here = f"/web/orders/{number}"
    if service not in linkage.SERVICES or len(note) > linkage.NOTE_MAX:
        wrong = f"应急联动登记未成功:请选择联动单位,说明不超过{linkage.NOTE_MAX}字"
        await flash(request, "error", wrong)
        raise web.HTTPFound(here)
    try:
        audit = trail(request, actor)
        await linkage.record_manual(request.app, actor, audit, number, service, note)
    except NotFound:
        raise
    except AppError as exc:
        await flash(request, "error", f"应急联动登记未成功:{exc.message}")
        raise web.HTTPFound(here) from None
    await flash(request, "ok", f"工单 {number}:已登记移交{linkage.SERVICES[service]}", here)
    raise web.HTTPFound(here)


MAX_SAVED_VIEWS = 20  # 常用查询 per user
SEARCH = "/web/orders"


def view_query(request: web.Request) -> str:
    """The filters of the page as a query string, without the page number."""
    return urlencode([(k, v) for k, v in request.query.items() if k != "page" and v])[:500]


async def _user_id(session, actor: Actor) -> int:
    return await session.scalar(select(User.id).where(User.username == actor.username))


async def saved_views(request: web.Request, actor: Actor) -> list[SavedView]:
    async with request.app[SESSIONS]() as session:
        user_id = await _user_id(session, actor)
        rows = await session.scalars(
            select(SavedView).where(SavedView.user_id == user_id).order_by(SavedView.name)
        )
        return list(rows)


@screen()
async def save_view(request: web.Request) -> web.StreamResponse:
    """保存为常用查询: the current filters under a name (the same name replaces them)."""
    actor = await actor_of(request)
    form = await read_form(request)
    name = str(form.get("name", "")).strip()
    # the canonical form of what the page sent (the search page's own `view_query`)
    pairs = parse_qsl(str(form.get("query", "")).strip().lstrip("?"))
    query = urlencode([(k, v) for k, v in pairs if k != "page" and v])
    back = f"{SEARCH}?{query}" if query else SEARCH
    try:
        if not name or len(name) > 40:
            raise FormError("常用查询名称:请填写,不超过40个字")
        if not query or len(query) > 500:
            raise FormError("请先设置查询条件再保存")
        async with unit_of_work(request.app[SESSIONS]) as session:
            user_id = await _user_id(session, actor)
            row = await session.scalar(
                select(SavedView).where(SavedView.user_id == user_id, SavedView.name == name)
            )
            if row is None:
                count = await session.scalar(
                    select(func.count(SavedView.id)).where(SavedView.user_id == user_id)
                )
                if count >= MAX_SAVED_VIEWS:
                    raise FormError(f"常用查询最多 {MAX_SAVED_VIEWS} 个,请先删除不用的")
                session.add(SavedView(user_id=user_id, name=name, query=query))
            else:
                row.query = query
    except FormError as exc:
        await flash(request, "error", exc.message)
        raise web.HTTPFound(back) from None
    await flash(request, "ok", f"已保存常用查询“{name}”")
    raise web.HTTPFound(back)


@screen()
async def delete_view(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    view_id = int(request.match_info["id"])
    async with unit_of_work(request.app[SESSIONS]) as session:
        user_id = await _user_id(session, actor)
        result = await session.execute(
            delete(SavedView).where(SavedView.id == view_id, SavedView.user_id == user_id)
        )
    if not result.rowcount:
        raise NotFound("常用查询不存在")
    await flash(request, "ok", "已删除常用查询")
    raise web.HTTPFound(SEARCH)


@screen()
async def search(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    service = request.app[DISPATCH]
    q = request.query.get("q", "").strip()[:100] or None
    state = request.query.get("state") or None
    if state not in {s.value for s in State}:
        state = None
    page = page_number(request.query.get("page"))
    rows, total, exact, units = await service.list(
        actor, OrderFilter(state=state, q=q), page, PAGE_SIZE
    )
    now = service.now()
    items = [order_row(order_summary(o, units, actor, service.tz), o, now) for o in rows]
    await phones_viewed(request, actor, phones_shown(actor, rows), "web.orders")
    return await render(
        request,
        "orders.html",
        {
            "items": items,
            "total": total,
            "exact": exact,
            "page": page,
            "pages": page_count(total, PAGE_SIZE),
            "q": q or "",
            "state": state or "",
            "states": STATE_LABELS,
            "units": unit_names(units),
            "views": await saved_views(request, actor),
            "view_query": view_query(request),
        },
    )
