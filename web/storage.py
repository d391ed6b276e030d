"""Tables of the web interface: files attached to orders (附件), saved searches (常用查询).

The bytes live on disk under `[web] upload_dir`, named by the attachment's random id,
never under the web root; this table holds what the server needs to serve them safely.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class Attachment(Base):
    """A file uploaded with an order's report or reply, bound to the event it came with."""

    __tablename__ = "order_attachments"

    # 32 hex characters from `secrets`: also the file's name on disk.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("order_events.id"))
    uploaded_by: Mapped[str] = mapped_column(String(60))
    uploader_role: Mapped[str] = mapped_column(String(20))
    uploader_unit: Mapped[str | None] = mapped_column(String(40))
    original_name: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SavedView(Base):
    """常用查询: a user's named filters of 工单查询 (the query string, without the page)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    query: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
