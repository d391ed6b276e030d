"""系统管理: units, users, hotlines, the dispatch catalogue, calendar overrides, thresholds
and the category model.

Every form is validated by the API's own body models (`CreateUnit`, `CreateUser`,
`CreateCategory`, `CalendarDayBody`; small edit models beside them) and handled by the
same use cases as the API (`dispatch.org`, `accounts.services`, `DispatchService`
calendar methods, `learning.retrain_suggester`). Rejected input redraws the page with a
Chinese message and the input kept (400/409); row actions flash it. Never a 500.

Hotlines are edited here like through `PUT /api/v1/hotlines/{number}` (`org.update_hotline`,
recorded; the configuration only seeds a new database). Thresholds are read-only:
they are `Settings` values (config/*.toml, HOTLINE_*), so the page names the
configuration keys to change instead of offering forms that a restart would undo.
The outbox screen lists messages to the outside (dead letters first) and re-sends them.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, Field
from sqlalchemy import select

from accounts import audit as audit_trail
from accounts import services as accounts
from accounts.audit import Event, Result
from accounts.domain import ROLE_LABELS, Role
from accounts.routes import AuditQuery, CreateUser, audit_filter, local_time, trail
from accounts.services import LOGIN_ROLES, MIN_PASSWORD_LENGTH
from accounts.storage import User
from app.db import unit_of_work
from app.errors import AppError, InvalidInput, NotFound
from app.http import StrictBody, ascii_int, page_number, parse_model
from app.keys import DISPATCH, PASSWORDS, SESSIONS, SETTINGS, SUGGESTER
from callcenter import desk
from callcenter.languages import LANGUAGES
from callcenter.routes import change_languages
from dispatch import learning, org
from dispatch.routes import CalendarDayBody, CreateCategory, CreateUnit, HotlineEdit
from dispatch.storage import CalendarDay, Category, Hotline, HotlineChange, Unit
from integrations import outbox
from integrations.exceptions import MessageNotFound
from integrations.routes import OutboxQuery
from integrations.routes import outbox_page as outbox_page_rows
from web import forms
from web.forms import texts
from web.render import page_count, render
from web.session import actor_of, flash, screen

HOME = "/web/admin/units"
FIELD_LABELS = {
    "code": "编码",
    "name": "名称",
    "parent": "上级",
    "email": "电子邮箱",
    "username": "用户名",
    "password": "密码",
    "role": "角色",
    "unit": "所属单位",
    "hotlines": "分平台热线",
    "display_name": "姓名",
    "default_unit": "默认承办单位",
    "working": "类型",
    "note": "说明",
    "day": "日期",
    "mode": "办理模式",
    "handoff_unit": "移交单位",
}
HOTLINE_MODES = {
    "central": "集中受理(中心派单)",
    "external": "转外部系统办理",
    "subplatform": "分平台独立办理",
}
MIN_YEAR, MAX_YEAR = 2000, 2100


class UnitEdit(StrictBody):
    name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(None, max_length=200)


class NewPassword(StrictBody):
    password: str = Field(min_length=1, max_length=200)


class CategoryEdit(StrictBody):
    name: str = Field(min_length=1, max_length=100)
    default_unit: str | None = Field(None, max_length=40)


def validate(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """The API's body model on an admin form; messages name the admin form's fields."""
    return forms.validate(model, data, FIELD_LABELS)


def level_label(level: int) -> str:
    """Units under the centre are 二级; their sub-units 三级 (DESIGN §1)."""
    return {1: "二级", 2: "三级"}.get(level, f"{level + 1}级")


async def _redraw(
    request: web.Request, draw, exc: AppError, form: MultiDictProxy
) -> web.StreamResponse:
    return await draw(request, error=exc.message, form=form, status=exc.status)


async def _done(request: web.Request, text: str, target: str) -> web.StreamResponse:
    await flash(request, "ok", text)
    raise web.HTTPFound(target)


async def _failed(request: web.Request, exc: AppError, target: str) -> web.StreamResponse:
    await flash(request, "error", exc.message)
    raise web.HTTPFound(target)


@asynccontextmanager
async def _act(request: web.Request, event: Event, object_: str, detail=None):
    """The admin's act as one unit of work, audited (accounts/audit.py)."""
    audit = trail(request, await actor_of(request))
    async with audit.act(event, object_, detail) as pair:
        yield pair


# ---------------------------------------------------------------------- units


