"""HTTP entrypoints of dispatch (DESIGN §9): orders, actions, units, hotlines, calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from accounts.audit import Event, Result
from accounts.domain import Role, mask_phone
from accounts.routes import phones_viewed, trail
from accounts.storage import User
from app.db import unit_of_work
from app.errors import AppError, NotFound
from app.http import ApiRoute, Call, Page, StrictBody, ascii_int, page_answer, page_of
from app.keys import DISPATCH, SESSIONS, SETTINGS, SUGGESTER
from dispatch import learning, notifications, org
from dispatch.exceptions import ActionRejected
from dispatch.intake import register_request, suggest_request
from dispatch.lifecycle import RULES, Channel, Flag, RequestType, State, Urgency
from dispatch.privacy import orders_of_caller, phones_shown
from dispatch.services import OrderFilter, Sort
from dispatch.storage import Category, Hotline, Notification, Order, Unit
from dispatch.views import order_detail, order_summary

CENTRE = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})
SUGGEST_ROLES = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR})


class CreateOrder(StrictBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "phone",
                    "hotline": "12345",
                    "content": "东湖路12号小区门口路灯坏了一个月,晚上很黑",
                    "caller_phone": "13800138000",
                    "address": "东湖路12号",
                    "type": "complaint",
                }
            ]
        }
    )

    channel: Channel
    hotline: str = Field(min_length=1, max_length=20)
    content: str = Field(min_length=1, max_length=5000)
    title: str | None = Field(None, max_length=200)
    caller_phone: str | None = Field(None, pattern=r"^\+?[0-9\-]{3,20}$")
    caller_name: str | None = Field(None, max_length=60)
    contact_preference: Literal["phone", "sms", "none"] | None = None
    confidential: bool = False
    address: str | None = Field(None, max_length=300)
    district: str | None = Field(None, max_length=60)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    type: RequestType = RequestType.CONSULTATION
    urgency: Urgency = Urgency.NORMAL
    category: str | None = Field(None, max_length=40)
    # 建议派往: a unit code the agent proposes to the dispatcher (must be an active unit).
    proposed_unit: str | None = Field(None, max_length=40)


class SuggestBody(StrictBody):
    content: str = Field(min_length=1, max_length=5000)
    title: str | None = Field(None, max_length=200)
    hotline: str = Field("12345", min_length=1, max_length=20)
    caller_phone: str | None = Field(None, pattern=r"^\+?[0-9\-]{3,20}$")
    address: str | None = Field(None, max_length=300)
    district: str | None = Field(None, max_length=60)


class Text(StrictBody):
    text: str = Field(min_length=1, max_length=5000)


class Reason(StrictBody):
    reason: str = Field(min_length=1, max_length=1000)


class DispatchBody(StrictBody):
    unit: str = Field(min_length=1)
    co_units: list[str] | None = None
    category: str | None = None
    note: str | None = Field(None, max_length=1000)


class UnitBody(StrictBody):
    unit: str = Field(min_length=1)
    note: str | None = Field(None, max_length=1000)


class ExtendRequest(StrictBody):
    days: float = Field(gt=0)
    reason: str = Field(min_length=1, max_length=1000)


class Decision(StrictBody):
    approve: bool
    note: str | None = Field(None, max_length=1000)


class ObjectionDecision(StrictBody):
    """派单异议审核: accept (re-dispatch to `unit`, the objecting unit's time does not
    count) or reject (the unit must handle the order; `note` is the reason, required)."""

    accept: bool
    unit: str | None = Field(None, min_length=1, max_length=40)
    co_units: list[str] | None = None
    category: str | None = None
    note: str | None = Field(None, max_length=1000)


class Callback(StrictBody):
    satisfaction: Literal["satisfied", "basic", "dissatisfied"]
    resolved: bool
    note: str | None = Field(None, max_length=1000)


class Verify(StrictBody):
    valid: bool
    note: str = Field(min_length=1, max_length=1000)


class Inspect(StrictBody):
    passed: bool
    note: str | None = Field(None, max_length=1000)


class Merge(StrictBody):
    parent: str = Field(min_length=1, max_length=20)
    note: str | None = Field(None, max_length=1000)


class Supervise(StrictBody):
    note: str = Field(min_length=1, max_length=1000)
    due: AwareDatetime | None = None


class Note(StrictBody):
    note: str | None = Field(None, max_length=1000)


class Empty(StrictBody):
    pass


ACTION_BODIES: dict[str, type[BaseModel]] = {
    "answer": Text,
    "dispatch": DispatchBody,
    "accept": Empty,
    "return": Reason,
    "object": Reason,
    "object_decide": ObjectionDecision,
    "redispatch": DispatchBody,
    "subdispatch": UnitBody,
    "extend_request": ExtendRequest,
    "extend_decide": Decision,
    "reply": Text,
    "review": Decision,
    "callback": Callback,
    "verify": Verify,
    "reopen": Reason,
    "merge": Merge,
    "invalidate": Reason,
    "supervise": Supervise,
    "suspend": Reason,
    "resume": Note,
    "inspect": Inspect,
}
assert set(ACTION_BODIES) == set(RULES)


class OrderQuery(Page):
    state: State | None = None
    unit: str | None = None
    flag: Flag | None = None
    hotline: str | None = None
    q: str | None = Field(None, max_length=100)
    caller_phone: str | None = None
    # due: oldest running deadline first; newest: latest registered first. Default: due
    # for a work queue (an open state, an alarm flag), newest otherwise.
    sort: Sort | None = None


def _tz(request: web.Request) -> ZoneInfo:
    return request.app[DISPATCH].tz


async def create_order(request: web.Request, call: Call):
    app = request.app
    detail, suggestions = await register_request(
        app[DISPATCH], app[SUGGESTER], call.actor, call.body.model_dump()
    )
    answer = order_detail(detail, call.actor, _tz(request))
    answer["suggestions"] = suggestions
    return answer


async def suggest(request: web.Request, call: Call):
    app = request.app
    fields = call.body.model_dump()
    return await suggest_request(app[DISPATCH], app[SUGGESTER], call.actor, fields)


async def list_orders(request: web.Request, call: Call):
    q: OrderQuery = call.query
    filters = OrderFilter(
        state=q.state,
        unit=q.unit,
        flag=q.flag,
        hotline=q.hotline,
        q=q.q,
        caller_phone=q.caller_phone,
        sort=q.sort,
    )
    found = await request.app[DISPATCH].list(call.actor, filters, q.page, q.page_size)
    items = [order_summary(o, found.units, call.actor, _tz(request)) for o in found.rows]
    await phones_viewed(request, call.actor, phones_shown(call.actor, found.rows), "api.orders")
    # a search's count stops past 1,000: `total_exact` false means "more than total"
    return page_answer(items, found.total, q.page, q.page_size) | {"total_exact": found.exact}


async def get_order(request: web.Request, call: Call):
    service = request.app[DISPATCH]
    detail = await service.get(call.actor, request.match_info["number"])
    shown = phones_shown(call.actor, [detail.order])
    await phones_viewed(request, call.actor, shown, "api.order")
    return order_detail(detail, call.actor, _tz(request))


class CitizenDataRequest(StrictBody):
    phone: str = Field(pattern=r"^[0-9+\-]{3,30}$")


MAX_CITIZEN_ORDERS = 1000


async def export_citizen_data(request: web.Request, call: Call):
    """个人信息查阅复制 (PIPL 第45条): every order of one caller, as the API shows them,
    for the admin or supervisor who answers the citizen's request; audited."""
    phone = call.body.phone
    service = request.app[DISPATCH]
    audit = trail(request, call.actor)
    async with request.app[SESSIONS]() as session:
        numbers = await orders_of_caller(session, phone, MAX_CITIZEN_ORDERS)
    orders = [
        order_detail(await service.get(call.actor, n), call.actor, _tz(request)) for n in numbers
    ]
    detail = {"orders": numbers}
    await audit.alone(Event.PII_EXPORT, mask_phone(phone), detail=detail)
    return {
        "phone": phone,
        "exported_at": _at(service.now(), _tz(request)),
        "orders": orders,
    }


