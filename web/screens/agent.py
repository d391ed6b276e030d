"""坐席工作台: register a caller's request with live suggestions, or answer it at once."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accounts.domain import Actor, Role
from app.errors import InvalidInput
from app.http import json_response
from app.keys import DISPATCH, SESSIONS, SETTINGS, SUGGESTER
from callcenter.desk import link_order
from dispatch.intake import register_request, suggest_request
from dispatch.lifecycle import STATE_LABELS, State
from dispatch.services import OrderFilter
from dispatch.storage import Category
from dispatch.views import order_summary
from web import labels, queries
from web.forms import action_payload, registration
from web.render import render, unit_names
from web.session import actor_of, current_actor, flash, screen

RECENT = 10
HISTORY = 5
MIN_SUGGEST_CHARS = 2
MAX_SUGGEST_CHARS = 2000
SUGGEST_ROLES = (Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR)


async def _form_context(request: web.Request, actor: Actor) -> dict[str, Any]:
    service = request.app[DISPATCH]
    async with request.app[SESSIONS]() as session:
        hotlines = await queries.hotlines(session, actor.hotlines)
    # The configuration's order: its first hotline (12345) is the default choice.
    rank = {h.number: i for i, h in enumerate(request.app[SETTINGS].hotlines)}
    hotlines.sort(key=lambda h: (rank.get(h.number, len(rank)), h.number))
    rows, _total, units = await service.list(actor, OrderFilter(), 1, RECENT)
    return {
        "hotlines": hotlines,
        "channels": {c: labels.CHANNELS[c] for c in labels.AGENT_CHANNELS},
        "types": labels.REQUEST_TYPES,
        "urgencies": labels.URGENCIES,
        "recent": [order_summary(o, units, actor, service.tz) for o in rows],
        "units": unit_names(units),
        "form": {},
    }


@screen(Role.AGENT)
async def console(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    return await render(request, "agent.html", await _form_context(request, actor))


async def register_order(request: web.Request, actor: Actor, fields: dict, auto: bool):
    app = request.app
    detail, _ = await register_request(
        app[DISPATCH], app[SUGGESTER], app[SESSIONS], actor, fields, automatic=auto
    )
    return detail


@screen(Role.AGENT)
async def register(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    form = await request.post()
    answer_now = form.get("mode") == "answer"
    try:
        fields = registration(form)
        answer = action_payload("answer", form, request.app[DISPATCH].tz) if answer_now else None
        # an unknown category or a proposed unit gone inactive meanwhile: the form again
        detail = await register_order(request, actor, fields, auto=not answer_now)
    except InvalidInput as exc:  # FormError included
        context = await _form_context(request, actor)
        context.update({"error": exc.message, "form": form})
        if code := str(form.get("category", "")).strip()[:40]:  # "分类:X" keeps its name
            async with request.app[SESSIONS]() as session:
                category = await session.get(Category, code)
            context["category_name"] = category.name if category else code
        return await render(request, "agent.html", context, status=400)
    number = detail.order.number
    call_id = str(form.get("call_id", "")).strip()[:32]
    if call_id:  # registered during a call (screen pop): the call record gets the order
        await link_order(request.app, actor, call_id, number)
    link = f"/web/orders/{number}"
    if answer is not None:
        kb_id = str(form.get("kb_id", "")).strip()[:64]
        if kb_id:
            answer["text"] = f"{answer['text']}\n(依据知识库条目 {kb_id})"
        await request.app[DISPATCH].act(actor, number, "answer", answer)
        await flash(request, "ok", f"工单 {number} 已登记并直接答复", link)
    elif detail.order.state == State.MERGED:
        parent = detail.view.parent
        await flash(request, "ok", f"工单 {number} 已登记,与 {parent} 为同一事项,已自动并单", link)
    elif detail.order.state == State.DISPATCHED:
        await flash(request, "ok", f"工单 {number} 已登记,并已智能派单", link)
    elif proposed := detail.view.proposed_unit:
        name = detail.units.by_code[proposed].name
        await flash(request, "ok", f"工单 {number} 已登记,等待派单(建议派往:{name})", link)
    else:
        await flash(request, "ok", f"工单 {number} 已登记,等待派单", link)
    raise web.HTTPFound("/web/agent")


def _clip(text: str | None, size: int = 60) -> str:
    text = text or ""
    return text if len(text) <= size else text[:size] + "…"


async def suggest(request: web.Request) -> web.StreamResponse:
    """GET /web/api/suggest?text=&title=&address=&hotline=&phone= — for the console's JS."""
    actor = await current_actor(request)
    if actor is None:
        return json_response({"error": {"code": "unauthenticated", "message": "请先登录"}}, 401)
    if actor.role not in SUGGEST_ROLES:
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
        answer = await suggest_request(
            service, request.app[SUGGESTER], request.app[SESSIONS], actor, fields
        )
        answer["type_label"] = labels.REQUEST_TYPES.get(answer["type"], "")
        urgency = answer["urgency"]
        urgency["type_label"] = labels.URGENT_TYPES.get(urgency["type"] or "", "")
    if len(phone) >= 3:
        rows, total, _units = await service.list(actor, OrderFilter(caller_phone=phone), 1, HISTORY)
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
