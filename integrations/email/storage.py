"""The hotline mailbox's record of the messages it turned into orders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class InboundMail(Base):
    """One accepted message. `sender` is cleared with the order's caller data
    (dispatch/privacy.py)."""

    __tablename__ = "inbound_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[str | None] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(300), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), index=True)
    attachments: Mapped[int] = mapped_column(Integer)  # kept as order attachments
    refused_files: Mapped[int] = mapped_column(Integer)  # not kept (type, size, count)
    received_at: Mapped[datetime]
