"""Stored leadership reports: made on a schedule or on demand, kept for reading later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

SCHEDULED_KINDS = ("daily", "weekly")


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        # A scheduled report is made once per period, however many nodes check the clock.
        Index(
            "ux_reports_scheduled_period",
            "kind",
            "period_start",
            unique=True,
            sqlite_where=text("kind IN ('daily', 'weekly')"),
            postgresql_where=text("kind IN ('daily', 'weekly')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # daily | weekly | custom
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    title: Mapped[str] = mapped_column(String(200))
    generated_at: Mapped[datetime] = mapped_column(index=True)
    generated_by: Mapped[str] = mapped_column(String(64))
    html: Mapped[str] = mapped_column(Text)
    xlsx: Mapped[bytes] = mapped_column(LargeBinary)
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # e-mails queued
