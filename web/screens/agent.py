"""坐席工作台: register a caller's request with live suggestions, or answer it at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from accounts.domain import Actor, Role
from app.errors import AppError, InvalidInput, NotFound
from app.http import json_response
from app.keys import DISPATCH, SESSIONS, SETTINGS, SUGGESTER
from callcenter import linkage
from callcenter.desk import link_order
from dispatch.intake import register_request, suggest_request
from dispatch.lifecycle import STATE_LABELS, State, action_label
from dispatch.services import OrderFilter, load_units
from dispatch.storage import Category
from dispatch.views import order_summary
from web import labels, queries
from web.forms import FieldError, action_payload, registration, texts
from web.render import order_row, render, unit_names
from web.session import actor_of, current_actor, flash, screen

RECENT = 10
HISTORY = 5
MIN_SUGGEST_CHARS = 2
MAX_SUGGEST_CHARS = 2000
MAX_DUPLICATE_CHARS = 80  # a duplicate's content, clipped for the side panel
SUGGEST_ROLES = (Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR)
# 投诉/举报 need a unit that is accountable for them: never answered on the spot.
NEEDS_A_UNIT = frozenset({"complaint", "report"})
# A parent to merge into must still be waiting for its reply (dispatch.lifecycle merge).
OPEN_STATES = frozenset({State.REGISTERED, State.DISPATCHED, State.ACCEPTED, State.RETURNED})


async def _form_context(request: web.Request, actor: Actor) -> dict[str, Any]:
    service = request.app[DISPATCH]
    async with request.app[SESSIONS]() as session:
        hotlines = await queries.hotlines(session, actor.hotlines)
    # The configuration's order: its first hotline (12345) is the default choice.
    rank = {h.number: i for i, h in enumerate(request.app[SETTINGS].hotlines)}
    hotlines.sort(key=lambda h: (rank.get(h.number, len(rank)), h.number))
    open_only = request.query.get("mine") == "open"
    async with request.app[SESSIONS]() as session:
        rows = await queries.registered_by(session, actor, RECENT, open_only)
        open_count = await queries.count_registered(session, actor, open_only=True)
        steps = await queries.latest_steps(session, [o.id for o in rows])
        units = await load_units(session)
    now = service.now()
    mine = []
    for order in rows:  # 首问负责: the progress of each order the agent registered
        row = order_row(order_summary(order, units, actor, service.tz), order, now)
        row["step"] = steps.get(order.id)
        row["step_label"] = action_label(row["step"].action) if row["step"] else ""
        mine.append(row)
    return {
        "hotlines": hotlines,
        "channels": {c: labels.CHANNELS[c] for c in labels.AGENT_CHANNELS},
        "types": labels.REQUEST_TYPES,
        "urgencies": labels.URGENCIES,
        "recent": mine,
        "recent_open": open_count,
        "recent_open_only": open_only,
        "units": unit_names(units),
        "form": {},
        "field_errors": {},
        "canned_phrases": request.app[SETTINGS].web.canned_phrases,
        "no_answer_types": sorted(NEEDS_A_UNIT),
    }


@screen(Role.AGENT)
async def console(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    return await render(request, "agent.html", await _form_context(request, actor))


async def register_order(request: web.Request, actor: Actor, fields: dict, auto: bool):
    app = request.app
    detail, _ = await register_request(app[DISPATCH], app[SUGGESTER], actor, fields, automatic=auto)
    return detail


def _answer_text(form, request_type: str, tz) -> dict[str, Any]:
    """直接答复's payload, with the reasons it cannot be given named at the answer box."""
    if request_type in NEEDS_A_UNIT:
        label = labels.REQUEST_TYPES[request_type]
        raise FieldError("text", f"{label}类诉求需派单至承办单位办理,不能直接答复,请点“登记工单”。")
    if not texts(form, "text"):
        raise FieldError("text", "请填写答复内容(可点选知识库答案或常用语后修改),再直接答复。")
    return action_payload("answer", form, tz)


async def _merge_parent(request: web.Request, actor: Actor, form) -> str | None:
    """并入此工单: the duplicate chosen, checked before anything is registered."""
    parent = texts(form, "merge_parent").get("merge_parent")
    if parent is None:
        return None
    try:
        detail = await request.app[DISPATCH].get(actor, parent[:20])
    except NotFound:
        raise FieldError("merge", f"主工单不存在: {parent[:20]}") from None
    if detail.order.state not in OPEN_STATES:
        raise FieldError("merge", f"工单 {parent} 已答复、并单、无效或办结,不能并入")
    return detail.order.number


