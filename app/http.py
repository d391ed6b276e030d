"""HTTP plumbing shared by every package's routes.

A package declares its endpoints as `ApiRoute`s; `add_routes` wraps each handler so
authentication, role checks and input validation happen before it runs, and the same
declarations produce the OpenAPI document. Errors become `{"error": {"code","message"}}`
in one middleware.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accounts.domain import Actor, Role
from app.errors import AppError, Forbidden, InvalidInput, RateLimited, Unauthenticated
from app.keys import ACTOR_RESOLVER, KEY_RESOLVER, REQUEST_LIMITER, ROUTES, SETTINGS

log = logging.getLogger(__name__)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(data: Any, status: int = 200) -> web.Response:
    text = json.dumps(data, ensure_ascii=False, default=_default)
    return web.Response(text=text, status=status, content_type="application/json")


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status=status)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
}
_HTTP_MESSAGES = {404: "请求的资源不存在", 405: "不支持该请求方法", 413: "请求内容过大"}


def keep_allow(exc: web.HTTPException, response: web.StreamResponse) -> web.StreamResponse:
    """A 405 must say which methods the resource has (RFC 9110 §15.5.6)."""
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Every failure leaves as the JSON error body; never a traceback, never a 500 page."""
    try:
        return await handler(request)
    except AppError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        if isinstance(exc, RateLimited) and exc.retry_after > 0:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = error_response(exc.status, code, _HTTP_MESSAGES.get(exc.status, exc.reason))
        return keep_allow(exc, response)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "服务器内部错误,请稍后重试")


# ------------------------------------------------------------------ validation

_PYDANTIC_MESSAGES = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "string_too_short": "不能为空",
    "string_too_long": "内容过长",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确",
    "bool_type": "应为 true 或 false",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "datetime_from_date_parsing": "日期时间格式不正确",
    "greater_than": "数值过小",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
}


def error_text(error_type: str) -> str:
    """Chinese wording of one pydantic error type (API messages and web forms alike)."""
    return _PYDANTIC_MESSAGES.get(error_type, "格式不正确")


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "请求体"
        parts.append(f"{where}: {error_text(err['type'])}")
    return "请求参数不正确 — " + "; ".join(parts)


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from None


# Deeper JSON than any body of the API needs; the parser recurses per level, so a body of
# a thousand `[` would otherwise end in RecursionError (a 500) instead of a 400.
MAX_JSON_DEPTH = 32