def _action(name: str):
    async def order_action(request: web.Request, call: Call):
        payload = call.body.model_dump(exclude_none=True)
        service = request.app[DISPATCH]
        detail = await service.act(call.actor, request.match_info["number"], name, payload)
        return order_detail(detail, call.actor, _tz(request))

    order_action.__name__ = f"order_{name}"
    return order_action


async def list_hotlines(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        rows = list(await session.scalars(select(Hotline).order_by(Hotline.number)))
        return page_of([await org.hotline_json(session, h) for h in rows], call.query)


class HotlineEdit(StrictBody):
    """Only the fields given change; `handoff_unit` null clears it."""

    name: str | None = Field(None, min_length=1, max_length=100)
    mode: Literal["central", "external", "subplatform"] | None = None
    handoff_unit: str | None = Field(None, max_length=40)


async def put_hotline(request: web.Request, call: Call):
    body: HotlineEdit = call.body
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if changes.get("name", "") is None or changes.get("mode", "") is None:
        raise ActionRejected("name、mode 不能为 null", code="validation_error")
    now = request.app[DISPATCH].now()
    number = request.match_info["number"]
    audit = trail(request, call.actor)
    async with audit.act(Event.CONFIG_HOTLINE, number, dict(changes)) as (session, _act):
        hotline = await org.update_hotline(session, number, changes, call.actor.username, now)
        return await org.hotline_json(session, hotline)


async def hotline_history(request: web.Request, call: Call):
    number = request.match_info["number"]
    async with request.app[SESSIONS]() as session:
        if await session.get(Hotline, number) is None:
            raise NotFound(f"未知热线: {number}", code="unknown_hotline")
        rows = await org.hotline_changes(session, number)
    tz = _tz(request)
    items = [{"at": _at(r.at, tz), "by": r.by, "changes": r.changes} for r in rows]
    return page_of(items, call.query)


class CreateUnit(StrictBody):
    code: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,40}$")
    name: str = Field(min_length=1, max_length=100)
    parent: str | None = None
    email: str | None = Field(None, max_length=200)


