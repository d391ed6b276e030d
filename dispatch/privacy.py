"""Callers' personal data (个人信息保护法, PIPL): kept no longer than needed, handed to
the person it is about on request, and every use of it in full on the record.

- Anonymisation (第19条, 第47条): `[privacy] anonymise_after_days` after an order was
  settled (closed, merged or invalid), its caller's phone, name and contact preference
  are removed, and so is the caller number of its calls, SMS and mails (and of its
  survey); the order itself stays for the statistics. One audit line names the orders
  (never a phone number).
- Export (第45条): every order of one caller, for the admin or supervisor who answers
  the request; audited with the phone masked.
- Full phone numbers shown to a role that sees them (PHONE_ROLES) are audited by the
  entrypoints that show them (`phones_shown` says which orders they are).

The audit trail is append-only, so it must never hold a full phone number: objects and
details name orders and calls, and a phone only masked (138****5678).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import audit
from accounts.domain import PHONE_ROLES, Actor
from app.db import unit_of_work
from callcenter.storage import Call, CallerLanguage, SurveyCall
from dispatch.lifecycle import State
from dispatch.storage import Order
from integrations.email.storage import InboundMail
from integrations.outbox import OutboxMessage
from integrations.sms.storage import SmsInbound

log = logging.getLogger(__name__)

SETTLED = (State.CLOSED.value, State.MERGED.value, State.INVALID.value)
# Orders anonymised per transaction (a long backlog goes in several short ones).
BATCH = 500
SYSTEM = audit.Subject("system", "system")


def phones_shown(actor: Actor, orders: list[Order]) -> list[str]:
    """The numbers of the orders whose caller's full phone `actor` is shown."""
    if actor.role not in PHONE_ROLES:
        return []
    return [o.number for o in orders if o.caller_phone]


async def _anonymise_batch(session: AsyncSession, cutoff: datetime, now: datetime) -> list[str]:
    settled_at = func.coalesce(Order.closed_at, Order.updated_at)
    numbers = list(
        await session.scalars(
            select(Order.number)
            .where(
                Order.state.in_(SETTLED),
                settled_at < cutoff,
                or_(Order.caller_phone.is_not(None), Order.caller_name.is_not(None)),
            )
            .order_by(Order.id)
            .limit(BATCH)
        )
    )
    if not numbers:
        return []
    await session.execute(
        update(Order)
        .where(Order.number.in_(numbers))
        .values(caller_phone=None, caller_name=None, contact_preference=None)
        .execution_options(synchronize_session=False)
    )
    calls = await session.execute(
        update(Call)
        .where(Call.order_number.in_(numbers), Call.caller != "")
        .values(caller="")
        .execution_options(synchronize_session=False)
    )
    await _anonymise_messages(session, numbers)
    detail = {"orders": numbers, "calls": calls.rowcount, "settled_before": cutoff.isoformat()}
    await audit.record(
        session, audit.Event.PII_ANONYMISE, SYSTEM, f"{len(numbers)} orders", detail=detail, at=now
    )
    return numbers


async def _anonymise_messages(session: AsyncSession, numbers: list[str]) -> None:
    """The citizen's number or address kept with the SMS and mails of these orders: the
    SMS in and the survey row (phone), the mailbox record (sender), and SMS already sent
    or given up in the outbox (recipient)."""
    for statement in (
        update(SmsInbound).where(SmsInbound.order_number.in_(numbers)).values(phone=None),
        update(InboundMail).where(InboundMail.order_number.in_(numbers)).values(sender=None),
        update(SurveyCall).where(SurveyCall.order_number.in_(numbers)).values(phone=""),
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == "sms",
            OutboxMessage.subject.in_(numbers),
            OutboxMessage.status != "pending",
        )
        .values(recipient=""),
    ):
        await session.execute(statement.execution_options(synchronize_session=False))


async def anonymise_due(
    sessions: async_sessionmaker[AsyncSession], after_days: int, now: datetime
) -> list[str]:
    """Anonymise the caller data of orders settled more than `after_days` ago; the
    numbers of the orders anonymised now. The languages remembered of callers not heard
    from for as long are forgotten too."""
    cutoff = now - timedelta(days=after_days)
    done: list[str] = []
    while True:
        async with unit_of_work(sessions) as session:
            batch = await _anonymise_batch(session, cutoff, now)
        done += batch
        if len(batch) < BATCH:
            break
    async with unit_of_work(sessions) as session:
        await session.execute(delete(CallerLanguage).where(CallerLanguage.updated_at < cutoff))
    return done


async def run_anonymiser(sessions, after_days: int, now, interval: float) -> None:
    """The periodic anonymisation, beside the deadline scanner; a failed round is
    logged and retried at the next one."""
    while True:
        try:
            if done := await anonymise_due(sessions, after_days, now()):
                log.info("anonymised the caller data of %d settled orders", len(done))
        except SQLAlchemyError:
            log.exception("anonymisation failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


async def orders_of_caller(session: AsyncSession, phone: str, limit: int) -> list[str]:
    """The numbers of a caller's orders, oldest first."""
    rows = await session.scalars(
        select(Order.number).where(Order.caller_phone == phone).order_by(Order.id).limit(limit)
    )
    return list(rows)
