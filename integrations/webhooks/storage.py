"""The webhooks admins register."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Webhook(Base):
    """A partner's URL and the events it hears, limited to a unit's orders (lead or
    handling unit, sub-units included) and/or a hotline's. The secret signs each delivery
    (HMAC-SHA256), so it is kept as given, not hashed: protect the database accordingly.
    Deleting a webhook deactivates it; its past deliveries keep pointing at it."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSON)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    hotline_number: Mapped[str | None] = mapped_column(ForeignKey("hotlines.number"))
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
