"""Stored leadership reports (made on a schedule or on demand, kept for reading later)
and the daily KPI sums with the marks that keep them current (stats/rollup.py)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, LargeBinary, String, Text, text
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


class KpiDaily(Base):
    """The measures of one local day's rows, per unit they are attributed to and hotline
    (stats/rollup.py): what the KPI query sums over a period of whole days. A column per
    measure of stats/queries.py (MEASURES), in their order (checked there)."""

    __tablename__ = "kpi_daily"
    __table_args__ = (Index("ix_kpi_daily_day", "day", "unit_id", "hotline"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    unit_id: Mapped[int | None] = mapped_column(Integer)
    hotline: Mapped[str] = mapped_column(String(20))
    registered: Mapped[int] = mapped_column(default=0)
    direct: Mapped[int] = mapped_column(default=0)
    dispatched: Mapped[int] = mapped_column(default=0)
    accept_judged: Mapped[int] = mapped_column(default=0)  # only the accepted part
    accepted_on_time: Mapped[int] = mapped_column(default=0)
    extended: Mapped[int] = mapped_column(default=0)
    replied: Mapped[int] = mapped_column(default=0)
    replied_with_due: Mapped[int] = mapped_column(default=0)
    replied_on_time: Mapped[int] = mapped_column(default=0)
    called_back: Mapped[int] = mapped_column(default=0)
    due: Mapped[int] = mapped_column(default=0)
    due_closed: Mapped[int] = mapped_column(default=0)
    closed: Mapped[int] = mapped_column(default=0)
    closed_reopened: Mapped[int] = mapped_column(default=0)
    dispatch_events: Mapped[int] = mapped_column(default=0)
    return_events: Mapped[int] = mapped_column(default=0)
    rated: Mapped[int] = mapped_column(default=0)
    rated_satisfied: Mapped[int] = mapped_column(default=0)
    rated_resolved: Mapped[int] = mapped_column(default=0)


class KpiDay(Base):
    """A local day whose `kpi_daily` rows have been computed (once at least): the KPI
    query reads such a day from the sums, any other from the rows."""

    __tablename__ = "kpi_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    computed_at: Mapped[datetime]


class KpiMark(Base):
    """A local day whose `kpi_daily` rows are to be computed again: written with every
    change of an order, in its transaction; removed by the job that recomputes the day."""

    __tablename__ = "kpi_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