@screen(Role.AGENT)
async def register(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    form = await request.post()
    answer_now = form.get("mode") == "answer"
    service = request.app[DISPATCH]
    try:
        fields = registration(form)
        answer = _answer_text(form, fields["type"], service.tz) if answer_now else None
        parent = None if answer_now else await _merge_parent(request, actor, form)
        # an unknown category or a proposed unit gone inactive meanwhile: the form again
        direct = answer is not None or parent is not None  # no 智能派单 before those
        detail = await register_order(request, actor, fields, auto=not direct)
    except InvalidInput as exc:  # FormError included
        return await _form_again(request, actor, form, exc)
    number = detail.order.number
    call_id = str(form.get("call_id", "")).strip()[:32]
    # Registered during a call (screen pop): the call record gets the order, and so do
    # the call's hand-overs (应急联动).
    if call_id and await link_order(request.app, actor, call_id, number):
        await linkage.attach_order(request.app, call_id, number)
    link = f"/web/orders/{number}"
    if answer is not None:
        kb_id = str(form.get("kb_id", "")).strip()[:64]
        if kb_id:
            answer["text"] = f"{answer['text']}\n(依据知识库条目 {kb_id})"
        await service.act(actor, number, "answer", answer)
        await flash(request, "ok", f"工单 {number} 已登记并直接答复", link)
    elif detail.order.state == State.MERGED:
        parent = detail.view.parent
        await flash(request, "ok", f"工单 {number} 已登记,与 {parent} 为同一事项,已自动并单", link)
    elif parent is not None:
        # Two use cases (register, merge); the parent was checked just before. Should it
        # have closed in between, the new order stays registered and the agent is told.
        try:
            await service.act(actor, number, "merge", {"parent": parent})
        except AppError as exc:  # refused, or the parent closed meanwhile (409)
            await flash(request, "error", f"工单 {number} 已登记,但并单未成功:{exc.message}", link)
        else:
            await flash(request, "ok", f"工单 {number} 已登记并并入工单 {parent}", link)
    elif detail.order.state == State.DISPATCHED:
        await flash(request, "ok", f"工单 {number} 已登记,并已智能派单", link)
    elif proposed := detail.view.proposed_unit:
        name = detail.units.by_code[proposed].name
        await flash(request, "ok", f"工单 {number} 已登记,等待派单(建议派往:{name})", link)
    else:
        await flash(request, "ok", f"工单 {number} 已登记,等待派单", link)
    raise web.HTTPFound("/web/agent")


async def _form_again(request: web.Request, actor: Actor, form, exc: InvalidInput):
    """The console with the input kept and the message (next to its field if it has one)."""
    context = await _form_context(request, actor)
    context["form"] = form
    if isinstance(exc, FieldError):
        context["field_errors"] = {exc.field: exc.message}
    else:
        context["error"] = exc.message
    if code := str(form.get("category", "")).strip()[:40]:  # "分类:X" keeps its name
        async with request.app[SESSIONS]() as session:
            category = await session.get(Category, code)
        context["category_name"] = category.name if category else code
    return await render(request, "agent.html", context, status=400)


def _duplicate(found: dict[str, Any], tz) -> dict[str, Any]:
    """A possible duplicate for the console: its state in Chinese, its time local, and
    whether it can still be merged into. The fields beyond number/similarity come from
    dispatch.suggestions when it sends them; without them the console shows less."""
    view = dict(found)
    if (state := view.get("state")) in STATE_LABELS:
        view["state_label"] = STATE_LABELS[State(state)]
        view["mergeable"] = State(state) in OPEN_STATES
    if created := view.get("created_at"):
        try:
            view["created_at"] = datetime.fromisoformat(str(created)).astimezone(tz)
        except ValueError:
            pass  # shown as sent
        else:
            view["created_at"] = view["created_at"].strftime("%Y-%m-%d %H:%M")
    if view.get("content"):
        view["content"] = _clip(view["content"], MAX_DUPLICATE_CHARS)
    return view


def _clip(text: str | None, size: int = 60) -> str:
    text = text or ""
    return text if len(text) <= size else text[:size] + "…"


async def suggest(request: web.Request) -> web.StreamResponse:
    """GET /web/api/suggest?text=&title=&address=&hotline=&phone= — for the console's JS."""
    actor = await current_actor(request)
    if actor is None:
        return json_response({"error": {"code": "unauthenticated", "message": "请先登录"}}, 401)
    # 网格员: only the duplicates matter (their own earlier reports, by `visible_to`)
    if actor.role not in (*SUGGEST_ROLES, Role.INSPECTOR):
        return json_response({"error": {"code": "forbidden", "message": "无权使用"}}, 403)
    q = request.query
    text = q.get("text", "").strip()[:MAX_SUGGEST_CHARS]
    phone = q.get("phone", "").strip()[:30]
    answer: dict[str, Any] = {"kb": [], "category": [], "unit": [], "duplicates": []}
    service = request.app[DISPATCH]
    if len(text) >= MIN_SUGGEST_CHARS:
        fields = {
            "content": text,
            "title": q.get("title", "").strip()[:200] or None,
            "address": q.get("address", "").strip()[:300] or None,
            "hotline": q.get("hotline", "12345")[:20],
        }
        answer = await suggest_request(service, request.app[SUGGESTER], actor, fields)
        answer["duplicates"] = [_duplicate(d, service.tz) for d in answer["duplicates"]]
        answer["type_label"] = labels.REQUEST_TYPES.get(answer["type"], "")
        urgency = answer["urgency"]
        urgency["type_label"] = labels.URGENT_TYPES.get(urgency["type"] or "", "")
    if len(phone) >= 3:
        rows, total, *_ = await service.list(actor, OrderFilter(caller_phone=phone), 1, HISTORY)
        answer["history"] = {
            "total": total,
            "items": [
                {
                    "number": o.number,
                    "state": STATE_LABELS[State(o.state)],
                    "created_at": o.created_at.astimezone(service.tz).strftime("%Y-%m-%d %H:%M"),
                    "content": _clip(o.content),
                }
                for o in rows
            ],
        }
    return json_response(answer)
