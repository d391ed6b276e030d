"""网格员: report a problem from the phone (photos, GPS position, category) and check
on site (现场核查) what the units replied to one's own reports: passed, or reopen."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import exists, select

from accounts.domain import Actor, Role
from app.errors import AppError
from app.keys import DISPATCH, SESSIONS, SETTINGS, SUGGESTER
from dispatch.intake import register_request
from dispatch.lifecycle import Flag, State
from dispatch.services import OrderFilter, visible_to
from dispatch.storage import Order, OrderEvent, OrderFlag
from dispatch.views import order_summary
from web import labels, queries, uploads
from web.forms import FormError, registration
from web.render import render, unit_names
from web.screens.geo import form_point, map_options
from web.session import actor_of, flash, screen

HOME = "/web/inspector"
RECENT = 10
CASES = 50
INSPECTOR_TYPES = ("help", "complaint", "report", "suggestion")


def position(form: Any) -> dict[str, float]:
    """latitude/longitude from the page's geolocation (both or neither)."""
    raw = {k: str(form.get(k, "")).strip() for k in ("latitude", "longitude")}
    if not raw["latitude"] and not raw["longitude"]:
        return {}
    try:
        lat, lng = float(raw["latitude"]), float(raw["longitude"])
    except ValueError:
        raise FormError("位置:格式不正确,请重新定位") from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise FormError("位置:经纬度超出范围,请重新定位")
    return {"latitude": lat, "longitude": lng}


async def cases_to_check(request: web.Request, actor: Actor) -> list[dict[str, Any]]:
    """The actor's reports that a unit has replied to and nobody has checked on site yet."""
    inspected = exists().where(
        OrderFlag.order_id == Order.id, OrderFlag.flag == Flag.INSPECTED.value
    )
    async with request.app[SESSIONS]() as session:
        orders = list(
            await session.scalars(
                select(Order)
                .where(
                    visible_to(actor),
                    Order.state.in_([State.REPLIED.value, State.CALLBACK_PENDING.value]),
                    ~inspected,
                )
                .order_by(Order.replied_at)
                .limit(CASES)
            )
        )
        replies = await session.execute(
            select(OrderEvent.order_id, OrderEvent.note)
            .where(
                OrderEvent.order_id.in_([o.id for o in orders]),
                OrderEvent.action.in_(["reply", "answer"]),
                OrderEvent.to_state == State.REPLIED.value,
            )
            .order_by(OrderEvent.order_id, OrderEvent.seq)
        )
        last_reply = dict(replies.all())  # later rows win: the latest reply
    return [
        {
            "number": o.number,
            "content": o.content,
            "address": o.address,
            "reply": last_reply.get(o.id),
        }
        for o in orders
    ]


async def _page(request: web.Request, actor: Actor, status: int = 200, **extra) -> web.Response:
    service = request.app[DISPATCH]
    async with request.app[SESSIONS]() as session:
        categories = await queries.categories(session)
    rows, _total, _exact, units = await service.list(actor, OrderFilter(), 1, RECENT)
    context = {
        "categories": categories,
        "types": {t: labels.REQUEST_TYPES[t] for t in INSPECTOR_TYPES},
        "cases": await cases_to_check(request, actor),
        "recent": [order_summary(o, units, actor, service.tz) for o in rows],
        "units": unit_names(units),
        "accept": uploads.ACCEPT_ATTR,
        "max_files": request.app[SETTINGS].web.upload_max_files_per_request,
        "max_size": uploads.size_text(request.app[SETTINGS].web.upload_max_bytes),
        "form": {},
        **extra,
    }
    form = context["form"]
    context["map"] = map_options(request, *form_point(form), pick=True)
    return await render(request, "inspector.html", context, status=status)


@screen(Role.INSPECTOR)
async def home(request: web.Request) -> web.StreamResponse:
    return await _page(request, await actor_of(request))


def _default_hotline(request: web.Request, actor: Actor) -> str:
    numbers = [h.number for h in request.app[SETTINGS].hotlines]
    allowed = [n for n in numbers if not actor.hotlines or n in actor.hotlines]
    return (allowed or numbers)[0]


@screen(Role.INSPECTOR)
async def report(request: web.Request) -> web.StreamResponse:
    """上报: the order (channel inspector) and its photos, or nothing at all."""
    actor = await actor_of(request)
    form = await request.post()
    settings = request.app[SETTINGS].web
    try:
        files = uploads.from_form(form, settings)
        if len(files) > settings.upload_max_files_per_order:
            raise uploads.UploadRejected(
                f"每个工单最多 {settings.upload_max_files_per_order} 个附件"
            )
        picked = {
            name: str(form.get(name, ""))[:5000]
            for name in ("content", "address", "category", "type")
        }
        fields = registration(
            {**picked, "channel": "inspector", "hotline": _default_hotline(request, actor)}
        )
        fields.update(position(form))
    except AppError as exc:
        text_form = {k: v for k, v in form.items() if isinstance(v, str)}
        return await _page(request, actor, exc.status, error=exc.message, form=text_form)
    app = request.app
    detail, _ = await register_request(app[DISPATCH], app[SUGGESTER], actor, fields)
    order = detail.order
    if files:
        register_event = detail.events[0]
        await uploads.save(
            app[SESSIONS], settings, order.id, register_event.id, actor, files, app[DISPATCH].now()
        )
    photos = f",附照片 {len(files)} 张" if files else ""
    await flash(
        request, "ok", f"已上报,工单编号 {order.number}{photos}", f"/web/orders/{order.number}"
    )
    raise web.HTTPFound(HOME)


@screen(Role.INSPECTOR)
async def inspect(request: web.Request) -> web.StreamResponse:
    """现场核查 of one case: passed, or not passed with what was seen (reopens it)."""
    actor = await actor_of(request)
    number = request.match_info["number"]
    form = await request.post()
    passed = {"1": True, "0": False}.get(str(form.get("passed", "")))
    payload: dict[str, Any] = {"passed": passed, "note": str(form.get("note", "")).strip()[:1000]}
    service, settings = request.app[DISPATCH], request.app[SETTINGS].web
    try:
        files = uploads.from_form(form, settings)  # photos taken on site, checked first
        if files:
            order_id = (await service.get(actor, number)).order.id
            await uploads.check_quota(request.app[SESSIONS], order_id, len(files), settings)
        detail = await service.act(actor, number, "inspect", payload)
    except AppError as exc:
        if exc.status == 404:
            raise
        await flash(request, "error", f"工单 {number} 核查未成功:{exc.message}")
        raise web.HTTPFound(HOME) from None
    if files:
        await uploads.save(
            request.app[SESSIONS],
            settings,
            detail.order.id,
            detail.events[-1].id,
            actor,
            files,
            service.now(),
        )
    verdict = "核查通过" if passed else "核查未通过,已退回重办"
    photos = f",附照片 {len(files)} 张" if files else ""
    await flash(request, "ok", f"工单 {number}:{verdict}{photos}", f"/web/orders/{number}")
    raise web.HTTPFound(HOME)
