"""The outbox (DESIGN §8): every message to the outside is a row written in the same
transaction as the change that causes it, and sent after the commit by workers.

A worker claims due rows in one short write transaction (`claimed_by`, `claimed_until`;
on PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, on SQLite the one writer
serialises claims), commits, sends with no transaction open, then records the outcome
in another short transaction — only if its claim still holds. So two workers, on one
node or several, never send the same message; a worker that dies mid-send leaves a
claim that lapses after `claim_seconds`, and the message is sent again (at least once:
webhook receivers tell repeats by `X-Hotline-Event-Id`). A failure is retried after
retry_base × 2^(attempts − 1) seconds; after `max_attempts` the message is a dead
letter, listed for admins and re-sent by hand.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, unit_of_work
from config import EmailSettings, OutboxSettings, SmsSettings
from dispatch.storage import Order
from integrations.email.client import Attachment, SmtpClient
from integrations.exceptions import DeliveryFailed, MessageNotFound, NotDead, Undeliverable
from integrations.sms.client import KannelClient
from integrations.webhooks.client import WebhookClient
from integrations.webhooks.storage import Webhook

log = logging.getLogger(__name__)
PENDING, SENT, DEAD = "pending", "sent", "dead"
STATUSES = (PENDING, SENT, DEAD)


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # email | webhook | sms
    recipient: Mapped[str] = mapped_column(String(300))  # address; webhook: URL; sms: phone
    # webhook: the event name; sms: the order it is about ("" for none)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)  # webhook: the JSON, sent and signed as is
    status: Mapped[str] = mapped_column(String(10), default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    # One optional file (a report's XLSX); kept with the message so a retry sends it too.
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The worker sending it now, and until when its claim holds.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    # Webhook deliveries: unique per delivery (kept across its retries), and the hook
    # whose secret signs it at send time.
    event_id: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id"))


def enqueue_email(
    session: AsyncSession,
    to: str,
    subject: str,
    body: str,
    now: datetime,
    attachment: Attachment | None = None,
) -> None:
    session.add(
        OutboxMessage(
            channel="email",
            recipient=to,
            subject=subject,
            body=body,
            created_at=now,
            next_attempt_at=now,
            attachment_name=attachment.name if attachment else None,
            attachment=attachment.content if attachment else None,
        )
    )


def enqueue_webhook(
    session: AsyncSession, webhook: Webhook, event: str, event_id: str, body: str, now: datetime
) -> None:
    session.add(
        OutboxMessage(
            channel="webhook",
            recipient=webhook.url[:300],
            subject=event,
            body=body,
            created_at=now,
            next_attempt_at=now,
            event_id=event_id,
            webhook_id=webhook.id,
        )
    )


def enqueue_sms(
    session: AsyncSession, phone: str, text: str, order_number: str | None, now: datetime
) -> None:
    """An SMS through Kannel; sent from the order's hotline number (else the default)."""
    session.add(
        OutboxMessage(
            channel="sms",
            recipient=phone,
            subject=order_number or "",
            body=text,
            created_at=now,
            next_attempt_at=now,
        )
    )


class Transport(Protocol):
    async def send(self, sessions: async_sessionmaker[AsyncSession], m: OutboxMessage) -> None:
        """Hand one message over; `DeliveryFailed` when it could not be."""


class EmailTransport:
    def __init__(self, settings: EmailSettings) -> None:
        self.client = SmtpClient(settings)

    async def send(self, sessions: async_sessionmaker[AsyncSession], m: OutboxMessage) -> None:
        attachment = None
        if m.attachment_name and m.attachment is not None:
            attachment = Attachment(m.attachment_name, m.attachment)
        await self.client.send(m.recipient, m.subject, m.body, attachment)


class WebhookTransport:
    def __init__(self, timeout_seconds: float) -> None:
        self.client = WebhookClient(timeout_seconds)

    async def send(self, sessions: async_sessionmaker[AsyncSession], m: OutboxMessage) -> None:
        async with sessions() as session:
            hook = await session.get(Webhook, m.webhook_id) if m.webhook_id else None
        if hook is None or not hook.active:
            raise Undeliverable(f"webhook {m.webhook_id} 已删除")
        await self.client.post(hook.url, m.body.encode(), hook.secret, m.subject, m.event_id or "")


