"""市民: submit a request (web channel), track it by number + phone or by its token link,
and rate it (好差评) once it has been replied and reviewed. No account: an anonymous
session carries the CSRF token, and a per-address limit guards the forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import select

from accounts.domain import CITIZEN_ACTOR
from app.errors import AppError, RateLimited
from app.http import client_address
from app.keys import DISPATCH, SESSIONS, SETTINGS, SUGGESTER
from app.ratelimit import AddressLimiter
from config import WebSettings
from dispatch.intake import register_request
from dispatch.lifecycle import Flag, Rating, State
from dispatch.services import OrderDetail, event_from_row
from dispatch.storage import Order
from web import i18n, labels, queries, uploads
from web.forms import FormError, registration
from web.render import render, unit_names
from web.screens.files import disposition
from web.screens.geo import form_point, map_options
from web.screens.inspector import position
from web.session import flash
from web.storage import Attachment

HOME = "/web/citizen"
MAX_FIELD = 5000
# What the citizen reads for each state: plain words, not the centre's terms.
PUBLIC_STATES = {
    State.REGISTERED: "已受理,等待分派",
    State.DISPATCHED: "已转交承办单位",
    State.ACCEPTED: "承办单位正在办理",
    State.RETURNED: "正在重新分派承办单位",
    State.REPLIED: "承办单位已答复,正在审核",
    State.CALLBACK_PENDING: "已答复,欢迎您评价",
    State.CLOSED: "已办结",
    State.MERGED: "已与相同诉求合并办理",
    State.INVALID: "已作无效处理",
}
VERIFYING = "已答复,您的评价正在核实"
RATING_LABELS = {
    Rating.VERY_SATISFIED: "非常满意",
    Rating.SATISFIED: "满意",
    Rating.BASIC: "基本满意",
    Rating.DISSATISFIED: "不满意",
    Rating.VERY_DISSATISFIED: "非常不满意",
}
CITIZEN_TYPES = ("consultation", "help", "complaint", "report", "suggestion", "praise")


HOUR = 3600  # seconds: the citizen limits are per hour


class CitizenLimits:
    def __init__(self, settings: WebSettings) -> None:
        # Per client address and sliding hour, counted by every node (app/ratelimit.py).
        busy = "操作过于频繁,请一小时后再试"
        self.submit = AddressLimiter(
            "citizen_submit", settings.citizen_submissions_per_hour, HOUR, busy
        )
        self.lookup = AddressLimiter(
            "citizen_lookup", settings.citizen_lookups_per_hour, HOUR, busy
        )


LIMITS = web.AppKey("citizen_limits", CitizenLimits)


def setup(app: web.Application) -> None:
    app[LIMITS] = CitizenLimits(app[SETTINGS].web)


def _client(request: web.Request) -> str:
    return client_address(request)


def _counted(request: web.Request) -> tuple:
    """What an AddressLimiter counts with: the database, the client, the service clock."""
    app = request.app
    return app[SESSIONS], _client(request), app[DISPATCH].now()


# ---------------------------------------------------------------- the public history


def public_history(
    events: Iterable[Any], units: Mapping[str, str], t: i18n.Translate = i18n.CHINESE
) -> list[tuple[Any, str]]:
    """(when, what) lines a citizen may read: no internal notes, no staff names, no
    phones. Unit names are public; warnings, supervision and sub-dispatch are not.
    `t`: the citizen's language (web/i18n.py)."""

    def _unit(code: str | None) -> str:
        return units.get(code, t("承办单位")) if code else t("承办单位")

    lines = []
    for e in events:
        data, action = e.data or {}, e.action
        text = None
        if action == "register":
            text = t("您的诉求已受理")
        elif action in ("dispatch", "redispatch"):
            text = t("已转交{unit}办理", unit=_unit(data.get("unit")))
        elif action == "accept":
            text = t("{unit}已签收,正在办理", unit=_unit(data.get("unit")))
        elif action == "return" and e.to_state == State.RETURNED:
            text = t("正在重新确定承办单位")
        elif action == "extend_decide" and data.get("approve"):
            text = t("办理时限已依规延长")
        elif action in ("reply", "answer") and e.to_state == State.REPLIED:
            text = t("已答复")
        elif action == "review":
            text = t("答复已通过审核" if data.get("approve") else "答复需完善,正在继续办理")
        elif action == "callback":
            rating = data.get("rating")
            label = t(RATING_LABELS[Rating(rating)]) if rating else ""
            text = t("您的评价:{rating}", rating=label) if rating else t("已回访")
        elif action == "verify":
            text = t("经核实,已要求承办单位整改" if data.get("valid") else "经核实,工单办结")
            if not data.get("valid") and e.note:
                text += t("。说明:{note}", note=e.note)
        elif action == "reopen" or (action == "inspect" and not data.get("passed")):
            text = t("已重新办理")
        elif action == "merge":
            text = t("已与相同诉求合并办理")
        elif action == "parent_replied":
            text = t("合并办理的诉求已答复,本工单随之办结")
        elif action == "invalidate":
            text = t("已作无效处理")
        if text:
            lines.append((e.at, text))
    return lines


