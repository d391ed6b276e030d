"""The SMS use cases: what is sent (acknowledgements, survey fallback, unit alerts) and
what a citizen's SMS does (a new order, or the answer to an SMS survey).

Everything sent is an outbox row written in the transaction of the change that causes
it; Kannel is only spoken to by the outbox worker (integrations.outbox.SmsTransport).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import SYSTEM_ACTOR, Actor
from app.db import unit_of_work
from app.errors import AppError, InvalidInput
from callcenter.storage import SurveyCall
from config import Settings, SmsSettings
from dispatch.intake import register_request
from dispatch.lifecycle import Satisfaction
from dispatch.notifications import RULES, UNIT
from dispatch.services import Appended, DispatchService, UnitDirectory
from dispatch.storage import Hotline, Order, Unit
from dispatch.suggestions import Suggester
from integrations.exceptions import UnitNotFound
from integrations.outbox import enqueue_sms
from integrations.sms.storage import SmsInbound, UnitSmsContact

log = logging.getLogger(__name__)

CITIZEN_PATH = "/web/citizen/t/{token}"  # the citizen's tracking page (web/screens/citizen.py)
# The survey states of callcenter.storage.SurveyCall this module moves on: the dialer
# gave up calling ("sms"), the SMS survey went out ("sms_sent"), the answer is in ("done").
SURVEY_DUE, SURVEY_SENT, SURVEY_DONE, SURVEY_FAILED = "sms", "sms_sent", "done", "failed"
SURVEY_NO_MOBILE = "no_mobile"
SURVEY_ANSWERS = {
    "1": Satisfaction.SATISFIED,
    "2": Satisfaction.BASIC,
    "3": Satisfaction.DISSATISFIED,
}
SURVEY_NOTE = "短信回访"
SURVEY_BATCH = 100


class EmptyText(InvalidInput):
    code = "empty_text"


class UnknownHotline(InvalidInput):
    code = "unknown_hotline"


def is_mobile(settings: SmsSettings, phone: str | None) -> bool:
    return bool(phone) and re.fullmatch(settings.mobile_pattern, phone or "") is not None


def normalise_phone(phone: str) -> str:
    """A mainland number as stored on orders: without +86 / 0086 (operators differ)."""
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix) and len(phone) - len(prefix) == 11:
            return phone[len(prefix) :]
    return phone


def tracking_link(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + CITIZEN_PATH.format(token=token)


# ------------------------------------------------------------------ out: subscriber


def subscriber(settings: Settings) -> Callable[..., Any]:
    """The dispatch subscriber: 受理回执 to the citizen when an order is registered on
    an `ack_channels` channel, and alerts to the handling unit's numbers."""
    sms = settings.sms

    async def on_appended(session: AsyncSession, appended: Appended, units: UnitDirectory):
        event = appended.event
        acknowledged = event.data.get("channel") in sms.ack_channels
        if event.action == "register" and sms.ack_on_register and acknowledged:
            order = await session.get(Order, appended.order_id)
            if order is not None and is_mobile(sms, order.caller_phone):
                link = tracking_link(settings.server.public_url, order.tracking_token)
                text = sms.ack_template.format(number=order.number, link=link)
                enqueue_sms(session, order.caller_phone, text, order.number, event.at)
        if event.action in sms.alert_events:
            unit = units.by_code.get(appended.view.assignee or "")
            templates = [t for who, t in RULES.get(event.action, []) if who == UNIT]
            if unit is None or not templates:
                return
            text = sms.alert_prefix + templates[0].format(number=appended.number)
            for phone in await _contacts(session, unit.id):
                enqueue_sms(session, phone, text, appended.number, event.at)

    return on_appended


_CONTACTS = "unit_sms_contacts"


async def _contacts(session: AsyncSession, unit_id: int) -> list[str]:
    """A unit's alert numbers, read once per transaction (a scanner round alerts many)."""
    known = session.info.setdefault(_CONTACTS, {})
    if unit_id not in known:
        known[unit_id] = list(
            await session.scalars(
                select(UnitSmsContact.phone)
                .where(UnitSmsContact.unit_id == unit_id)
                .order_by(UnitSmsContact.id)
            )
        )
    return known[unit_id]


# ------------------------------------------------------------------ unit contacts


async def unit_contacts(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Unit.code, Unit.name, UnitSmsContact.phone)
        .join(UnitSmsContact, UnitSmsContact.unit_id == Unit.id)
        .order_by(Unit.code, UnitSmsContact.id)
    )
    grouped: dict[str, dict[str, Any]] = {}
    for code, name, phone in rows:
        grouped.setdefault(code, {"unit": code, "name": name, "phones": []})["phones"].append(phone)
    return list(grouped.values())