class SmsTransport:
    def __init__(self, settings: SmsSettings, default_sender: str) -> None:
        self.client = KannelClient(settings)
        self.default_sender = default_sender

    async def send(self, sessions: async_sessionmaker[AsyncSession], m: OutboxMessage) -> None:
        sender = None
        if m.subject:
            async with sessions() as session:
                sender = await session.scalar(
                    select(Order.hotline_number).where(Order.number == m.subject)
                )
        await self.client.send(m.recipient, m.body, sender or self.default_sender)


class OutboxSender:
    """One worker. Several may run against one database (one per node, or more)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: OutboxSettings,
        transports: dict[str, Transport],
        now: Callable[[], datetime],
        name: str = "",
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.transports = transports
        self.now = now
        self.name = f"{name or 'worker'}/{uuid.uuid4().hex[:8]}"

    async def deliver_due(self) -> tuple[int, int]:
        """Claim what is due, send it, record the outcome; returns (sent, failed)."""
        messages = await self._claim(self.now())
        sent = failed = 0
        for message in messages:
            try:
                await self.transports[message.channel].send(self.sessions, message)
            except DeliveryFailed as exc:
                failed += 1
                await self._record(message.id, exc)
            else:
                sent += 1
                await self._record(message.id, None)
        return sent, failed

    async def _claim(self, now: datetime) -> list[OutboxMessage]:
        m = OutboxMessage
        claimable = and_(
            m.channel.in_(sorted(self.transports)),  # e.g. mail waits for a node with SMTP
            m.status == PENDING,
            m.next_attempt_at <= now,
            or_(m.claimed_until.is_(None), m.claimed_until < now),
        )
        due = (
            select(m.id)
            .where(claimable)
            .order_by(m.id)
            .limit(self.settings.batch)
            .with_for_update(skip_locked=True)  # PostgreSQL; on SQLite the writer serialises
        )
        until = now + timedelta(seconds=self.settings.claim_seconds)
        async with unit_of_work(self.sessions) as session:
            # Two statements, not UPDATE ... WHERE id IN (SELECT ... LIMIT): PostgreSQL may
            # run such a subquery again per row and claim far more than a batch.
            ids = list(await session.scalars(due))
            if not ids:
                return []
            claimed = list(
                await session.scalars(
                    update(m)
                    .where(m.id.in_(ids), claimable)
                    .values(claimed_by=self.name, claimed_until=until)
                    .returning(m.id)
                    .execution_options(synchronize_session=False)
                )
            )
        if not claimed:
            return []
        async with self.sessions() as session:
            return list(await session.scalars(select(m).where(m.id.in_(claimed)).order_by(m.id)))

    async def _record(self, message_id: int, error: DeliveryFailed | None) -> None:
        now = self.now()
        async with unit_of_work(self.sessions) as session:
            message = await session.get(OutboxMessage, message_id, with_for_update=True)
            if message is None or message.claimed_by != self.name:
                log.warning(
                    "outbox message %d: claim lost before its outcome was recorded", message_id
                )
                return
            message.claimed_by = message.claimed_until = None
            message.attempts += 1
            if error is None:
                message.status, message.sent_at, message.last_error = SENT, now, None
                return
            message.last_error = str(error)[:500]
            if isinstance(error, Undeliverable) or message.attempts >= self.settings.max_attempts:
                message.status = DEAD
                log.error("outbox message %d is a dead letter: %s", message.id, error)
                return
            delay = min(
                self.settings.retry_base_seconds * 2 ** (message.attempts - 1),
                self.settings.retry_max_seconds,
            )
            message.next_attempt_at = now + timedelta(seconds=delay)
            log.warning(
                "outbox message %d failed (attempt %d), retry in %.0f s: %s",
                message.id,
                message.attempts,
                delay,
                error,
            )


async def resend(session: AsyncSession, message_id: int, now: datetime) -> OutboxMessage:
    """重发 a dead letter: pending again, due now, with a fresh count of attempts."""
    message = await session.get(OutboxMessage, message_id)
    if message is None:
        raise MessageNotFound(message_id)
    if message.status != DEAD:
        raise NotDead(f"只有发送失败(dead)的消息可以重发,该消息状态为 {message.status}")
    message.status, message.attempts, message.next_attempt_at = PENDING, 0, now
    message.claimed_by = message.claimed_until = None
    return message


async def run_outbox(sender: OutboxSender, interval: float) -> None:
    while True:
        try:
            await sender.deliver_due()
        except SQLAlchemyError:
            log.exception("outbox round failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)
