"""The hotline mailbox (DESIGN §8, GB/T 33358: answered within 24 h): an SMTP listener
on the app's event loop (aiosmtpd). Each accepted message becomes an order of channel
`email`, in one transaction with its record, its files (kept as order attachments,
checked and images re-encoded like any upload) and the reply to the sender (through
the outbox). The SMTP answer tells the sending server what happened:

- 250: registered (the order number is in the answer); the same message (Message-ID
  and sender) sent again is answered with the same order, not registered twice;
- 550 5.1.1: a recipient the mailbox does not take;
- 552 5.3.4: larger than `[mail] max_bytes` (aiosmtpd refuses it while reading);
- 554 5.6.0: no text to register, or a message that cannot be parsed;
- 451 4.3.0: the centre could not register it now (database down): sent again later.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import SYSTEM_ACTOR
from app.errors import AppError
from config import Settings
from dispatch.intake import register_request
from dispatch.services import DispatchService
from dispatch.storage import Order
from dispatch.suggestions import Suggester
from integrations.email.storage import InboundMail
from integrations.outbox import enqueue_email
from web import uploads

log = logging.getLogger(__name__)

MAX_CONTENT = 5000  # as an order registered through the API
ACTOR = SYSTEM_ACTOR


class _TextOfHtml(HTMLParser):
    """The visible text of an HTML body: no tags, scripts or styles; blocks on lines."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class Parsed:
    sender: str
    sender_name: str
    subject: str
    text: str
    message_id: str
    files: list[tuple[str, bytes]]


class Unreadable(Exception):
    """The message cannot be parsed into anything to register."""


def parse(raw: bytes, envelope_from: str) -> Parsed:
    """Subject, text (text/plain preferred, else the HTML's visible text) and files."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        subject = " ".join(str(message.get("subject", "") or "").split())
        name, address = parseaddr(str(message.get("from", "") or ""))
        body = message.get_body(preferencelist=("plain", "html"))
        text = ""
        if body is not None:
            content = body.get_content()
            text = html_text(content) if body.get_content_subtype() == "html" else content
        files = []
        for part in message.iter_attachments():
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                files.append((part.get_filename() or "附件", data))
        message_id = str(message.get("message-id", "") or "")[:300]
    except (LookupError, ValueError, TypeError, IndexError, AttributeError, AssertionError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
    sender = address if "@" in address else envelope_from
    return Parsed(sender, name, subject, text.strip(), message_id, files)


def accepted(address: str, accept: list[str]) -> bool:
    address = address.strip().lower()
    domain = "@" + address.rpartition("@")[2]
    wanted = {a.strip().lower() for a in accept}
    return address in wanted or domain in wanted


class Mailbox:
    """The aiosmtpd handler: recipients filtered, each message registered as an order."""

    def __init__(
        self,
        settings: Settings,
        service: DispatchService,
        suggester: Suggester,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self.settings = settings
        self.service = service
        self.suggester = suggester
        self.sessions = sessions
        self.registered = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if not accepted(address, self.settings.mail.accept):
            return "550 5.1.1 Mailbox unavailable: not a hotline address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", "replace")
        try:
            parsed = parse(raw, envelope.mail_from or "")
        except Unreadable as exc:
            log.info("mailbox: unreadable message from %s refused: %s", envelope.mail_from, exc)
            return "554 5.6.0 Message could not be parsed"
        if not parsed.text and not parsed.subject:
            return "554 5.6.0 Message has no text to register"
        try:
            number = await self.registered_before(parsed) or await self.register(parsed)
        except (AppError, SQLAlchemyError, OSError) as exc:
            log.warning("mailbox: message from %s not registered: %s", parsed.sender, exc)
            return "451 4.3.0 Not registered now, please try again later"
        return f"250 2.0.0 Registered as order {number}"

    async def registered_before(self, parsed: Parsed) -> str | None:
        """The order of the same message (Message-ID and sender) taken before: a server
        that lost our 250 sends it again, and it must not become a second order."""
        if not parsed.message_id:
            return None
        async with self.sessions() as session:
            return await session.scalar(
                select(InboundMail.order_number)
                .where(
                    InboundMail.message_id == parsed.message_id,
                    InboundMail.sender == (parsed.sender[:300] or None),
                )
                .limit(1)
            )

    async def register(self, parsed: Parsed) -> str:
        """One transaction: the order, its mail record, its files' rows, the reply."""
        web_settings, mail = self.settings.web, self.settings.mail
        kept: list[uploads.Incoming] = []
        refused: list[str] = []
        for name, data in parsed.files:
            if len(kept) >= web_settings.upload_max_files_per_order:
                refused.append(f"{uploads.clean_name(name)}(附件数量超过上限)")
                continue
            try:
                kept.append(uploads.check(name, data, web_settings))
            except AppError as exc:
                refused.append(exc.message)
        content = "\n\n".join(p for p in (parsed.subject, parsed.text) if p)
        if refused:
            content += "\n\n[未保存的附件] " + ";".join(refused)
        fields = {
            "channel": "email",
            "hotline": mail.hotline,
            "title": parsed.subject[:200] or None,
            "content": content[:MAX_CONTENT],
            "caller_name": parsed.sender_name[:60] or None,
            "contact_preference": "none",
            "type": mail.request_type,
            "urgency": "normal",
        }
        now = self.service.now()
        written = await uploads.write_files(web_settings, kept)

        async def record(session: AsyncSession, order: Order, _applied: str | None) -> None:
            session.add(
                InboundMail(
                    sender=parsed.sender[:300] or None,
                    message_id=parsed.message_id,
                    subject=parsed.subject[:300],
                    order_number=order.number,
                    attachments=len(kept),
                    refused_files=len(refused),
                    received_at=now,
                )
            )
            session.add_all(
                uploads.attachment_row(attachment_id, item, order.id, None, ACTOR, now)
                for (attachment_id, _), item in zip(written, kept, strict=True)
            )
            if _deliverable(parsed.sender):
                link = self.settings.server.public_url.rstrip("/") + (
                    f"/web/citizen/t/{order.tracking_token}"
                )
                enqueue_email(
                    session,
                    parsed.sender,
                    mail.reply_subject.format(number=order.number),
                    mail.reply_body.format(number=order.number, link=link),
                    now,
                )

        try:
            detail, _ = await register_request(
                self.service, self.suggester, ACTOR, fields, also=record
            )
        except BaseException:
            uploads.remove_files(path for _, path in written)
            raise
        self.registered += 1
        number = detail.order.number
        log.info("mailbox: order %s registered (%d file(s) kept)", number, len(kept))
        return number


def _deliverable(address: str) -> bool:
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError, TypeError):
        return False
    return "@" in address


async def start_mailbox(handler: Mailbox, bind: str, port: int, max_bytes: int):
    """The listening server on the running loop (close it with `close()`)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            hostname="hotline-mailbox",
            ident="hotline mailbox",
        ),
        host=bind,
        port=port,
    )