async def _all_units(request: web.Request) -> list[Unit]:
    async with request.app[SESSIONS]() as session:
        return list(await session.scalars(select(Unit).order_by(Unit.path)))


def unit_tree(units: list[Unit]) -> list[dict[str, Any]]:
    """Units in tree order (parents before their sub-units), each with its parent's code."""
    by_id = {u.id: u for u in units}

    # `path` holds ids (creation order); sort by the codes along it for a stable tree.
    def names(unit: Unit) -> list[str]:
        return [by_id[int(i)].code for i in unit.path.strip("/").split("/") if int(i) in by_id]

    return [
        {
            "code": u.code,
            "name": u.name,
            "level": u.level,
            "level_label": level_label(u.level),
            "parent": by_id[u.parent_id].code if u.parent_id in by_id else None,
            "email": u.email,
            "active": u.active,
        }
        for u in sorted(units, key=names)
    ]


async def _draw_units(request, error=None, form=None, status=200) -> web.StreamResponse:
    units = unit_tree(await _all_units(request))
    return await render(
        request,
        "admin_units.html",
        {"units": units, "error": error, "form": form or {}},
        status=status,
    )


@screen(Role.ADMIN)
async def units_page(request: web.Request) -> web.StreamResponse:
    return await _draw_units(request)


@screen(Role.ADMIN)
async def unit_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        body = validate(CreateUnit, texts(form, "code", "name", "parent", "email"))
        detail = {"action": "create", "name": body.name, "parent": body.parent}
        async with _act(request, Event.CONFIG_UNIT, body.code, detail) as (session, _):
            unit = await org.create_unit(session, body.code, body.name, body.parent, body.email)
            label = level_label(unit.level)
    except AppError as exc:
        return await _redraw(request, _draw_units, exc, form)
    return await _done(request, f"已新增{label}单位:{body.name}({body.code})", HOME)


