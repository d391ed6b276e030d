"""HTTP entrypoints of accounts: tokens, the current user, users and API keys."""

from __future__ import annotations

import time
from collections import deque

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from accounts import services
from accounts.domain import ROLE_LABELS, Actor, Role
from accounts.storage import User
from app.db import unit_of_work
from app.errors import RateLimited
from app.http import ApiRoute, Call, StrictBody, bearer_token
from app.keys import DISPATCH, PASSWORDS, SESSIONS, SETTINGS
from dispatch.storage import Unit

ADMIN = frozenset({Role.ADMIN})
# Failed logins allowed per client address within the window before 429.
LOGIN_FAILURES_ALLOWED = 10
LOGIN_WINDOW_SECONDS = 300.0


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


class LoginThrottle:
    """Counts failed logins per client address in a sliding window (in memory)."""

    def __init__(self) -> None:
        self.failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        window = self.failures.get(client)
        now = time.monotonic()
        while window and now - window[0] > LOGIN_WINDOW_SECONDS:
            window.popleft()
        if window is not None and len(window) >= LOGIN_FAILURES_ALLOWED:
            raise RateLimited("登录失败次数过多,请稍后再试")

    def failed(self, client: str) -> None:
        self.failures.setdefault(client, deque()).append(time.monotonic())


THROTTLE = web.AppKey("login_throttle", LoginThrottle)


def actor_json(actor: Actor) -> dict:
    return {
        "username": actor.username,
        "role": actor.role.value,
        "role_label": ROLE_LABELS[actor.role],
        "unit": actor.unit.code if actor.unit else None,
        "unit_name": actor.unit.name if actor.unit else None,
        "hotlines": sorted(actor.hotlines),
    }


async def issue_token(request: web.Request, call: Call):
    body: TokenRequest = call.body
    client = request.remote or "unknown"
    throttle = request.app[THROTTLE]
    throttle.check(client)
    settings = request.app[SETTINGS]
    try:
        async with unit_of_work(request.app[SESSIONS]) as session:
            token, actor = await services.login(
                session,
                request.app[PASSWORDS],
                body.username,
                body.password,
                request.app[DISPATCH].now(),
                settings.auth.token_ttl_hours,
            )
    except services.BadCredentials:
        throttle.failed(client)
        raise
    return {
        "token": token,
        "role": actor.role.value,
        "unit": actor.unit.code if actor.unit else None,
        # True: every call but POST /api/v1/auth/password answers 403 until it is made.
        "password_change_required": actor.must_change_password,
    }


async def change_password(request: web.Request, call: Call):
    body: ChangePassword = call.body
    async with unit_of_work(request.app[SESSIONS]) as session:
        await services.change_password(
            session,
            request.app[PASSWORDS],
            call.actor.username,
            body.old,
            body.new,
            keep_token=bearer_token(request),
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


async def create_api_key(request: web.Request, call: Call):
    async with unit_of_work(request.app[SESSIONS]) as session:
        key = await services.create_api_key(session, call.body.name, call.actor)
    return {"name": call.body.name, "api_key": key}


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
    ApiRoute("GET", "/api/v1/me", me, "当前用户", tags=("auth",)),
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
]
