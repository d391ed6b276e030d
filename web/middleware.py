"""What every web page shares: CSRF checks on POST, Chinese error pages, safe headers.

The app's JSON `error_middleware` stays outermost for the API; this one sits inside it
and answers only for the web paths, so a browser never sees JSON or a stack trace.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web

from app.errors import AppError, Forbidden, NotFound, Unauthenticated
from app.http import error_response, keep_allow
from app.keys import SETTINGS
from web.forms import read_form
from web.render import render
from web.session import PASSWORD_PAGE, csrf_valid, login_redirect, password_change_pending

log = logging.getLogger(__name__)

# JSON endpoints the pages' scripts call: errors stay JSON there.
JSON_PREFIX = "/web/api/"
_PAGE_MESSAGES = {
    400: ("请求有误", "提交的内容不正确,请返回修改后重试。"),
    403: ("无权访问", "当前账号无权访问该页面或执行该操作。"),
    404: ("页面不存在", "您访问的页面或工单不存在,或不在您的权限范围内。"),
    405: ("请求方式不正确", "该页面不支持此请求方式。"),
    409: ("操作冲突", "工单状态已变化,请刷新页面后重试。"),
    413: ("内容过大", "提交的内容超过了允许的大小。"),
    429: ("操作过于频繁", "请稍后再试。"),
    500: ("系统繁忙", "服务器内部错误,请稍后重试。如问题持续,请联系系统管理员。"),
}
CSRF_MESSAGE = "页面已过期或安全校验失败(CSRF),请刷新页面后重新提交。"
NUL_MESSAGE = "提交的内容包含非法字符(NUL),请删除后重试。"
# Pages may only load their own scripts, styles and images; no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _policy(app: web.Application) -> str:
    """The CSP, with the map tile server's origin among the image sources when set."""
    url = app[SETTINGS].web.map_tiles_url
    tiles = urlsplit(url.replace("{s}", "s"))
    if not tiles.scheme or not tiles.netloc:
        return SECURITY_HEADERS["Content-Security-Policy"]
    host = tiles.netloc.replace("s.", "*.", 1) if "://{s}." in url else tiles.netloc
    origin = f"{tiles.scheme}://{host}"
    return SECURITY_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", f"img-src 'self' data: {origin}"
    )


def is_web_path(path: str) -> bool:
    return path == "/" or path in ("/login", "/logout") or path.startswith("/web/")


async def error_page(request: web.Request, status: int, message: str | None = None):
    title, default = _PAGE_MESSAGES.get(status, _PAGE_MESSAGES[500 if status >= 500 else 400])
    if request.path.startswith(JSON_PREFIX):
        return error_response(status, "web_error", message or default)
    return await render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message or default},
        status=status,
    )


@web.middleware
async def web_middleware(request: web.Request, handler) -> web.StreamResponse:
    if not is_web_path(request.path):
        return await handler(request)
    response = await _guarded(request, handler)
    if not request.path.startswith("/web/static/"):
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": _policy(request.app)}
        for name, value in headers.items():  # a page may bring a stricter policy
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _has_nul(request: web.Request) -> bool:
    """PostgreSQL text cannot hold NUL: refuse it in any field (the API does the same)."""
    values = list(request.query.values())
    if request.method == "POST":
        values += (await read_form(request)).values()
    return any(isinstance(v, str) and "\x00" in v for v in values)


async def _guarded(request: web.Request, handler) -> web.StreamResponse:
    try:
        if request.method == "POST":
            # Read once here: every later `request.post()` (CSRF, handlers) reuses it;
            # a body that is not UTF-8 is a FormError, a 400 page like any AppError.
            await read_form(request)
        if request.method == "POST" and not await csrf_valid(request):
            log.info("CSRF check failed on %s", request.path)
            return await error_page(request, 403, CSRF_MESSAGE)
        if await _has_nul(request):
            return await error_page(request, 400, NUL_MESSAGE)
        if await password_change_pending(request):
            if request.path.startswith(JSON_PREFIX):
                return error_response(403, "password_change_required", "请先修改初始密码")
            raise web.HTTPFound(PASSWORD_PAGE)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return keep_allow(exc, await error_page(request, exc.status))
    except Unauthenticated:
        if request.path.startswith(JSON_PREFIX):
            return error_response(401, "unauthenticated", "请先登录")
        raise login_redirect(request) from None
    except NotFound:
        return await error_page(request, 404)
    except Forbidden as exc:
        return await error_page(request, 403, exc.message)
    except AppError as exc:
        return await error_page(request, exc.status, exc.message)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return await error_page(request, 500)
