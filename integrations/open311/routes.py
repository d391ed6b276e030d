"""HTTP entrypoints of the Open311 GeoReport v2 server (DESIGN §8) at `/open311/v2/`.

Its own protocol, not part of `/api/v1`: answers in `.json` or `.xml`, errors as
`[{"code","description"}]` in the same format, so these routes are plain aiohttp routes
outside the `ApiRoute` table (and so outside `/api/v1/openapi.json`). Reading is public,
as the spec has it; posting needs an API key (`api_key` in the form, or `X-API-Key`).
A key that is presented must be valid, on any route.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from accounts.domain import Actor, Role
from accounts.exceptions import TokenInvalid
from app.errors import AppError
from app.http import API_KEY_HEADER, count_request, validation_message
from app.keys import DISPATCH, KEY_RESOLVER, SESSIONS, SETTINGS, SUGGESTER
from dispatch.intake import register_request
from integrations.open311 import formats, mapping
from integrations.open311.services import RequestFilter, catalogue, find_requests

log = logging.getLogger(__name__)

BASE = "/open311/v2"
SPEC = "http://wiki.open311.org/GeoReport_v2"
FMT = r"{format:json|xml}"


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


Handler = Callable[[web.Request, str], Awaitable[web.Response]]


def endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The format from the path; every failure as the spec's error list in it."""

    async def wrapped(request: web.Request) -> web.Response:
        fmt = request.match_info.get("format", "json")
        try:
            if request.method == "GET" and not (
                request.query.get("api_key") or request.headers.get(API_KEY_HEADER)
            ):  # anonymous reads: the API-wide limit per address (keys have their own)
                count_request(request, None)
            return await handler(request, fmt)
        except Open311Error as exc:
            return formats.errors(fmt, exc.status, exc.description)
        except TokenInvalid as exc:  # a bad key: the spec's 403, not our 401
            return formats.errors(fmt, 403, exc.message)
        except AppError as exc:
            return formats.errors(fmt, exc.status, exc.message)
        except web.HTTPException as exc:  # e.g. 413 from reading a too large form
            if exc.status < 400:
                raise
            return formats.errors(fmt, exc.status, exc.reason)

    wrapped.__name__ = handler.__name__
    return wrapped


async def _key_actor(request: web.Request, key: str | None) -> Actor | None:
    """The Open311 client behind a presented key (any active key: unit-bound or not).
    It registers as a citizen would — the request is the citizen's, relayed — and the
    order's log names the key."""
    key = (key or request.headers.get(API_KEY_HEADER, "")).strip()
    if not key:
        return None
    key_user = await request.app[KEY_RESOLVER](key)
    return Actor(key_user.username, Role.CITIZEN, api_key_id=key_user.api_key_id)


def _tz(request: web.Request) -> ZoneInfo:
    return request.app[DISPATCH].tz


# ------------------------------------------------------------------ discovery, services