@screen(Role.ADMIN)
async def unit_update(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    code = request.match_info["code"]
    try:
        body = validate(UnitEdit, texts(form, "name", "email"))
        detail = {"action": "update", "name": body.name, "email": body.email}
        async with _act(request, Event.CONFIG_UNIT, code, detail) as (session, _):
            await org.update_unit(session, code, body.name, body.email)
    except AppError as exc:
        return await _failed(request, exc, HOME)
    return await _done(request, f"单位 {code} 已保存:{body.name}", HOME)


@screen(Role.ADMIN)
async def unit_active(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    code = request.match_info["code"]
    active = form.get("active") == "1"
    try:
        detail = {"action": "activate" if active else "deactivate"}
        async with _act(request, Event.CONFIG_UNIT, code, detail) as (session, _):
            await org.set_unit_active(session, code, active)
    except AppError as exc:
        return await _failed(request, exc, HOME)
    return await _done(request, f"单位 {code} 已{'启用' if active else '停用'}", HOME)


# ---------------------------------------------------------------------- users

USERS = "/web/admin/users"


async def _draw_users(request, error=None, form=None, status=200) -> web.StreamResponse:
    async with request.app[SESSIONS]() as session:
        rows = await session.execute(
            select(User, Unit.code, Unit.name)
            .outerjoin(Unit, Unit.id == User.unit_id)
            .order_by(User.role, User.username)
        )
        users = [
            {
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "unit": code,
                "unit_name": name,
                "hotlines": u.hotlines or [],
                "active": u.active,
            }
            for u, code, name in rows
        ]
        hotlines = list(await session.scalars(select(Hotline).order_by(Hotline.number)))
    units = [u for u in unit_tree(await _all_units(request)) if u["active"]]
    return await render(
        request,
        "admin_users.html",
        {
            "users": users,
            "roles": {r.value: ROLE_LABELS[r] for r in LOGIN_ROLES},
            "units": units,
            "hotlines": hotlines,
            "min_password": MIN_PASSWORD_LENGTH,
            "error": error,
            "form": form or {},
            "form_hotlines": form.getall("hotlines", []) if form else [],
        },
        status=status,
    )


@screen(Role.ADMIN)
async def users_page(request: web.Request) -> web.StreamResponse:
    return await _draw_users(request)


@screen(Role.ADMIN)
async def user_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    data: dict[str, Any] = texts(form, "username", "role", "unit", "display_name", "email")
    data["password"] = str(form.get("password", ""))
    data["hotlines"] = [h for h in form.getall("hotlines", []) if isinstance(h, str) and h]
    try:
        body = validate(CreateUser, data)
        scope = {"role": body.role.value, "unit": body.unit, "hotlines": body.hotlines or []}
        async with _act(request, Event.USER_CREATE, body.username, scope) as (session, _):
            await accounts.create_user(
                session,
                request.app[PASSWORDS],
                body.username,
                body.password,
                body.role,
                body.unit,
                body.hotlines,
                body.display_name,
                body.email,
            )
    except AppError as exc:
        return await _redraw(request, _draw_users, exc, form)
    return await _done(
        request, f"已新增用户 {body.username}({ROLE_LABELS[Role(body.role)]})", USERS
    )


class UpdateUser(StrictBody):
    """修改用户 form: `CreateUser` without the username and password."""

    role: Role
    unit: str | None = Field(None, max_length=40)
    hotlines: list[str] | None = None
    display_name: str = Field("", max_length=60)
    email: str | None = Field(None, max_length=200)


async def _draw_user(request, error=None, form=None, status=200) -> web.StreamResponse:
    username = request.match_info["username"]
    async with request.app[SESSIONS]() as session:
        row = (
            await session.execute(
                select(User, Unit.code)
                .outerjoin(Unit, Unit.id == User.unit_id)
                .where(User.username == username)
            )
        ).first()
        hotlines = list(await session.scalars(select(Hotline).order_by(Hotline.number)))
    if row is None:
        raise NotFound(f"未知用户: {username}")
    user, unit = row
    if form is None:
        values = {"role": user.role, "unit": unit or "", "display_name": user.display_name}
        values["email"] = user.email or ""
        chosen = list(user.hotlines or [])
    else:
        values = form
        chosen = form.getall("hotlines", [])
    units = [u for u in unit_tree(await _all_units(request)) if u["active"]]
    spoken: list[str] = []
    if user.role == Role.AGENT.value:
        spoken = list((await desk.agent_of(request.app, user.id, user.username)).languages)
    return await render(
        request,
        "admin_user.html",
        {
            "user": user,
            "is_agent": user.role == Role.AGENT.value,
            "languages": {code: lang.name for code, lang in LANGUAGES.items()},
            "offered": request.app[SETTINGS].sip.languages,
            "spoken": spoken,
            "roles": {r.value: ROLE_LABELS[r] for r in LOGIN_ROLES},
            "units": units,
            "hotlines": hotlines,
            "form": values,
            "form_hotlines": chosen,
            "error": error,
        },
        status=status,
    )


@screen(Role.ADMIN)
async def user_page(request: web.Request) -> web.StreamResponse:
    return await _draw_user(request)


@screen(Role.ADMIN)
async def user_update(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = request.match_info["username"]
    data: dict[str, Any] = texts(form, "role", "unit", "display_name", "email")
    data["hotlines"] = [h for h in form.getall("hotlines", []) if isinstance(h, str) and h]
    actor = await actor_of(request)
    try:
        body = validate(UpdateUser, data)
        async with _act(request, Event.USER_UPDATE, username) as (session, act):
            act.detail["changes"] = await accounts.update_user(
                session,
                username,
                body.role,
                body.unit,
                body.hotlines,
                body.display_name,
                body.email,
                actor,
            )
    except NotFound:
        raise
    except AppError as exc:
        return await _redraw(request, _draw_user, exc, form)
    return await _done(request, f"用户 {username} 已保存", USERS)


@screen(Role.ADMIN)
async def user_languages(request: web.Request) -> web.StreamResponse:
    """语言技能 of an agent: the language queues it takes (callcenter/languages.py)."""
    form = await forms.read_form(request)
    username = request.match_info["username"]
    codes = [c for c in form.getall("languages", []) if isinstance(c, str) and c]
    try:
        agent = await change_languages(request, await actor_of(request), username, codes)
    except AppError as exc:
        return await _failed(request, exc, f"{USERS}/{username}")
    names = "、".join(LANGUAGES[c].name for c in agent.languages) or "无"
    return await _done(request, f"坐席 {username} 的语言技能已保存:{names}", f"{USERS}/{username}")


@screen(Role.ADMIN)
async def user_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = request.match_info["username"]
    try:
        body = validate(NewPassword, {"password": str(form.get("password", ""))})
        async with _act(request, Event.PASSWORD_RESET, username) as (session, _):
            await accounts.reset_password(session, request.app[PASSWORDS], username, body.password)
    except AppError as exc:
        return await _failed(request, exc, USERS)
    return await _done(request, f"用户 {username} 的密码已重置,原有登录已失效", USERS)


@screen(Role.ADMIN)
async def user_active(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = request.match_info["username"]
    active = form.get("active") == "1"
    actor = await actor_of(request)
    try:
        detail = {"active": active}
        async with _act(request, Event.USER_ACTIVE, username, detail) as (session, _):
            await accounts.set_user_active(session, username, active, actor)
    except AppError as exc:
        return await _failed(request, exc, USERS)
    return await _done(request, f"用户 {username} 已{'启用' if active else '停用'}", USERS)


# ---------------------------------------------------------------------- hotlines

HOTLINES = "/web/admin/hotlines"


@screen(Role.ADMIN)
async def hotlines_page(request: web.Request) -> web.StreamResponse:
    async with request.app[SESSIONS]() as session:
        rows = list(await session.scalars(select(Hotline).order_by(Hotline.number)))
        hotlines = [await org.hotline_json(session, h) for h in rows]
        changes = list(
            await session.scalars(
                select(HotlineChange).order_by(HotlineChange.id.desc()).limit(HISTORY)
            )
        )
        managers = await session.execute(
            select(User.username, User.display_name, User.role, User.hotlines).where(
                User.active.is_(True)
            )
        )
        scoped: dict[str, list[dict[str, str]]] = {}
        for username, display, role, numbers in managers:
            for number in numbers or []:
                scoped.setdefault(number, []).append(
                    {"username": username, "display_name": display, "role": role}
                )
    order = {h.number: i for i, h in enumerate(request.app[SETTINGS].hotlines)}
    hotlines.sort(key=lambda h: (order.get(h["number"], len(order)), h["number"]))
    units = [u for u in unit_tree(await _all_units(request)) if u["active"]]
    return await render(
        request,
        "admin_hotlines.html",
        {
            "hotlines": hotlines,
            "modes": HOTLINE_MODES,
            "managers": scoped,
            "units": units,
            "changes": changes,
            "field_labels": {"name": "名称", "mode": "办理模式", "handoff_unit": "移交单位"},
        },
    )


HISTORY = 20  # latest hotline changes shown


@screen(Role.ADMIN)
async def hotline_update(request: web.Request) -> web.StreamResponse:
    """修改热线: name, mode and the hand-off unit of mode external, recorded."""
    form = await request.post()
    number = request.match_info["number"]
    actor = await actor_of(request)
    try:
        body = validate(HotlineEdit, texts(form, "name", "mode", "handoff_unit"))
        changes = {"name": body.name, "mode": body.mode, "handoff_unit": body.handoff_unit}
        changes = {k: v for k, v in changes.items() if v is not None or k == "handoff_unit"}
        async with _act(request, Event.CONFIG_HOTLINE, number, dict(changes)) as (session, _a):
            hotline = await org.update_hotline(
                session, number, changes, actor.username, request.app[DISPATCH].now()
            )
            label = HOTLINE_MODES.get(hotline.mode, hotline.mode)
    except AppError as exc:
        return await _failed(request, exc, HOTLINES)
    return await _done(request, f"热线 {number} 已保存:{hotline.name}({label})", HOTLINES)


# ---------------------------------------------------------------------- outbox

OUTBOX_PAGE = "/web/admin/outbox"
OUTBOX_STATUSES = {"dead": "发送失败(死信)", "pending": "待发送", "sent": "已发送"}
CHANNELS = {"email": "电子邮件", "webhook": "Webhook"}


@screen(Role.ADMIN)
async def outbox_page(request: web.Request) -> web.StreamResponse:
    """外发消息: dead letters first; each can be re-sent (DESIGN §8)."""
    status = request.query.get("status", "dead")
    status = status if status in OUTBOX_STATUSES else "dead"
    query = OutboxQuery(status=status, page=page_number(request.query.get("page")))
    async with request.app[SESSIONS]() as session:
        messages, total = await outbox_page_rows(session, query)
    return await render(
        request,
        "admin_outbox.html",
        {
            "messages": messages,
            "total": total,
            "status": status,
            "statuses": OUTBOX_STATUSES,
            "channels": CHANNELS,
            "page": query.page,
            "pages": page_count(total, query.page_size),
        },
    )


@screen(Role.ADMIN)
async def outbox_resend(request: web.Request) -> web.StreamResponse:
    message_id = ascii_int(request.match_info["id"])
    try:
        if message_id is None:
            raise MessageNotFound(request.match_info["id"])
        async with unit_of_work(request.app[SESSIONS]) as session:
            message = await outbox.resend(session, message_id, request.app[DISPATCH].now())
            recipient = message.recipient
    except AppError as exc:
        return await _failed(request, exc, OUTBOX_PAGE)
    return await _done(request, f"消息 {message_id}({recipient})已重新排队发送", OUTBOX_PAGE)


# ---------------------------------------------------------------------- catalogue

CATALOGUE = "/web/admin/catalogue"


async def _draw_catalogue(request, error=None, form=None, status=200) -> web.StreamResponse:
    async with request.app[SESSIONS]() as session:
        rows = await session.execute(
            select(Category, Unit.code, Unit.name)
            .outerjoin(Unit, Unit.id == Category.default_unit_id)
            .order_by(Category.code)
        )
        categories = [
            {
                "code": c.code,
                "name": c.name,
                "parent": c.parent_code,
                "level": c.level,
                "unit": code,
                "unit_name": name,
            }
            for c, code, name in rows
        ]
    units = [u for u in unit_tree(await _all_units(request)) if u["active"]]
    return await render(
        request,
        "admin_catalogue.html",
        {
            "categories": _catalogue_tree(categories),
            "parents": [c for c in categories if c["level"] < 3],
            "units": units,
            "error": error,
            "form": form or {},
        },
        status=status,
    )


def _catalogue_tree(categories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Depth-first: each category followed by its children (codes need not nest)."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    known = {c["code"] for c in categories}
    for c in categories:
        children.setdefault(c["parent"] if c["parent"] in known else None, []).append(c)
    ordered: list[dict[str, Any]] = []

    def walk(parent: str | None) -> None:
        for c in children.get(parent, []):
            ordered.append(c)
            walk(c["code"])

    walk(None)
    return ordered


@screen(Role.ADMIN)
async def catalogue_page(request: web.Request) -> web.StreamResponse:
    return await _draw_catalogue(request)


@screen(Role.ADMIN)
async def category_create(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        body = validate(CreateCategory, texts(form, "code", "name", "parent", "default_unit"))
        detail = {"action": "create", "name": body.name, "parent": body.parent}
        detail["default_unit"] = body.default_unit
        async with _act(request, Event.CONFIG_CATEGORY, body.code, detail) as (session, _):
            await org.create_category(session, body.code, body.name, body.parent, body.default_unit)
    except AppError as exc:
        return await _redraw(request, _draw_catalogue, exc, form)
    return await _done(request, f"已新增分类:{body.name}({body.code})", CATALOGUE)


@screen(Role.ADMIN)
async def category_update(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    code = request.match_info["code"]
    try:
        body = validate(CategoryEdit, texts(form, "name", "default_unit"))
        detail = {"action": "update", "name": body.name, "default_unit": body.default_unit}
        async with _act(request, Event.CONFIG_CATEGORY, code, detail) as (session, _):
            await org.update_category(session, code, body.name, body.default_unit)
    except AppError as exc:
        return await _failed(request, exc, CATALOGUE)
    return await _done(request, f"分类 {code} 已保存:{body.name}", CATALOGUE)


# ---------------------------------------------------------------------- calendar

CALENDAR = "/web/admin/calendar"


def _year(request: web.Request, default: int) -> int:
    try:
        year = int(request.query.get("year", default))
    except ValueError:
        return default
    return year if MIN_YEAR <= year <= MAX_YEAR else default


def _statutory_days(calendar, year: int) -> tuple[list[dict[str, Any]], int]:
    """Days where the official calendar differs from Monday–Friday, and unverified days."""
    special, unverified = [], 0
    day = date(year, 1, 1)
    while day.year == year:
        if not calendar.is_verified(day):
            unverified += 1
        elif day not in calendar.overrides:
            working = calendar.is_working_day(day)
            if working != (day.weekday() < 5):
                special.append({"day": day, "working": working})
        day = date.fromordinal(day.toordinal() + 1)
    return special, unverified


async def _draw_calendar(request, error=None, form=None, status=200) -> web.StreamResponse:
    service = request.app[DISPATCH]
    year = _year(request, service.now().astimezone(service.tz).year)
    given = str(form.get("day", ""))[:4] if form is not None else ""
    if (number := ascii_int(given)) and MIN_YEAR <= number <= MAX_YEAR:
        year = number  # a rejected form shows the year it was about
    async with request.app[SESSIONS]() as session:
        overrides = list(
            await session.scalars(
                select(CalendarDay)
                .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
                .order_by(CalendarDay.day)
            )
        )
    special, unverified = _statutory_days(service.policy.calendar, year)
    return await render(
        request,
        "admin_calendar.html",
        {
            "year": year,
            "overrides": overrides,
            "special": special,
            "unverified": unverified,
            "weekdays": "一二三四五六日",
            "error": error,
            "form": form or {},
        },
        status=status,
    )


@screen(Role.ADMIN)
async def calendar_page(request: web.Request) -> web.StreamResponse:
    return await _draw_calendar(request)


def _day(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("日期:格式应为 YYYY-MM-DD") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InvalidInput(f"日期:应在 {MIN_YEAR} 至 {MAX_YEAR} 年之间")
    return day


@screen(Role.ADMIN)
async def calendar_set(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    data: dict[str, Any] = texts(form, "note")
    working = form.get("working")
    if working in ("1", "0"):
        data["working"] = working == "1"
    try:
        day = _day(str(form.get("day", "")).strip())
        body = validate(CalendarDayBody, data)
        actor = await actor_of(request)
        await request.app[DISPATCH].set_calendar_day(
            actor, day, body.working, body.note, trail(request, actor)
        )
    except AppError as exc:
        return await _redraw(request, _draw_calendar, exc, form)
    kind = "工作日" if body.working else "休息日"
    return await _done(request, f"{day.isoformat()} 已设为{kind}", f"{CALENDAR}?year={day.year}")


@screen(Role.ADMIN)
async def calendar_clear(request: web.Request) -> web.StreamResponse:
    try:
        day = _day(request.match_info["day"])
    except AppError as exc:
        return await _failed(request, exc, CALENDAR)
    audit = trail(request, await actor_of(request))
    removed = await request.app[DISPATCH].clear_calendar_day(day, audit)
    text = f"已删除 {day.isoformat()} 的调整,恢复按法定日历计算" if removed else "该日期没有调整"
    return await _done(request, text, f"{CALENDAR}?year={day.year}")


# ---------------------------------------------------------------------- thresholds


# (configuration key, meaning) of every deadline, warning and KPI figure shown.
THRESHOLDS = [
    ("calendar.timezone", "时区"),
    ("calendar.working_hours", "工作时段"),
    ("deadlines.accept_working_hours", "签收时限(工作小时)"),
    ("deadlines.accept_urgent_minutes", "紧急件签收时限(分钟)"),
    ("deadlines.urgent_finish_hours", "紧急件办结时限(自然小时)"),
    ("deadlines.finish_working_days", "办结时限(工作日)"),
    ("deadlines.return_window_working_days", "退单期限(派单后工作日)"),
    ("deadlines.max_extensions", "最多延期次数"),
    ("deadlines.max_extension_days", "单次最多延期(工作日)"),
    ("deadlines.rectification_working_days", "差评整改时限(工作日)"),
    ("deadlines.verify_working_days", "差评核实时限(工作日)"),
    ("deadlines.warning_ratio", "预警(黄牌)时间比例"),
    ("deadlines.escalate_after_working_days", "超期升级(工作日)"),
    ("scanner.interval_seconds", "超期扫描间隔(秒)"),
    ("classifiers.auto_dispatch_confidence", "智能派单置信度阈值"),
    ("classifiers.duplicate_days", "疑似重复:比对天数"),
    ("classifiers.duplicate_threshold", "疑似重复:概率阈值"),
    ("classifiers.duplicate_certain", "确定重复:概率阈值"),
    ("classifiers.duplicate_auto_merge", "确定重复时自动并单"),
    ("kpi.three_rate_weights", "三率权重"),
]
# Names of the keys inside the tables above (request types, the three rates).
SUB_KEYS = {
    "consultation": "咨询",
    "help": "求助",
    "suggestion": "建议",
    "complaint": "投诉",
    "report": "举报",
    "praise": "表扬",
    "ontime_accept": "响应率",
    "resolution": "解决率",
    "satisfaction": "满意率",
}


def _shown(key: str, value: Any) -> str:
    if value is None:  # the duplicate thresholds: chosen with the pair model unless set
        return "随模型(未设置)"
    if key == "calendar.working_hours":
        return "、".join(f"{a:%H:%M}–{b:%H:%M}" for a, b in value)
    if key == "deadlines.warning_ratio":
        return f"{value:.0%}"
    return str(value)


def threshold_rows(settings) -> list[tuple[str, str, str]]:
    """(configuration key, meaning, effective value); tables give one row per entry."""
    rows = []
    for key, label in THRESHOLDS:
        section, name = key.split(".")
        value = getattr(getattr(settings, section), name)
        if isinstance(value, dict):
            for sub, item in value.items():
                rows.append((f"{key}.{sub}", f"{label}·{SUB_KEYS.get(sub, sub)}", str(item)))
        else:
            rows.append((key, label, _shown(key, value)))
    return rows


@screen(Role.ADMIN)
async def thresholds_page(request: web.Request) -> web.StreamResponse:
    settings = request.app[DISPATCH].settings
    return await render(request, "admin_thresholds.html", {"rows": threshold_rows(settings)})


@screen(Role.ADMIN)
async def admin_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(HOME)


# ---------------------------------------------------------------------- classifier model

MODEL = "/web/admin/model"


@screen(Role.ADMIN)
async def model_page(request: web.Request) -> web.StreamResponse:
    """分类模型: the model serving suggestions now, and retraining it (DESIGN §5)."""
    suggester = request.app[SUGGESTER]
    model = suggester.category_model
    metadata = model.metadata if model else {}
    settings = request.app[SETTINGS].classifiers
    return await render(
        request,
        "admin_model.html",
        {
            "version": suggester.model_version,
            "created_at": metadata.get("created_at"),
            "n_train": metadata.get("n_train"),
            "labels": metadata.get("labels", []),
            "settings": settings,
            "running": suggester.retrain_lock.locked(),
        },
    )


@screen(Role.ADMIN)
async def model_retrain(request: web.Request) -> web.StreamResponse:
    app = request.app
    audit = trail(request, await actor_of(request))
    try:
        result = await learning.retrain_suggester(
            app[SUGGESTER], app[SESSIONS], app[SETTINGS].classifiers
        )
    except AppError as exc:
        await audit.alone(Event.CONFIG_MODEL, "category", Result.FAILURE, {"error": exc.code})
        return await _failed(request, exc, MODEL)
    await audit.alone(Event.CONFIG_MODEL, "category", detail={"version": result.version})
    text = (
        f"模型已重新训练并启用:版本 {result.version},样本 {result.examples} 条"
        f"(来自工单 {result.from_orders} 条,其中人工纠正 {result.corrections} 条)"
    )
    return await _done(request, text, MODEL)


# ---------------------------------------------------------------------- audit trail

AUDIT_PAGE_SIZE = 50
EVENT_LABELS = {
    "login": "登录",
    "login.locked": "登录失败锁定",
    "logout": "退出/注销令牌",
    "password": "密码(修改/重置)",
    "user": "用户管理",
    "apikey": "接口密钥",
    "export": "导出",
    "config": "配置(单位/目录/模型)",
    "calendar": "工作日历",
    "recording.listen": "收听录音",
    "phone.view": "查看完整号码",
    "pii": "个人信息(导出/匿名化)",
    "audit.verify": "审计校验",
    "campaign": "外呼任务",
    "linkage": "应急联动",
}


@screen(Role.ADMIN)
async def audit_page(request: web.Request) -> web.StreamResponse:
    """安全审计: the audit trail, searched by date range, type, subject and result."""
    raw = {k: request.query.get(k, "").strip() for k in ("from", "to", "type", "subject", "result")}
    page = page_number(request.query.get("page"))
    error, rows, total = None, [], 0
    tz = request.app[DISPATCH].tz
    try:
        query = parse_model(AuditQuery, {k: v for k, v in raw.items() if v} | {"page": page})
        async with request.app[SESSIONS]() as session:
            found, total = await audit_trail.search(
                session, audit_filter(query, tz), page, AUDIT_PAGE_SIZE
            )
        rows = [audit_trail.entry_json(r, local_time(tz)) for r in found]
    except AppError as exc:
        error = exc.message
    pages = page_count(total, AUDIT_PAGE_SIZE)
    return await render(
        request,
        "admin_audit.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "form": raw,
            "events": EVENT_LABELS,
            "error": error,
            "query": urlencode({k: v for k, v in raw.items() if v}),
        },
        status=400 if error else 200,
    )
