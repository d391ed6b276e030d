"""HTTP entrypoints of the SMS integration: Kannel's smsbox calls the inbound one (its
get-url, authenticated by the shared secret); admins set the units' alert numbers."""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from accounts.audit import Event
from accounts.domain import Role, mask_phone
from accounts.routes import trail
from app.errors import InvalidInput
from app.http import ApiRoute, Call, Page, StrictBody, page_of, parse_model
from app.keys import DISPATCH, SESSIONS, SETTINGS, SUGGESTER
from integrations.exceptions import InboundRefused
from integrations.sms import services

ADMIN = frozenset({Role.ADMIN})
PHONE = r"^\+?[0-9]{3,20}$"


class InboundSms(BaseModel):
    """What the smsbox get-url sends: `from=%p&to=%P&text=%a` (and the secret)."""

    model_config = ConfigDict(populate_by_name=True)

    phone: str = Field(alias="from", pattern=PHONE)
    to: str = Field(pattern=r"^\d{3,20}$")
    text: str = Field("", max_length=5000)
    secret: str = ""


async def inbound(request: web.Request, call: Call):
    app = request.app
    settings = app[SETTINGS]
    given = request.query.get("secret", "")
    expected = settings.sms.inbound_secret
    if not (
        settings.sms.enabled and expected and hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise InboundRefused("短信接入密钥错误或短信功能未开启")
    sms = parse_model(InboundSms, dict(request.query))
    answer = await services.receive(
        app[DISPATCH], app[SUGGESTER], app[SESSIONS], settings, sms.phone, sms.to, sms.text
    )
    return web.json_response(answer, status=201 if answer["kind"] == "order" else 200)


class UnitContacts(StrictBody):
    unit: str = Field(min_length=1, max_length=40)
    phones: list[str] = Field(max_length=20)


async def list_contacts(request: web.Request, call: Call):
    async with request.app[SESSIONS]() as session:
        rows = await services.unit_contacts(session)
    return page_of(rows, call.query)


async def put_contacts(request: web.Request, call: Call):
    body: UnitContacts = call.body
    settings = request.app[SETTINGS].sms
    for phone in body.phones:
        if not services.is_mobile(settings, phone):
            raise InvalidInput(f"不是可以接收短信的手机号码: {phone}", code="not_mobile")
    now = request.app[DISPATCH].now()
    # the audit trail never holds a full phone number
    detail = {"action": "sms_contacts", "phones": [mask_phone(p) for p in body.phones]}
    async with trail(request, call.actor).act(Event.CONFIG_UNIT, body.unit, detail) as (
        session,
        _,
    ):
        phones = await services.set_unit_contacts(session, body.unit, body.phones, call.actor, now)
    return {"unit": body.unit, "phones": phones}


routes = [
    ApiRoute(
        "GET",
        "/api/v1/sms/inbound",
        inbound,
        "短信接入(Kannel smsbox 的 get-url 调用;需共享密钥 secret)",
        public=True,
        tags=("integrations",),
        errors=(403,),
    ),
    ApiRoute(
        "GET",
        "/api/v1/sms/unit-contacts",
        list_contacts,
        "各单位接收短信提醒的手机号码",
        roles=ADMIN,
        query=Page,
        tags=("admin",),
    ),
    ApiRoute(
        "PUT",
        "/api/v1/sms/unit-contacts",
        put_contacts,
        "设置一个单位接收短信提醒的手机号码(整体替换)",
        roles=ADMIN,
        body=UnitContacts,
        tags=("admin",),
    ),
]
