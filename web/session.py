"""Web logins: the session cookie, the actor behind it, CSRF tokens and flash messages.

The session holds the bearer token that `accounts.services.login` issues, never the
password or the role: every request resolves the token again, so logout (revoke), an
expired token or a deactivated user ends the web session too.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import Session, get_session, new_session

from accounts import services as accounts
from accounts.audit import Event
from accounts.domain import Actor, Role
from accounts.routes import sign_in, trail
from app.errors import Forbidden, Unauthenticated
from app.keys import ACTOR_RESOLVER

TOKEN = "token"
CSRF = "csrf"
FLASH = "flash"
# Request-local cache of the resolved actor.
_ACTOR = web.RequestKey["Actor | None"]("web_actor")
CSRF_FIELD = "csrf_token"
# 修改密码; the only page (with logout) of a user who must change an admin-set password.
PASSWORD_PAGE = "/web/password"
_PASSWORD_EXEMPT = frozenset({PASSWORD_PAGE, "/login", "/logout"})


async def csrf_token(request: web.Request) -> str:
    """The session's CSRF token, created on first use (the login form included)."""
    session = await get_session(request)
    if CSRF not in session:
        session[CSRF] = secrets.token_urlsafe(32)
    return session[CSRF]


async def csrf_valid(request: web.Request) -> bool:
    session = await get_session(request)
    expected = session.get(CSRF)
    form = await request.post()
    given = form.get(CSRF_FIELD)
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def current_actor(request: web.Request) -> Actor | None:
    """The logged-in user, or None (no session, or its token expired or was revoked)."""
    if _ACTOR in request:
        return request[_ACTOR]
    session = await get_session(request)
    token = session.get(TOKEN)
    actor = None
    if token:
        try:
            actor = await request.app[ACTOR_RESOLVER](token)
        except Unauthenticated:
            session.pop(TOKEN, None)
    request[_ACTOR] = actor
    return actor


async def password_change_pending(request: web.Request) -> bool:
    """The user must change the admin-set password before using this path."""
    if request.path in _PASSWORD_EXEMPT or request.path.startswith("/web/static/"):
        return False
    actor = await current_actor(request)
    return actor is not None and actor.must_change_password


async def log_in(request: web.Request, username: str, password: str) -> Actor:
    """Check the credentials (the API's sign-in: same limits) and start a session."""
    token, actor = await sign_in(request, username, password)
    # A fresh session (new CSRF token) so a session fixed before login is worthless.
    session = await new_session(request)
    session[TOKEN] = token
    session[CSRF] = secrets.token_urlsafe(32)
    request[_ACTOR] = actor
    return actor


async def log_out(request: web.Request) -> None:
    session = await get_session(request)
    token = session.get(TOKEN)
    if token:
        actor = await current_actor(request)
        username = actor.username if actor else ""
        async with trail(request, actor, username).act(Event.LOGOUT, username) as (db, _):
            await accounts.revoke_token(db, token)
    session.invalidate()
    request[_ACTOR] = None


async def flash(request: web.Request, kind: str, text: str, link: str | None = None) -> None:
    """A message shown once on the next page (kind: ok | error)."""
    session = await get_session(request)
    session[FLASH] = [*session.get(FLASH, []), [kind, text, link]]


async def pop_flashes(request: web.Request) -> list[list]:
    session: Session = await get_session(request)
    return session.pop(FLASH, [])


def login_redirect(request: web.Request) -> web.HTTPFound:
    return web.HTTPFound("/login?next=" + quote(request.path_qs, safe=""))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def screen(*roles: Role) -> Callable[[Handler], Handler]:
    """A page for these roles (none given: any logged-in user); others get 403."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def page(request: web.Request) -> web.StreamResponse:
            actor = await current_actor(request)
            if actor is None:
                raise login_redirect(request)
            if roles and actor.role not in roles:
                raise Forbidden("当前角色无权访问该页面")
            return await handler(request)

        return page

    return wrap


async def actor_of(request: web.Request) -> Actor:
    """The actor of a request that passed `screen`."""
    actor = await current_actor(request)
    assert actor is not None, "use actor_of only behind @screen"
    return actor