async def set_unit_contacts(
    session: AsyncSession, code: str, phones: list[str], actor: Actor, now: datetime
) -> list[str]:
    """Replace a unit's alert numbers (duplicates dropped, order kept)."""
    unit = await session.scalar(select(Unit).where(Unit.code == code, Unit.active.is_(True)))
    if unit is None:
        raise UnitNotFound(code)
    wanted = list(dict.fromkeys(phones))
    await session.execute(delete(UnitSmsContact).where(UnitSmsContact.unit_id == unit.id))
    session.add_all(
        UnitSmsContact(unit_id=unit.id, phone=p, created_by=actor.username, created_at=now)
        for p in wanted
    )
    log.info("sms alert numbers of unit %s set by %s: %d", code, actor.username, len(wanted))
    return wanted


# ------------------------------------------------------------------ survey fallback


async def send_due_surveys(
    sessions: async_sessionmaker[AsyncSession], settings: SmsSettings, now: datetime
) -> int:
    """The survey's SMS fallback: every survey the dialer gave up calling (state `sms`)
    gets the SMS question, in the transaction that marks it `sms_sent`."""
    async with unit_of_work(sessions) as session:
        rows = list(
            await session.scalars(
                select(SurveyCall)
                .where(SurveyCall.state == SURVEY_DUE)
                .order_by(SurveyCall.id)
                .limit(SURVEY_BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        sent = 0
        for row in rows:
            row.updated_at = now
            if not is_mobile(settings, row.phone):
                row.state, row.last_result = SURVEY_FAILED, SURVEY_NO_MOBILE
                continue
            text = settings.survey_template.format(number=row.order_number)
            enqueue_sms(session, row.phone, text, row.order_number, now)
            row.state, row.last_result = SURVEY_SENT, "sms sent"
            sent += 1
    return sent


def survey_answer(text: str) -> Satisfaction | None:
    """1/2/3 (full-width digits too, surrounding blanks and a full stop ignored)."""
    key = unicodedata.normalize("NFKC", text).strip().rstrip("。.")
    return SURVEY_ANSWERS.get(key)


# ------------------------------------------------------------------ in


async def receive(
    service: DispatchService,
    suggester: Suggester,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    phone: str,
    hotline: str,
    text: str,
) -> dict[str, Any]:
    """A citizen's SMS to `hotline`: the answer to its pending SMS survey, else a new
    order of channel `sms` (acknowledged by the register subscriber)."""
    text, phone = text.strip(), normalise_phone(phone)
    if not text:
        raise EmptyText("短信内容为空,未登记")
    now = service.now()
    async with sessions() as session:
        if await session.get(Hotline, hotline) is None:
            raise UnknownHotline(f"未知热线号码: {hotline}")
        survey = None
        if (satisfaction := survey_answer(text)) is not None:
            survey = await session.scalar(
                select(SurveyCall)
                .where(SurveyCall.phone == phone, SurveyCall.state == SURVEY_SENT)
                .order_by(SurveyCall.updated_at.desc(), SurveyCall.id.desc())
                .limit(1)
            )
    if survey is not None and satisfaction is not None:
        return await _answer(service, sessions, settings.sms, survey.id, phone, hotline, text)

    fields = {
        "channel": "sms",
        "hotline": hotline,
        "content": text[:5000],
        "caller_phone": phone,
        "type": "help",
        "urgency": "normal",
    }

    async def record(session: AsyncSession, order: Order, _applied: str | None) -> None:
        session.add(
            SmsInbound(
                phone=phone,
                hotline=hotline,
                text=text,
                kind="order",
                order_number=order.number,
                received_at=now,
            )
        )

    detail, _ = await register_request(service, suggester, SYSTEM_ACTOR, fields, also=record)
    log.info("sms: order %s registered from an SMS to %s", detail.order.number, hotline)
    return {"kind": "order", "order": detail.order.number}


async def _answer(
    service: DispatchService,
    sessions: async_sessionmaker[AsyncSession],
    settings: SmsSettings,
    survey_id: int,
    phone: str,
    hotline: str,
    text: str,
) -> dict[str, Any]:
    satisfaction = survey_answer(text)
    assert satisfaction is not None
    async with sessions() as session:
        number = (await session.get(SurveyCall, survey_id)).order_number
    payload = {
        "satisfaction": satisfaction.value,
        "resolved": satisfaction != Satisfaction.DISSATISFIED,
        "note": SURVEY_NOTE,
    }
    recorded, result = True, "answered by sms"
    try:
        await service.act(SYSTEM_ACTOR, number, "callback", payload)
    except AppError as exc:  # the order moved on meanwhile (a supervisor called, say)
        log.warning("sms survey answer for %s not written: %s", number, exc)
        recorded, result = False, exc.code[:40]
    now = service.now()
    async with unit_of_work(sessions) as session:
        row = await session.get(SurveyCall, survey_id)
        if row is not None:
            row.state = SURVEY_DONE if recorded else SURVEY_FAILED
            row.last_result, row.updated_at = result, now
            if recorded:
                row.satisfaction, row.resolved = payload["satisfaction"], payload["resolved"]
        session.add(
            SmsInbound(
                phone=phone,
                hotline=hotline,
                text=text,
                kind="survey",
                order_number=number,
                received_at=now,
            )
        )
        if recorded:
            enqueue_sms(session, phone, settings.survey_thanks, number, now)
    return {"kind": "survey", "order": number, "recorded": recorded}