async def read_json(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidInput("请求体不是合法的 JSON", code="malformed_json") from None
    _check_values(data)
    return data


def _check_values(data: Any) -> None:
    """Bounded nesting, and no NUL: PostgreSQL text cannot hold it (refused for every
    database). Walked with a stack, not recursion, for the same reason as the limit."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(f"请求体嵌套超过 {MAX_JSON_DEPTH} 层", code="malformed_json")
        if isinstance(value, str):
            if "\x00" in value:
                raise InvalidInput("请求内容包含非法字符(NUL)", code="invalid_character")
        elif isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


# ------------------------------------------------------------------ routes

ANY_USER = None  # `roles=ANY_USER`: any logged-in user


@dataclass(frozen=True)
class Call:
    """What a wrapped handler receives besides the request."""

    actor: Actor | None
    body: Any = None
    query: Any = None


Handler = Callable[[web.Request, Call], Awaitable[web.StreamResponse | Any]]


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    handler: Handler
    summary: str
    roles: frozenset[Role] | None = ANY_USER
    public: bool = False
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = field(default_factory=tuple)
    # Error statuses this route answers besides those every route of its kind can
    # (app/openapi.py): e.g. 409 for a state conflict, 413 for an upload, 429 throttled.
    errors: tuple[int, ...] = ()
    # Open to a user who must still change the admin-set password (the change itself).
    before_password_change: bool = False
    # Open to partner systems through `X-API-Key` (a unit-bound key, with the unit's
    # scope); every other route refuses keys with 403. `open311`: also for keys bound to
    # no unit (the Open311 server's routes).
    api_keys: bool = False
    open311: bool = False
    # What the answer creates, for the OpenAPI links (stateful clients and fuzzers):
    # (field of the answer, path template of the created resource), e.g. ("number",
    # "/api/v1/orders/{number}") — every operation under that path takes the field.
    creates: tuple[str, str] | None = None
    # Counted against the API-wide rate limit (`[auth] user_requests_per_window`); health
    # checks are not.
    throttled: bool = True


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in `text`, or None when it is none."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(request: web.Request) -> str:
    """The client's address for per-address limits. X-Forwarded-For counts only when the
    peer is a configured trusted proxy (`[server] trusted_proxies`); then the right-most
    address that is not itself a trusted proxy is the client (what a proxy appends can be
    trusted, what the client sent before it cannot)."""
    peer = request.remote or "unknown"
    trusted = request.app[SETTINGS].server.trusted_proxies

    def is_trusted(address) -> bool:
        return address is not None and any(address in net for net in trusted)

    if not trusted or not is_trusted(parse_ip(peer)):
        return peer
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    for hop in reversed([h for h in forwarded.split(",") if h.strip()]):
        address = parse_ip(hop)
        if address is None:
            break  # garbage: stop at the last address a proxy vouched for
        if not is_trusted(address):
            return str(address)
        peer = str(address)
    return peer


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


API_KEY_HEADER = "X-API-Key"


async def _key_actor(request: web.Request, route: ApiRoute, key: str) -> Actor:
    """The API user of `X-API-Key`, for the routes open to keys."""
    actor = await request.app[KEY_RESOLVER](key)
    # Audit (accounts/audit.py, in progress elsewhere): one line per request made with a
    # key belongs here — key id (actor.api_key_id), unit, method, path, client address.
    if not (route.api_keys or route.open311):
        raise Forbidden("接口密钥不能调用该接口", code="api_key_forbidden")
    if actor.unit is None and not route.open311:
        raise Forbidden("未绑定单位的接口密钥只能调用 Open311 接口", code="api_key_forbidden")
    return actor


async def _actor(request: web.Request, route: ApiRoute) -> Actor:
    token = bearer_token(request)
    key = request.headers.get(API_KEY_HEADER, "").strip()
    if token is None and key:
        return await _key_actor(request, route, key)
    if token is None:
        raise Unauthenticated("请先登录(缺少 Authorization: Bearer 令牌或 X-API-Key)")
    return await request.app[ACTOR_RESOLVER](token)


def count_request(request: web.Request, actor: Actor | None) -> None:
    """The API-wide rate limit: per user, or per client address when nobody is signed in.
    Partner keys have their own limit, counted in the key's row (accounts/apikeys.py)."""
    if actor is not None and actor.api_key_id is not None:
        return
    auth = request.app[SETTINGS].auth
    if actor is None:
        subject, limit = f"address:{client_address(request)}", auth.address_requests_per_window
    else:
        subject, limit = f"user:{actor.username}", auth.user_requests_per_window
    request.app[REQUEST_LIMITER].hit(subject, limit)


def _wrap(route: ApiRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        actor = None
        if not route.public:
            try:
                actor = await _actor(request, route)
            except Unauthenticated:  # guessing tokens counts against the address
                count_request(request, None)
                raise
        if route.throttled:
            count_request(request, actor)
        if actor is not None:
            if actor.must_change_password and not route.before_password_change:
                raise Forbidden(
                    "请先修改初始密码(POST /api/v1/auth/password)",
                    code="password_change_required",
                )
            if route.roles is not ANY_USER and actor.role not in route.roles:
                raise Forbidden("当前角色无权访问该接口")
        body = parse_model(route.body, await read_json(request)) if route.body else None
        query = parse_model(route.query, dict(request.query)) if route.query else None
        result = await route.handler(request, Call(actor, body, query))
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, status=route.status)

    handler.__name__ = route.handler.__name__
    return handler


def add_routes(app: web.Application, routes: Iterable[ApiRoute]) -> None:
    for route in routes:
        app.router.add_route(route.method, route.path, _wrap(route))
        app[ROUTES].append(route)


class StrictBody(BaseModel):
    """Request bodies: unknown fields are an error, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


MAX_PAGE_SIZE = 500
# The highest page any list answers: (MAX_PAGE - 1) * MAX_PAGE_SIZE stays far inside the
# 64-bit OFFSET of SQLite and PostgreSQL (an unbounded page was an OverflowError, a 500).
MAX_PAGE = 1_000_000


class Page(BaseModel):
    """Common list parameters: `page` from 1, `page_size` default 50, max 500."""

    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL


def ascii_int(raw: str | None, maximum: int = MAX_ID) -> int | None:
    """A positive integer written in ASCII digits only, at most `maximum`; else None.
    `str.isdigit` alone also says yes to '²' or '٣', which `int()` then refuses."""
    if not raw or len(raw) > len(str(maximum)) or not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if 0 < value <= maximum else None


def page_number(raw: str | None) -> int:
    """A web page's `?page=`: what cannot be a page number is page 1, a page past
    the last possible one is that page (pages stay forgiving where the API says 400)."""
    if raw is None or not (raw.isascii() and raw.isdigit()):
        return 1
    return ascii_int(raw, MAX_PAGE) or (MAX_PAGE if raw.strip("0") else 1)


def page_answer(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def page_of(items: list[Any], query: Page | None) -> dict[str, Any]:
    """One page of a short list held whole in memory (units, users, keys, ...), in the
    same shape as the lists paged in SQL."""
    page, size = (query.page, query.page_size) if query is not None else (1, 50)
    start = (page - 1) * size
    return page_answer(items[start : start + size], len(items), page, size)
