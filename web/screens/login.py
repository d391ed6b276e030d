"""登录 / 退出, and the landing redirect to each role's home screen."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session

from accounts.exceptions import AccountInvalid, BadCredentials
from accounts.policy import MIN_LENGTH
from accounts.routes import change_own_password
from app.errors import RateLimited
from web import labels
from web.render import render
from web.session import (
    PASSWORD_PAGE,
    TOKEN,
    actor_of,
    current_actor,
    flash,
    log_in,
    log_out,
    screen,
)

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
            if actor.must_change_password:
                raise web.HTTPFound(PASSWORD_PAGE)
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


async def _password_page(request, error=None, status=200) -> web.StreamResponse:
    actor = await actor_of(request)
    context = {"error": error, "required": actor.must_change_password, "min_password": MIN_LENGTH}
    return await render(request, "password.html", context, status=status)


@screen()
async def password_form(request: web.Request) -> web.StreamResponse:
    """修改密码: any user; the only page of a user whose password an admin set."""
    return await _password_page(request)


@screen()
async def password_change(request: web.Request) -> web.StreamResponse:
    actor = await actor_of(request)
    form = await request.post()
    old, new = str(form.get("old", ""))[:MAX_FIELD], str(form.get("new", ""))[:MAX_FIELD]
    if not old or not new:
        return await _password_page(request, "请输入原密码和新密码", 400)
    if new != str(form.get("confirm", "")):
        return await _password_page(request, "两次输入的新密码不一致", 400)
    session = await get_session(request)
    try:
        await change_own_password(request, actor, old, new, session.get(TOKEN))
    except AccountInvalid as exc:
        return await _password_page(request, exc.message, 400)
    except RateLimited as exc:
        return await _password_page(request, exc.message, 429)
    await flash(request, "ok", "密码已修改")
    raise web.HTTPFound(labels.home_of(actor.role))