def reply_text(events: Iterable[Any]) -> str | None:
    """The latest reply that answers the citizen (the lead unit's, or the parent's)."""
    text = None
    for e in events:
        if e.action in ("reply", "answer", "parent_replied") and e.to_state in (
            State.REPLIED,
            State.CLOSED,
        ):
            text = e.note
        elif e.action in ("reopen",) or (e.action == "review" and not e.data.get("approve")):
            text = None  # sent back: the old answer no longer stands
    return text


def current_rating(events: Iterable[Any]) -> Rating | None:
    """The citizen's rating of the current answer (a new reply may be rated again)."""
    rating = None
    for e in events:
        if e.action == "callback" and e.data.get("rating"):
            rating = Rating(e.data["rating"])
        elif e.action in ("reply", "answer", "reopen") or (
            e.action == "verify" and e.data.get("valid")
        ):
            rating = None
    return rating


# ---------------------------------------------------------------- pages


async def _hotlines(request: web.Request) -> list:
    async with request.app[SESSIONS]() as session:
        rows = await queries.hotlines(session, frozenset())
    rank = {h.number: i for i, h in enumerate(request.app[SETTINGS].hotlines)}
    rows.sort(key=lambda h: (rank.get(h.number, len(rank)), h.number))
    return rows


async def _form_page(request: web.Request, status: int = 200, **extra) -> web.Response:
    t = i18n.gettext(request)
    for key in ("error", "track_error"):  # messages of our own catalogue, when it has them
        if extra.get(key):
            extra[key] = i18n.message(t, extra[key])
    form = extra.get("form") or {}
    context = {
        "map": map_options(request, *form_point(form), pick=True),
        "hotlines": await _hotlines(request),
        "types": {t: labels.REQUEST_TYPES[t] for t in CITIZEN_TYPES},
        "form": {},
        "track": {},
        "max_photos": request.app[SETTINGS].web.citizen_max_photos,
        **extra,
    }
    return await render(request, "citizen.html", context, status=status)


async def redirect_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(HOME)


async def home(request: web.Request) -> web.StreamResponse:
    return await _form_page(request)


def _public_url(request: web.Request, path: str) -> str:
    base = request.app[SETTINGS].server.public_url.rstrip("/") or str(request.url.origin())
    return base + path


async def submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    limits = request.app[LIMITS].submit
    try:
        await limits.check(*_counted(request))
    except RateLimited as exc:
        return await _form_page(request, 429, error=exc.message, form=form)
    picked = {
        name: str(form.get(name, ""))[:MAX_FIELD]
        for name in ("hotline", "content", "caller_phone", "caller_name", "address", "type")
    }
    settings = request.app[SETTINGS].web
    try:
        if not picked["caller_phone"].strip():
            raise FormError("手机号码:请填写,用于查询办理进度和回访")
        fields = registration(
            {**picked, "channel": "web", "confidential": form.get("confidential")}
        )
        fields.update(position(form))
        photos = _photos(form, settings)
    except AppError as exc:
        text_form = {k: v for k, v in form.items() if isinstance(v, str)}
        return await _form_page(request, exc.status, error=exc.message, form=text_form)
    await limits.hit(*_counted(request))
    app = request.app
    detail, _ = await register_request(app[DISPATCH], app[SUGGESTER], CITIZEN_ACTOR, fields)
    order = detail.order
    if photos:
        register_event = detail.events[0]
        now = app[DISPATCH].now()
        await uploads.save(
            app[SESSIONS], settings, order.id, register_event.id, CITIZEN_ACTOR, photos, now
        )
    link = f"{HOME}/t/{order.tracking_token}"
    context = {"number": order.number, "link": link, "full_link": _public_url(request, link)}
    return await render(request, "citizen_done.html", context, status=201)


def _photos(form: Any, settings: WebSettings) -> list[uploads.Incoming]:
    """现场照片 of a citizen's request: images only, at most `citizen_max_photos`."""
    fields = [f for f in form.getall(uploads.FIELD, []) if isinstance(f, web.FileField)]
    if sum(1 for f in fields if f.filename) > settings.citizen_max_photos:
        raise FormError(f"照片:最多 {settings.citizen_max_photos} 张")
    photos = uploads.from_form(form, settings)
    if any(p.mime not in uploads.IMAGE_TYPES for p in photos):
        raise FormError("照片:只能上传图片(JPEG、PNG、GIF、WebP、HEIC)")
    return photos


