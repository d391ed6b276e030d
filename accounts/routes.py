"""HTTP entrypoints of accounts: tokens, the current user, users and API keys."""

from __future__ import annotations

import time
from collections import deque

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from accounts import apikeys, lockout, services
from accounts.domain import ROLE_LABELS, Actor, Role
from accounts.exceptions import WrongPassword
from accounts.storage import ApiKey, User
from app.db import unit_of_work
from app.errors import NotFound, RateLimited
from app.http import ApiRoute, Call, StrictBody, ascii_int, bearer_token, client_address
from app.keys import DISPATCH, PASSWORDS, SESSIONS, SETTINGS
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


class LoginThrottle:
    """Failed logins per client address in a sliding window (in memory, per node). The
    limit is high: an office behind one NAT address shares it. Accounts are protected
    by the per-account back-off in the shared database (accounts/lockout.py)."""

    def __init__(self, limit: int = 100, window_seconds: float = 900) -> None:
        self.limit, self.window = limit, window_seconds
        self.failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        window = self.failures.get(client)
        now = time.monotonic()
        while window and now - window[0] > self.window:
            window.popleft()
        if window is not None and len(window) >= self.limit:
            raise RateLimited("该地址登录失败次数过多,请稍后再试")

    def failed(self, client: str) -> None:
        self.failures.setdefault(client, deque()).append(time.monotonic())


THROTTLE = web.AppKey("login_throttle", LoginThrottle)


def login_throttle(auth: AuthSettings) -> LoginThrottle:
    return LoginThrottle(auth.login_failures_per_address, auth.login_address_window_minutes * 60)


async def sign_in(request: web.Request, username: str, password: str) -> tuple[str, Actor]:
    """Log in through either door (API token, web form): the per-address limit, the
    per-account back-off and lockout, then the password; failures count in both."""
    app, client = request.app, client_address(request)
    auth, now = app[SETTINGS].auth, app[DISPATCH].now()
    throttle = app[THROTTLE]
    throttle.check(client)
    async with unit_of_work(app[SESSIONS]) as session:
        await lockout.check(session, username, now, auth)
    try:
        async with unit_of_work(app[SESSIONS]) as session:
            token, actor = await services.login(
                session, app[PASSWORDS], username, password, now, auth.token_ttl_hours
            )
            await lockout.succeeded(session, username)
    except services.BadCredentials:
        throttle.failed(client)
        async with unit_of_work(app[SESSIONS]) as session:
            await lockout.failed(session, username, now, auth)
        raise
    return token, actor


async def change_own_password(
    request: web.Request, username: str, old: str, new: str, keep_token: str | None
) -> None:
    """修改密码 through either door; a wrong old password counts like a failed login."""
    app, auth, now = request.app, request.app[SETTINGS].auth, request.app[DISPATCH].now()
    async with unit_of_work(app[SESSIONS]) as session:
        await lockout.check(session, username, now, auth)
    try:
        async with unit_of_work(app[SESSIONS]) as session:
            await services.change_password(
                session, app[PASSWORDS], username, old, new, keep_token=keep_token
            )
    except WrongPassword:
        async with unit_of_work(app[SESSIONS]) as session:
            await lockout.failed(session, username, now, auth)
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
        request, call.actor.username, body.old, body.new, keep_token=bearer_token(request)
    )
    return {"changed": True}


async def revoke(request: web.Request, call: Call):
    async with unit_of_work(request.app[SESSIONS]) as session:
        await services.revoke_token(session, bearer_token(request))
    return {"revoked": True}


async def me(request: web.Request, call: Call):
    return actor_json(call.actor)


async def create_user(request: web.Request, call: Call):
    body: CreateUser = call.body
    async with unit_of_work(request.app[SESSIONS]) as session:
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
        return {
            "items": [
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
        }


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
    async with unit_of_work(request.app[SESSIONS]) as session:
        row, key = await apikeys.issue(session, body.name, body.unit, call.actor, now)
    return {**api_key_json(row, body.unit), "api_key": key}


async def list_api_keys(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        rows = await apikeys.listed(session)
    return {"items": [api_key_json(row, unit) for row, unit in rows]}


async def revoke_api_key(request: web.Request, call: Call):
    key_id = ascii_int(request.match_info["id"])
    if key_id is None:
        raise NotFound(f"接口密钥不存在: {request.match_info['id']}", code="api_key_not_found")
    now = request.app[DISPATCH].now()
    async with unit_of_work(request.app[SESSIONS]) as session:
        row = await apikeys.revoke(session, key_id, now)
        unit = await session.scalar(select(Unit.code).where(Unit.id == row.unit_id))
    return api_key_json(row, unit)


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
    ApiRoute("GET", "/api/v1/users", list_users, "用户列表", roles=ADMIN, tags=("admin",)),
    ApiRoute(
        "POST",
        "/api/v1/api-keys",
        create_api_key,
        "新增接口密钥",
        roles=ADMIN,
        body=CreateApiKey,
        status=201,
        tags=("admin",),
    ),
    ApiRoute(
        "GET",
        "/api/v1/api-keys",
        list_api_keys,
        "接口密钥列表",
        roles=ADMIN,
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
]
