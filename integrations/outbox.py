"""The outbox: messages written in the same transaction as the change that caused them,
delivered afterwards by a background loop with retries and exponential back-off.
A message that keeps failing is marked `dead` and stays for an operator to look at."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Integer, LargeBinary, String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, unit_of_work
from config import EmailSettings
from integrations.email.client import Attachment, SmtpClient
from integrations.exceptions import DeliveryFailed

log = logging.getLogger(__name__)
BATCH = 100


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # email (webhook, sms later)
    recipient: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    # One optional file (a report's XLSX); kept with the message so a retry sends it too.
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)


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


class OutboxSender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: EmailSettings,
        now: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.client = SmtpClient(settings)
        self.now = now

    async def deliver_due(self) -> tuple[int, int]:
        """Send what is due; returns (sent, failed this round)."""
        now = self.now()
        async with self.sessions() as session:
            ids = list(
                await session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                    .order_by(OutboxMessage.id)
                    .limit(BATCH)
                )
            )
        sent = failed = 0
        for message_id in ids:
            async with unit_of_work(self.sessions) as session:
                message = await session.get(OutboxMessage, message_id)
                if message is None or message.status != "pending":
                    continue
                try:
                    attachment = None
                    if message.attachment_name and message.attachment is not None:
                        attachment = Attachment(message.attachment_name, message.attachment)
                    await self.client.send(
                        message.recipient, message.subject, message.body, attachment
                    )
                except DeliveryFailed as exc:
                    failed += 1
                    self._failed(message, str(exc), now)
                else:
                    sent += 1
                    message.status, message.sent_at = "sent", now
                    message.attempts += 1
        return sent, failed

    def _failed(self, message: OutboxMessage, error: str, now: datetime) -> None:
        message.attempts += 1
        message.last_error = error[:500]
        if message.attempts >= self.settings.max_attempts:
            message.status = "dead"
            log.error(
                "giving up on outbox message %d to %s: %s", message.id, message.recipient, error
            )
            return
        delay = self.settings.retry_base_seconds * 2 ** (message.attempts - 1)
        message.next_attempt_at = now + timedelta(seconds=delay)
        log.warning(
            "outbox message %d failed (attempt %d), retry in %.0f s: %s",
            message.id,
            message.attempts,
            delay,
            error,
        )


async def run_outbox(sender: OutboxSender, interval: float) -> None:
    while True:
        try:
            await sender.deliver_due()
        except SQLAlchemyError:
            log.exception("outbox round failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)
