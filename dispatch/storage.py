"""Tables of the dispatch domain: hotlines, units, the catalogue, orders and their logs.

`orders` holds a projection of each order's event log (state, units, deadlines, flags)
so lists and scans are plain indexed queries; it is rewritten from the log on every
action and never edited on its own.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import MIGRATION_ONLY, Base, utcnow


class Hotline(Base):
    """A hotline number answered by the centre (12345, 12319, ...)."""

    __tablename__ = "hotlines"

    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(20))  # central | external | subplatform
    # Mode `external`: the unit standing for the hotline's own system (DESIGN §8); its
    # orders are dispatched to it at registration and leave through its webhook.
    handoff_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))


class HotlineChange(Base):
    """One admin edit of a hotline at run time: who, when, and each field's old and new
    value (`{"mode": ["central", "external"]}`)."""

    __tablename__ = "hotline_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(ForeignKey("hotlines.number"), index=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(60))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)


class Unit(Base):
    """A handling unit (承办单位): the centre, 二级 units and their 三级 sub-units."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    # "/1/5/12/": ids from the root; a subtree is every path with this prefix.
    path: Mapped[str] = mapped_column(String(400), index=True)
    level: Mapped[int] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Category(Base):
    """An entry of the dispatch catalogue (派单目录), three levels deep."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    level: Mapped[int] = mapped_column(Integer)
    default_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))


# Index name -> leading columns (anchor first); each index then adds the unit and hotline.
KPI_INDEXES = {
    "id": ("id",),  # event sources join their order for its unit: no table lookup
    "created": ("created_at", "state", "answered_at"),
    "dispatched": ("dispatched_at", "accepted_at", "accept_due", "extensions"),
    "replied": ("replied_at", "finish_due", "last_callback_at"),
    "due": ("finish_due", "closed_at"),
    "closed": ("closed_at", "reopen_count"),
}


# Made by migration 0016 for dispatch/search.py, declared by no model: the SQLite FTS5
# table (and its shadow tables `orders_search_*`) and the PostgreSQL trigram index.
SEARCH_TABLE = "orders_search"
PG_SEARCH_INDEX = "ix_orders_search_trgm"
Base.metadata.info.setdefault(MIGRATION_ONLY, set()).update({SEARCH_TABLE, PG_SEARCH_INDEX})


class Order(Base):
    """A work order (工单); the columns below `state` are derived from `events`."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_state_created", "state", "created_at"),
        # Work queues page by the running deadline (dispatch.services.ordering).
        Index("ix_orders_queue_accept", "state", "accept_due", "created_at", "id"),
        Index("ix_orders_queue_finish", "state", "finish_due", "created_at", "id"),
        Index("ix_orders_caller_phone", "caller_phone"),
        # 位置 → 地址 (dispatch/geo.py): orders in a small box around a point.
        Index("ix_orders_position", "latitude", "longitude"),
        # The statistics read a period's orders by one timestamp each and group them by
        # unit: these indexes cover those reads (stats/queries.py), no table lookups.
        *(
            Index(f"ix_orders_kpi_{name}", *columns, "lead_unit_id", "hotline_number")
            for name, columns in KPI_INDEXES.items()
        ),
        # The dispatched orders not accepted (few): read by the KPI query from the daily
        # sums at its "as of" (stats/rollup.py), a part of 按时签收率 no day can hold.
        Index(
            "ix_orders_unaccepted",
            "dispatched_at",
            "accept_due",
            "lead_unit_id",
            "hotline_number",
            sqlite_where=text("accepted_at IS NULL"),
            postgresql_where=text("accepted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    hotline_number: Mapped[str] = mapped_column(ForeignKey("hotlines.number"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    request_type: Mapped[str] = mapped_column(String(20))
    urgency: Mapped[str] = mapped_column(String(10))
    title: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    caller_phone: Mapped[str | None] = mapped_column(String(30))
    caller_name: Mapped[str | None] = mapped_column(String(60))
    contact_preference: Mapped[str | None] = mapped_column(String(20))
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str | None] = mapped_column(String(300))
    district: Mapped[str | None] = mapped_column(String(60), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Citizens track their order with this token link (no account needed).
    tracking_token: Mapped[str] = mapped_column(String(64), unique=True)

    # --- projection of the event log
    state: Mapped[str] = mapped_column(String(20), index=True)
    category_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"), index=True)
    lead_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    assignee_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    # 坐席建议派往 (the agent's proposal at registration); dispatching stays a person's act.
    proposed_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    accept_due: Mapped[datetime | None]
    finish_due: Mapped[datetime | None]
    next_alarm_at: Mapped[datetime | None] = mapped_column(index=True)
    dispatched_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # First direct answer (答复 by the centre) and latest rating: KPI inputs kept on
    # the order so a period's statistics need no probe into the event log per order.
    answered_at: Mapped[datetime | None]
    last_callback_at: Mapped[datetime | None]
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction: Mapped[str | None] = mapped_column(String(20))
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)

    events: Mapped[list[OrderEvent]] = relationship(
        order_by="OrderEvent.seq", lazy="raise", back_populates="order"
    )
    units: Mapped[list[OrderUnit]] = relationship(lazy="raise", cascade="all, delete-orphan")
    flag_rows: Mapped[list[OrderFlag]] = relationship(lazy="raise", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class OrderUnit(Base):
    """Which units an order involves now (lead, handling sub-unit, co-units): the scope index."""

    __tablename__ = "order_units"
    # A unit's lists start from its orders here: (unit_id, order_id) answers that from
    # the index alone.
    __table_args__ = (Index("ix_order_units_unit_order", "unit_id", "order_id"),)

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), primary_key=True)  # lead | assignee | co


class OrderFlag(Base):
    """One row per flag an order carries now, so `?flag=overdue` is an indexed join."""

    __tablename__ = "order_flags"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    flag: Mapped[str] = mapped_column(String(30), primary_key=True, index=True)


class OrderEvent(Base):
    """The append-only log of an order: rows are inserted, never updated or deleted."""

    __tablename__ = "order_events"
    __table_args__ = (
        UniqueConstraint("order_id", "seq"),
        # KPI queries (stats/queries.py) filter events by action and time
        Index("ix_order_events_action_at", "action", "at"),
        Index("ix_order_events_order_action_at", "order_id", "action", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(60))
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_unit: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(30), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    order: Mapped[Order] = relationship(lazy="raise", back_populates="events")


class OrderSequence(Base):
    """Per-day counter behind order numbers (20261122000123); numbers are never reused."""

    __tablename__ = "order_sequences"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class CalendarDay(Base):
    """An admin's correction of the statutory calendar: this day is (not) a working day."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")
    updated_by: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """An in-app notification for one user (e-mail delivery subscribes to the same events)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class OrderSuggestion(Base):
    """What the classifier proposed when the order was registered. Compared with where
    the order was finally dispatched, it tells the corrections (退单/改派/改分类) that
    the next retrain learns from."""

    __tablename__ = "order_suggestions"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(100))
    category_code: Mapped[str | None] = mapped_column(String(40))
    unit_code: Mapped[str | None] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float)
    auto_dispatched: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