@endpoint
async def discovery(request: web.Request, fmt: str) -> web.Response:
    await _key_actor(request, request.query.get("api_key"))
    settings = request.app[SETTINGS].open311
    url = str(request.url.with_path(BASE).with_query(None))
    data = {
        "changeset": settings.changeset,
        "contact": settings.contact,
        "key_service": "API keys are issued by the hotline's administrator",
        "endpoints": [
            {
                "specification": SPEC,
                "url": url,
                "changeset": settings.changeset,
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }
    return formats.respond(fmt, "discovery", data)


@endpoint
async def services(request: web.Request, fmt: str) -> web.Response:
    await _key_actor(request, request.query.get("api_key"))
    attributes = request.app[SETTINGS].open311.attributes
    async with request.app[SESSIONS]() as session:
        rows = await catalogue(session)
    data = [mapping.service_json(s, attributes.get(s.code, [])) for s in rows]
    return formats.respond(fmt, "services", data)


@endpoint
async def service_definition(request: web.Request, fmt: str) -> web.Response:
    await _key_actor(request, request.query.get("api_key"))
    code = request.match_info["code"]
    async with request.app[SESSIONS]() as session:
        known = {s.code for s in await catalogue(session)}
    if code not in known:
        raise Open311Error(404, f"service_code not found: {code}")
    attributes = request.app[SETTINGS].open311.attributes.get(code, [])
    return formats.respond(fmt, "service_definition", mapping.definition_json(code, attributes))


# ------------------------------------------------------------------ POST requests


class PostedRequest(BaseModel):
    """The form of POST Service Request (GeoReport v2), checked."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    service_code: str = Field(min_length=1, max_length=40)
    lat: float | None = Field(None, ge=-90, le=90)
    long: float | None = Field(None, ge=-180, le=180)
    address_string: str | None = Field(None, min_length=1, max_length=300)
    address_id: str | None = Field(None, max_length=100)
    description: str = Field(min_length=1, max_length=mapping.DESCRIPTION_MAX)
    email: str | None = Field(None, max_length=200)
    device_id: str | None = Field(None, max_length=200)
    account_id: str | None = Field(None, max_length=200)
    first_name: str | None = Field(None, max_length=30)
    last_name: str | None = Field(None, max_length=30)
    phone: str | None = Field(None, pattern=r"^\+?[0-9\-]{3,20}$")
    media_url: HttpUrl | None = None

    @model_validator(mode="after")
    def _located(self) -> PostedRequest:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together")
        if self.lat is None and not self.address_string and not self.address_id:
            raise ValueError("a location is required: lat/long, address_string or address_id")
        return self


def _posted(form: MultiDictProxy[Any]) -> PostedRequest:
    # Empty fields count as absent (HTML forms send them); attribute[...] fields are
    # the service definition's and are read separately.
    data = {k: v for k, v in form.items() if isinstance(v, str) and v.strip()}
    if any("\x00" in v for v in data.values()):  # PostgreSQL text cannot hold NUL
        raise Open311Error(400, "a field contains an illegal character (NUL)")
    try:
        return PostedRequest.model_validate(data)
    except ValidationError as exc:
        raise Open311Error(400, validation_message(exc)) from None


def _attributes_text(form: MultiDictProxy[Any], attributes: list) -> str:
    """The service's extra fields as lines of the order's content ("楼层: 3")."""
    lines = []
    for attribute in attributes:
        value = str(form.get(f"attribute[{attribute.code}]", "")).strip()
        if attribute.required and not value:
            raise Open311Error(400, f"attribute[{attribute.code}] is required")
        if value:
            lines.append(f"{attribute.description}: {value[:200]}")
    return "\n".join(lines)


@endpoint
async def post_request(request: web.Request, fmt: str) -> web.Response:
    app = request.app
    form = await request.post()
    key = form.get("api_key") if isinstance(form.get("api_key"), str) else None
    actor = await _key_actor(request, key)
    if actor is None:
        raise Open311Error(403, "api_key is required")
    posted = _posted(form)
    settings = app[SETTINGS].open311
    async with app[SESSIONS]() as session:
        known = {s.code for s in await catalogue(session)}
    if posted.service_code not in known:
        raise Open311Error(404, f"service_code not found: {posted.service_code}")
    extra = _attributes_text(form, settings.attributes.get(posted.service_code, []))
    description = posted.description + (f"\n\n{extra}" if extra else "")
    media = str(posted.media_url) if posted.media_url else None
    name = "".join(n for n in (posted.last_name, posted.first_name) if n) or None
    fields = {
        "channel": "open311",
        "hotline": settings.hotline,
        "content": mapping.content_with_media(description, media),
        "caller_phone": posted.phone,
        "caller_name": name,
        "address": posted.address_string,
        "latitude": posted.lat,
        "longitude": posted.long,
        "type": settings.request_type,
        "urgency": "normal",
        "category": posted.service_code,
    }
    detail, _ = await register_request(app[DISPATCH], app[SUGGESTER], actor, fields)
    number = detail.order.number
    log.info("open311: request %s registered by %s", number, actor.username)
    answer = {"service_request_id": number, "service_notice": mapping.service_notice(number)}
    return formats.respond(fmt, "service_requests", [answer], status=201)


# ------------------------------------------------------------------ GET requests


def _listed(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _date(raw: str | None, name: str, tz: ZoneInfo) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} is not a W3C date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _request_filter(request: web.Request) -> RequestFilter:
    q, tz = request.query, _tz(request)
    statuses = _listed(q.get("status"))
    if not set(statuses) <= {"open", "closed"}:
        raise Open311Error(400, "status is open or closed")
    ids = _listed(q.get("service_request_id"))
    if len(ids) > request.app[SETTINGS].open311.max_requests:
        raise Open311Error(400, "too many service_request_id values")
    return RequestFilter(
        ids=ids,
        service_codes=_listed(q.get("service_code")),
        start=_date(q.get("start_date"), "start_date", tz),
        end=_date(q.get("end_date"), "end_date", tz),
        statuses=statuses,
    )


async def _requests(request: web.Request, f: RequestFilter) -> list[dict[str, Any]]:
    app = request.app
    settings = app[SETTINGS].open311
    async with app[SESSIONS]() as session:
        rows = await find_requests(
            session, f, app[DISPATCH].now(), settings.default_days, settings.max_requests
        )
    return [mapping.request_json(row, _tz(request)) for row in rows]


@endpoint
async def get_requests(request: web.Request, fmt: str) -> web.Response:
    await _key_actor(request, request.query.get("api_key"))
    data = await _requests(request, _request_filter(request))
    return formats.respond(fmt, "service_requests", data)


@endpoint
async def get_request(request: web.Request, fmt: str) -> web.Response:
    await _key_actor(request, request.query.get("api_key"))
    number = request.match_info["id"]
    data = await _requests(request, replace(RequestFilter(), ids=[number]))
    if not data:
        raise Open311Error(404, f"service_request_id not found: {number}")
    return formats.respond(fmt, "service_requests", data)


@endpoint
async def get_token(request: web.Request, fmt: str) -> web.Response:
    """Requests are registered at once here, so no token is ever handed out: every
    token is unknown (the route exists because the spec lists it)."""
    await _key_actor(request, request.query.get("api_key"))
    raise Open311Error(404, f"token not found: {request.match_info['token']}")


@endpoint
async def not_found(request: web.Request, fmt: str) -> web.Response:
    raise Open311Error(404, f"no such Open311 method: {request.path}")


routes = [
    web.get(f"{BASE}/discovery.{FMT}", discovery),
    web.get(f"{BASE}/services.{FMT}", services),
    web.get(f"{BASE}/services/{{code}}.{FMT}", service_definition),
    web.post(f"{BASE}/requests.{FMT}", post_request),
    web.get(f"{BASE}/requests.{FMT}", get_requests),
    web.get(f"{BASE}/requests/{{id}}.{FMT}", get_request),
    web.get(f"{BASE}/tokens/{{token}}.{FMT}", get_token),
    web.route("*", BASE + "/{tail:.*}", not_found),
]
