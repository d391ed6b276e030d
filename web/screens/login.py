"""登录 / 退出, and the landing redirect to each role's home screen."""

from __future__ import annotations

from aiohttp import web

from accounts.exceptions import BadCredentials
from app.errors import RateLimited
from web import labels
from web.render import render
from web.session import actor_of, current_actor, log_in, log_out, screen

MAX_FIELD = 200


def _safe_next(target: str | None) -> str | None:
    """Only a local page may be the target after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


async def root(request: web.Request) -> web.StreamResponse:
    actor = await current_actor(request)
    raise web.HTTPFound(labels.home_of(actor.role) if actor else "/login")


async def login_form(request: web.Request) -> web.StreamResponse:
    actor = await current_actor(request)
    if actor is not None:
        raise web.HTTPFound(labels.home_of(actor.role))
    return await render(request, "login.html", {"next": request.query.get("next", "")})


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()[:MAX_FIELD]
    password = str(form.get("password", ""))[:MAX_FIELD]
    target = _safe_next(str(form.get("next", "")))
    error, status = None, 200
    if not username or not password:
        error, status = "请输入用户名和密码", 400
    else:
        try:
            actor = await log_in(request, username, password)
        except BadCredentials:
            error, status = "用户名或密码错误", 401
        except RateLimited as exc:
            error, status = exc.message, 429
        else:
            raise web.HTTPFound(target or labels.home_of(actor.role))
    context = {"error": error, "username": username, "next": target or ""}
    return await render(request, "login.html", context, status=status)


async def logout(request: web.Request) -> web.StreamResponse:
    await log_out(request)
    raise web.HTTPFound("/login")


@screen()
async def placeholder_home(request: web.Request) -> web.StreamResponse:
    """Roles whose screens come in a later step (admin, inspector)."""
    actor = await actor_of(request)
    return await render(request, "home.html", {"actor_role": actor.role})


async def logout_page(request: web.Request) -> web.StreamResponse:
    """GET /logout: a button that POSTs (logging out must carry the CSRF token too)."""
    if await current_actor(request) is None:
        raise web.HTTPFound("/login")
    return await render(request, "logout.html")