# Attachments a citizen sees on the tracking page: the unit's reply files and their own.
PUBLIC_UPLOADERS = frozenset({"unit", "citizen"})


ANSWERED = (State.REPLIED, State.CALLBACK_PENDING, State.CLOSED)


async def _public_attachments(request: web.Request, order: Order) -> list[Attachment]:
    """The citizen's own photos; the unit's files once the order is answered (as the reply)."""
    async with request.app[SESSIONS]() as session:
        rows = await uploads.for_orders(session, [order.id])
    shown = PUBLIC_UPLOADERS if State(order.state) in ANSWERED else {"citizen"}
    return [r for r in rows if r.uploader_role in shown]


async def public_file(request: web.Request) -> web.StreamResponse:
    """A file of the order behind the tracking link (reply attachments, own photos)."""
    detail = await _by_token(request)
    wanted = request.match_info["id"]
    row = next(
        (r for r in await _public_attachments(request, detail.order) if r.id == wanted), None
    )
    if row is None:
        raise web.HTTPNotFound()
    try:
        body = await uploads.read(request.app[SETTINGS].web, row)
    except FileNotFoundError:
        raise web.HTTPNotFound() from None
    headers = {
        "Content-Disposition": disposition(row),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    return web.Response(body=body, content_type=row.mime, headers=headers)


async def track(request: web.Request) -> web.StreamResponse:
    """By number + phone: a failed look-up counts against the address (no enumeration)."""
    form = await request.post()
    number = str(form.get("number", "")).strip()[:20]
    phone = str(form.get("phone", "")).strip()[:30]
    limits = request.app[LIMITS].lookup
    track = {"number": number, "phone": phone}
    try:
        await limits.check(*_counted(request))
    except RateLimited as exc:
        return await _form_page(request, 429, track_error=exc.message, track=track)
    token = None
    if number and phone:
        async with request.app[SESSIONS]() as session:
            token = await session.scalar(
                select(Order.tracking_token).where(
                    Order.number == number, Order.caller_phone == phone
                )
            )
    if token is None:
        await limits.hit(*_counted(request))
        message = "未找到该工单,请核对工单编号和提交时填写的手机号码"
        return await _form_page(request, 404, track_error=message, track=track)
    raise web.HTTPFound(f"{HOME}/t/{token}")


async def _by_token(request: web.Request) -> OrderDetail:
    token = request.match_info["token"]
    async with request.app[SESSIONS]() as session:
        number = await session.scalar(select(Order.number).where(Order.tracking_token == token))
    if number is None:
        raise web.HTTPNotFound()
    return await request.app[DISPATCH].get(CITIZEN_ACTOR, number)


async def status_page(request: web.Request) -> web.StreamResponse:
    detail = await _by_token(request)
    order, view = detail.order, detail.view
    events = [event_from_row(row) for row in detail.events]
    state = State(order.state)
    rated = current_rating(events)
    verifying = Flag.VERIFY_PENDING in view.flags  # a 差评, the citizen's or by phone
    answered = state in ANSWERED
    t = i18n.gettext(request)
    context = {
        "order": order,
        "state_text": t(VERIFYING if verifying else PUBLIC_STATES[state]),
        "history": public_history(events, unit_names(detail.units), t),
        "reply": reply_text(events) if answered else None,
        "can_rate": state == State.CALLBACK_PENDING and not rated and not verifying,
        "rated": RATING_LABELS[rated] if rated else None,
        "verify_pending": verifying,
        "ratings": RATING_LABELS,
        "token": request.match_info["token"],
        "map": (
            map_options(request, order.latitude, order.longitude)
            if order.latitude is not None and order.longitude is not None
            else None
        ),
    }
    token = request.match_info["token"]
    context["attachments"] = [
        {
            **uploads.as_json(row, request.app[DISPATCH].tz),
            "url": f"{HOME}/t/{token}/files/{row.id}",
            "from_unit": row.uploader_role == "unit",
        }
        for row in await _public_attachments(request, order)
    ]
    return await render(request, "citizen_track.html", context)


async def rate(request: web.Request) -> web.StreamResponse:
    detail = await _by_token(request)
    form = await request.post()
    here = f"{HOME}/t/{request.match_info['token']}"
    t = i18n.gettext(request)
    resolved = {"1": True, "0": False}.get(str(form.get("resolved", "")))
    payload = {"rating": str(form.get("rating", "")), "resolved": resolved}
    try:
        await request.app[DISPATCH].act(CITIZEN_ACTOR, detail.order.number, "callback", payload)
    except AppError as exc:
        await flash(request, "error", t("评价未成功:{error}", error=i18n.message(t, exc.message)))
    else:
        await flash(request, "ok", t("感谢您的评价!"))
    raise web.HTTPFound(here)
