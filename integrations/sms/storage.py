"""What the SMS integration keeps: the numbers units are alerted on, and citizens' SMS."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class UnitSmsContact(Base):
    """A mobile number a unit is alerted on (new work, warnings, overdue orders)."""

    __tablename__ = "unit_sms_contacts"
    __table_args__ = (UniqueConstraint("unit_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]


class SmsInbound(Base):
    """A citizen's SMS to a hotline number: a new order, or the answer to an SMS survey.
    `phone` is cleared with the order's caller data (dispatch/privacy.py)."""

    __tablename__ = "sms_inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(30))
    hotline: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))  # order | survey
    order_number: Mapped[str] = mapped_column(ForeignKey("orders.number"), index=True)
    received_at: Mapped[datetime]