def _unit_json(unit: Unit, units_by_id: dict[int, Unit]) -> dict:
    parent = units_by_id.get(unit.parent_id) if unit.parent_id else None
    return {
        "code": unit.code,
        "name": unit.name,
        "parent": parent.code if parent else None,
        "level": unit.level,
        "email": unit.email,
        "active": unit.active,
    }


async def create_unit(request: web.Request, call: Call):
    body: CreateUnit = call.body
    detail = {"action": "create", "name": body.name, "parent": body.parent}
    audit = trail(request, call.actor)
    async with audit.act(Event.CONFIG_UNIT, body.code, detail) as (session, _):
        unit = await org.create_unit(session, body.code, body.name, body.parent, body.email)
        return {
            "code": unit.code,
            "name": unit.name,
            "parent": body.parent,
            "level": unit.level,
            "email": unit.email,
            "active": unit.active,
        }


async def list_units(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        rows = list(await session.scalars(select(Unit).order_by(Unit.path)))
    by_id = {u.id: u for u in rows}
    return page_of([_unit_json(u, by_id) for u in rows], call.query)


class CreateCategory(StrictBody):
    code: str = Field(pattern=r"^[A-Za-z0-9_\-.]{1,40}$")
    name: str = Field(min_length=1, max_length=100)
    parent: str | None = None
    default_unit: str | None = None


async def create_category(request: web.Request, call: Call):
    body: CreateCategory = call.body
    detail = {"action": "create", "name": body.name, "parent": body.parent}
    detail["default_unit"] = body.default_unit
    audit = trail(request, call.actor)
    async with audit.act(Event.CONFIG_CATEGORY, body.code, detail) as (session, _):
        cat = await org.create_category(
            session, body.code, body.name, body.parent, body.default_unit
        )
        return {
            "code": cat.code,
            "name": cat.name,
            "parent": cat.parent_code,
            "level": cat.level,
            "default_unit": body.default_unit,
        }


async def list_categories(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        rows = await session.execute(
            select(Category, Unit.code)
            .outerjoin(Unit, Unit.id == Category.default_unit_id)
            .order_by(Category.code)
        )
        items = [
            {
                "code": c.code,
                "name": c.name,
                "parent": c.parent_code,
                "level": c.level,
                "default_unit": unit,
            }
            for c, unit in rows
        ]
    return page_of(items, call.query)


class CalendarQuery(BaseModel):
    start: date = Field(alias="from")
    end: date = Field(alias="to")


class CalendarDayBody(StrictBody):
    working: bool
    note: str = Field("", max_length=200)


async def get_calendar(request: web.Request, call: Call):
    q: CalendarQuery = call.query
    if not 0 <= (q.end - q.start).days <= 400:
        raise ActionRejected("日期范围应在 0 到 400 天之间", code="invalid_range")
    calendar = request.app[DISPATCH].policy.calendar
    days = []
    for offset in range((q.end - q.start).days + 1):
        day = date.fromordinal(q.start.toordinal() + offset)
        days.append(
            {
                "date": day.isoformat(),
                "working": calendar.is_working_day(day),
                "verified": calendar.is_verified(day),
                "override": calendar.overrides.get(day),
            }
        )
    return {"items": days}


async def put_calendar_day(request: web.Request, call: Call):
    try:
        day = date.fromisoformat(request.match_info["day"])
    except ValueError:
        raise ActionRejected("日期格式应为 YYYY-MM-DD", code="invalid_date") from None
    body: CalendarDayBody = call.body
    await request.app[DISPATCH].set_calendar_day(
        call.actor, day, body.working, body.note, trail(request, call.actor)
    )
    return {"date": day.isoformat(), "working": body.working, "note": body.note}


class NotificationQuery(Page):
    unread: bool = False


async def list_notifications(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        user_id = await session.scalar(select(User.id).where(User.username == call.actor.username))
        q: NotificationQuery = call.query
        rows, total = await notifications.list_for(session, user_id, q.unread, q.page, q.page_size)
        numbers = {}
        if rows:
            ids = {r.order_id for r in rows if r.order_id}
            numbers = dict(
                (
                    await session.execute(select(Order.id, Order.number).where(Order.id.in_(ids)))
                ).all()
            )
    tz = _tz(request)
    items = [
        {
            "id": n.id,
            "kind": n.kind,
            "message": n.message,
            "order": numbers.get(n.order_id),
            "at": _at(n.created_at, tz),
            "read": n.read_at is not None,
        }
        for n in rows
    ]
    return page_answer(items, total, q.page, q.page_size)


def _at(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat(timespec="seconds")


async def read_notification(request: web.Request, call: Call):
    nid = ascii_int(request.match_info["id"])
    if nid is None:
        raise NotFound("通知不存在")
    async with unit_of_work(request.app[SESSIONS]) as session:
        user_id = await session.scalar(select(User.id).where(User.username == call.actor.username))
        row = await session.get(Notification, nid)
        if row is None or row.user_id != user_id:
            raise NotFound("通知不存在")
        row.read_at = row.read_at or request.app[DISPATCH].now()
    return {"id": nid, "read": True}


async def retrain(request: web.Request, call: Call):
    """重新训练: base data plus settled orders; the new model serves from the next request."""
    app = request.app
    audit = trail(request, call.actor)
    try:
        result = await learning.retrain_suggester(
            app[SUGGESTER], app[SESSIONS], app[SETTINGS].classifiers
        )
    except AppError as exc:
        await audit.alone(Event.CONFIG_MODEL, "category", Result.FAILURE, {"error": exc.code})
        raise
    await audit.alone(Event.CONFIG_MODEL, "category", detail={"version": result.version})
    return {
        "version": result.version,
        "examples": result.examples,
        "from_orders": result.from_orders,
        "corrections": result.corrections,
    }


routes = [
    ApiRoute(
        "POST",
        "/api/v1/admin/retrain",
        retrain,
        "用办理结果重新训练分类模型",
        roles=ADMIN,
        tags=("admin",),
        errors=(409,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/orders",
        create_order,
        "登记工单",
        body=CreateOrder,
        status=201,
        creates=("number", "/api/v1/orders/{number}"),
        tags=("orders",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/suggestions",
        suggest,
        "登记前的智能辅助(分类、承办单位、知识库、重复件、类型、紧急程度),不登记",
        roles=SUGGEST_ROLES,
        body=SuggestBody,
        tags=("orders",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/orders",
        list_orders,
        "工单列表",
        query=OrderQuery,
        tags=("orders",),
        api_keys=True,
        errors=(429,),
    ),
    ApiRoute(
        "GET",
        "/api/v1/orders/{number}",
        get_order,
        "工单详情与流转记录",
        tags=("orders",),
        api_keys=True,
        errors=(429,),
    ),
    *(
        ApiRoute(
            "POST",
            f"/api/v1/orders/{{number}}/actions/{name}",
            _action(name),
            f"工单操作:{RULES[name].label}",
            body=model,
            tags=("actions",),
            errors=(409, 429),
            api_keys=True,
        )
        for name, model in ACTION_BODIES.items()
    ),
    ApiRoute(
        "POST",
        "/api/v1/citizen-data/export",
        export_citizen_data,
        "导出某来电人的全部工单(个人信息查阅复制)",
        roles=frozenset({Role.ADMIN, Role.SUPERVISOR}),
        body=CitizenDataRequest,
        tags=("admin",),
    ),
    ApiRoute("GET", "/api/v1/hotlines", list_hotlines, "热线列表", query=Page, tags=("admin",)),
    ApiRoute(
        "PUT",
        "/api/v1/hotlines/{number}",
        put_hotline,
        "修改热线(名称、办理模式、外部系统移交单位),记录修改人和时间",
        roles=ADMIN,
        body=HotlineEdit,
        tags=("admin",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/hotlines/{number}/history",
        hotline_history,
        "热线修改记录",
        roles=ADMIN,
        query=Page,
        tags=("admin",),
    ),
    ApiRoute("GET", "/api/v1/units", list_units, "单位列表", query=Page, tags=("admin",)),
    ApiRoute(
        "POST",
        "/api/v1/units",
        create_unit,
        "新增单位",
        roles=ADMIN,
        body=CreateUnit,
        status=201,
        tags=("admin",),
        errors=(409,),
    ),
    ApiRoute("GET", "/api/v1/categories", list_categories, "派单目录", query=Page, tags=("admin",)),
    ApiRoute(
        "POST",
        "/api/v1/categories",
        create_category,
        "新增派单目录分类",
        roles=ADMIN,
        body=CreateCategory,
        status=201,
        tags=("admin",),
        errors=(409,),
    ),
    ApiRoute(
        "GET", "/api/v1/calendar", get_calendar, "工作日历", query=CalendarQuery, tags=("admin",)
    ),
    ApiRoute(
        "PUT",
        "/api/v1/calendar/{day}",
        put_calendar_day,
        "修改工作日历",
        roles=ADMIN,
        body=CalendarDayBody,
        tags=("admin",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/notifications",
        list_notifications,
        "我的通知",
        query=NotificationQuery,
        tags=("notifications",),
    ),
    ApiRoute(
        "POST",
        "/api/v1/notifications/{id}/read",
        read_notification,
        "标记通知已读",
        tags=("notifications",),
    ),
]
