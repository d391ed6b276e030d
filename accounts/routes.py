"""HTTP entrypoints of accounts: tokens, the current user, users and API keys."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import select

from accounts import apikeys, audit, lockout, services
from accounts.audit import Event, Result
from accounts.domain import ROLE_LABELS, Actor, Role
from accounts.exceptions import AccountInvalid, WrongPassword
from accounts.storage import ApiKey, User
from app.db import unit_of_work
from app.errors import NotFound, RateLimited
from app.http import (
    ApiRoute,
    Call,
    Page,
    StrictBody,
    ascii_int,
    bearer_token,
    client_address,
    page_answer,
    page_of,
)
from app.keys import DISPATCH, PASSWORDS, SESSIONS, SETTINGS
from app.ratelimit import AddressLimiter
from config import AuthSettings
from dispatch.storage import Unit

ADMIN = frozenset({Role.ADMIN})


class TokenRequest(StrictBody):
    username: str = Field(min_length=1, max_length=60)
    password: str = Field(min_length=1, max_length=200)


class CreateUser(StrictBody):
    username: str = Field(pattern=r"^[A-Za-z0-9_.\-]{2,60}$")
    password: str = Field(min_length=1, max_length=200)
    role: Role
    unit: str | None = None
    hotlines: list[str] | None = None
    display_name: str = Field("", max_length=60)
    email: str | None = Field(None, max_length=200)


class ChangePassword(StrictBody):
    old: str = Field(min_length=1, max_length=200)
    new: str = Field(min_length=1, max_length=200)


class CreateApiKey(StrictBody):
    name: str = Field(min_length=1, max_length=100)
    # The unit the key acts for (its orders only); none: Open311 only.
    unit: str | None = Field(None, max_length=40)


# Failed logins per client address, counted by every node (app/ratelimit.py). The limit
# is high: an office behind one NAT address shares it. Accounts are protected by the
# per-account back-off (accounts/lockout.py).
THROTTLE = web.AppKey("login_throttle", AddressLimiter)


def trail(request: web.Request, actor: Actor | None = None, username: str = "") -> audit.Trail:
    """The audit trail of this request: who (the actor, or before login the username
    as typed), from which client address, on the service clock."""
    app = request.app
    subject = audit.Subject.of(actor, client_address(request), username)
    return audit.Trail(app[SESSIONS], subject, app[DISPATCH].now)


def login_throttle(auth: AuthSettings) -> AddressLimiter:
    return AddressLimiter(
        "login",
        auth.login_failures_per_address,
        auth.login_address_window_minutes * 60,
        "该地址登录失败次数过多,请稍后再试",
    )


async def phones_viewed(request: web.Request, actor: Actor, objects: list[str], where: str):
    """完整号码查看: a role that sees callers' full phone numbers was shown them on these
    orders (or calls); one audit line per answer, naming them, never the numbers."""
    if objects:
        shown = objects[0] if len(objects) == 1 else f"{len(objects)} items"
        detail = {"where": where, "objects": objects}
        await trail(request, actor).alone(Event.PHONE_VIEW, shown, detail=detail)


async def sign_in(request: web.Request, username: str, password: str) -> tuple[str, Actor]:
    """Log in through either door (API token, web form): the per-address limit, the
    per-account back-off and lockout, then the password; failures count in both."""
    app, client = request.app, client_address(request)
    auth, now = app[SETTINGS].auth, app[DISPATCH].now()
    throttle = app[THROTTLE]
    anonymous = trail(request, username=username)
    try:
        await throttle.check(app[SESSIONS], client, now)
        async with unit_of_work(app[SESSIONS]) as session:
            await lockout.check(session, username, now, auth)
    except RateLimited as exc:
        detail = {"reason": "locked", "message": exc.message}
        await anonymous.alone(Event.LOGIN, username, Result.FAILURE, detail)
        raise
    try:
        async with unit_of_work(app[SESSIONS]) as session:
            token, actor = await services.login(
                session, app[PASSWORDS], username, password, now, auth.token_ttl_hours
            )
            await lockout.succeeded(session, username)
            await trail(request, actor).record(session, Event.LOGIN, username)
    except services.BadCredentials:
        await throttle.hit(app[SESSIONS], client, now)
        async with unit_of_work(app[SESSIONS]) as session:
            locked = await lockout.failed(session, username, now, auth)
            reason = {"reason": "bad_credentials"}
            await anonymous.record(session, Event.LOGIN, username, Result.FAILURE, reason)
            if locked:
                minutes = {"minutes": auth.login_lockout_minutes}
                await anonymous.record(session, Event.LOGIN_LOCKED, username, detail=minutes)
        raise
    return token, actor


async def change_own_password(
    request: web.Request, actor: Actor, old: str, new: str, keep_token: str | None
) -> None:
    """修改密码 through either door; a wrong old password counts like a failed login."""
    username = actor.username
    app, auth, now = request.app, request.app[SETTINGS].auth, request.app[DISPATCH].now()
    async with unit_of_work(app[SESSIONS]) as session:
        await lockout.check(session, username, now, auth)
    try:
        async with trail(request, actor).act(Event.PASSWORD_CHANGE, username) as (session, _):
            await services.change_password(
                session, app[PASSWORDS], username, old, new, keep_token=keep_token
            )
    except WrongPassword:
        async with unit_of_work(app[SESSIONS]) as session:
            if await lockout.failed(session, username, now, auth):
                minutes = {"minutes": auth.login_lockout_minutes}
                await trail(request, actor).record(
                    session, Event.LOGIN_LOCKED, username, detail=minutes
                )
        raise


def actor_json(actor: Actor) -> dict:
    return {
        "username": actor.username,
        "api_key": actor.api_key_id is not None,
        "role": actor.role.value,
        "role_label": ROLE_LABELS[actor.role],
        "unit": actor.unit.code if actor.unit else None,
        "unit_name": actor.unit.name if actor.unit else None,
        "hotlines": sorted(actor.hotlines),
    }


async def issue_token(request: web.Request, call: Call):
    body: TokenRequest = call.body
    token, actor = await sign_in(request, body.username, body.password)
    return {
        "token": token,
        "role": actor.role.value,
        "unit": actor.unit.code if actor.unit else None,
        # True: every call but POST /api/v1/auth/password answers 403 until it is made.
        "password_change_required": actor.must_change_password,
    }


async def change_password(request: web.Request, call: Call):
    body: ChangePassword = call.body
    await change_own_password(
        request, call.actor, body.old, body.new, keep_token=bearer_token(request)
    )
    return {"changed": True}


async def revoke(request: web.Request, call: Call):
    async with trail(request, call.actor).act(Event.LOGOUT, call.actor.username) as (session, _):
        await services.revoke_token(session, bearer_token(request))
    return {"revoked": True}


async def me(request: web.Request, call: Call):
    return actor_json(call.actor)


async def create_user(request: web.Request, call: Call):
    body: CreateUser = call.body
    scope = {"role": body.role.value, "unit": body.unit, "hotlines": body.hotlines or []}
    event = Event.USER_CREATE
    async with trail(request, call.actor).act(event, body.username, scope) as (session, _):
        user = await services.create_user(
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
        return {
            "username": user.username,
            "role": user.role,
            "unit": body.unit,
            "hotlines": user.hotlines,
            "display_name": user.display_name,
        }


async def list_users(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        rows = await session.execute(
            select(User, Unit.code).outerjoin(Unit, Unit.id == User.unit_id).order_by(User.username)
        )
        items = [
            {
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "unit": code,
                "hotlines": u.hotlines,
                "active": u.active,
            }
            for u, code in rows
        ]
    return page_of(items, call.query)


def api_key_json(row: ApiKey, unit: str | None) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "unit": unit,
        "scope": "unit" if unit else "open311",
        "active": row.active,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
    }


async def create_api_key(request: web.Request, call: Call):
    body: CreateApiKey = call.body
    now = request.app[DISPATCH].now()
    async with trail(request, call.actor).act(Event.APIKEY_CREATE, body.name) as (session, act):
        row, key = await apikeys.issue(session, body.name, body.unit, call.actor, now)
        act.detail["id"] = row.id
        act.detail["unit"] = body.unit
    return {**api_key_json(row, body.unit), "api_key": key}


async def list_api_keys(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        rows = await apikeys.listed(session)
    return page_of([api_key_json(row, unit) for row, unit in rows], call.query)


async def revoke_api_key(request: web.Request, call: Call):
    key_id = ascii_int(request.match_info["id"])
    if key_id is None:
        raise NotFound(f"接口密钥不存在: {request.match_info['id']}", code="api_key_not_found")
    now = request.app[DISPATCH].now()
    async with trail(request, call.actor).act(Event.APIKEY_REVOKE, str(key_id)) as (session, act):
        row = await apikeys.revoke(session, key_id, now)
        act.detail["name"] = row.name
        unit = await session.scalar(select(Unit.code).where(Unit.id == row.unit_id))
    return api_key_json(row, unit)


# ---------------------------------------------------------------------- the audit trail


class AuditQuery(Page):
    """`from`/`to`: local dates, both included; `type`: an event type or its prefix
    (`user` finds `user.create`, `user.update`, ...); `subject`: a username."""

    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")
    type: str | None = Field(None, max_length=40)
    subject: str | None = Field(None, max_length=60)
    result: Result | None = None


def audit_filter(query: BaseModel, tz: ZoneInfo) -> audit.AuditFilter:
    if query.start and query.end and query.end < query.start:
        raise AccountInvalid("起止日期有误:to 早于 from", code="invalid_range")
    start = datetime.combine(query.start, time(), tz) if query.start else None
    end = datetime.combine(query.end + timedelta(days=1), time(), tz) if query.end else None
    return audit.AuditFilter(start, end, query.type or None, query.subject or None, query.result)


def local_time(tz: ZoneInfo):
    return lambda at: at.astimezone(tz).isoformat(timespec="seconds")


async def search_audit(request: web.Request, call: Call):
    q: AuditQuery = call.query
    tz = request.app[DISPATCH].tz
    async with request.app[SESSIONS]() as session:
        rows, total = await audit.search(session, audit_filter(q, tz), q.page, q.page_size)
    items = [audit.entry_json(r, local_time(tz)) for r in rows]
    return page_answer(items, total, q.page, q.page_size)


async def verify_audit(request: web.Request, call: Call):
    """Whether the chain is intact, and where it breaks (the seq of the first bad line)."""
    async with request.app[SESSIONS]() as session:
        verdict = await audit.verify(session)
    result = Result.SUCCESS if verdict.intact else Result.FAILURE
    await trail(request, call.actor).alone(
        Event.AUDIT_VERIFY, "audit_log", result, verdict.as_json()
    )
    return verdict.as_json()


routes = [
    ApiRoute(
        "POST",
        "/api/v1/auth/token",
        issue_token,
        "登录获取令牌",
        public=True,
        body=TokenRequest,
        tags=("auth",),
        errors=(429,),
    ),
    ApiRoute(
        "POST",
        "/api/v1/auth/password",
        change_password,
        "修改本人密码(管理员设置的初始密码须先修改)",
        body=ChangePassword,
        tags=("auth",),
        errors=(429,),
        before_password_change=True,
    ),
    ApiRoute("POST", "/api/v1/auth/revoke", revoke, "注销当前令牌", tags=("auth",)),
    ApiRoute("GET", "/api/v1/me", me, "当前用户", tags=("auth",), api_keys=True),
    ApiRoute(
        "POST",
        "/api/v1/users",
        create_user,
        "新增用户",
        roles=ADMIN,
        body=CreateUser,
        status=201,
        tags=("admin",),
        errors=(409,),
    ),
    ApiRoute(
        "GET", "/api/v1/users", list_users, "用户列表", roles=ADMIN, query=Page, tags=("admin",)
    ),
    ApiRoute(
        "POST",
        "/api/v1/api-keys",
        create_api_key,
        "新增接口密钥",
        roles=ADMIN,
        body=CreateApiKey,
        status=201,
        creates=("id", "/api/v1/api-keys/{id}"),
        tags=("admin",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/api-keys",
        list_api_keys,
        "接口密钥列表",
        roles=ADMIN,
        query=Page,
        tags=("admin",),
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/api-keys/{id}",
        revoke_api_key,
        "吊销接口密钥",
        roles=ADMIN,
        tags=("admin",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/audit",
        search_audit,
        "安全审计记录查询(按日期、类型、主体、结果)",
        roles=ADMIN,
        query=AuditQuery,
        tags=("admin",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/audit/verify",
        verify_audit,
        "校验审计记录哈希链是否完整",
        roles=ADMIN,
        tags=("admin",),
    ),
]
