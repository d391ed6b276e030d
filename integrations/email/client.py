"""The one module that speaks SMTP."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from config import EmailSettings
from integrations.exceptions import DeliveryFailed


@dataclass(frozen=True)
class Attachment:
    name: str
    content: bytes

    @property
    def mime_type(self) -> tuple[str, str]:
        guessed = mimetypes.guess_type(self.name)[0] or "application/octet-stream"
        main, _, sub = guessed.partition("/")
        return main, sub


@dataclass(frozen=True)
class SmtpClient:
    settings: EmailSettings

    async def send(
        self, to: str, subject: str, body: str, attachment: Attachment | None = None
    ) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        if attachment is not None:
            main, sub = attachment.mime_type
            message.add_attachment(
                attachment.content, maintype=main, subtype=sub, filename=attachment.name
            )
        s = self.settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password or None,
                use_tls=s.use_tls,
                start_tls=s.starttls,
                timeout=s.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {s.host}:{s.port}: {exc}") from exc
