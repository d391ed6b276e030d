"""Knowledge-base tables and the queries the services need.

- `kb_entries`: one row per entry, keyed by its external id, with its workflow status
  and the number of its current version;
- `kb_entry_versions`: what the entry says, one immutable row per edit;
- `kb_status_changes`: who moved the entry through the review workflow, and when.

`category` and `unit` are plain codes for now (the dispatch catalogue has no tables
yet); they become foreign keys when it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, migrate, utcnow
from knowledge_base.domain import EntryContent, Status

_status_type = Enum(
    Status,
    native_enum=False,
    length=16,
    values_callable=lambda statuses: [s.value for s in statuses],
    validate_strings=True,
)


class KbEntry(Base):
    """A knowledge-base entry (知识条目); its content lives in its versions."""

    __tablename__ = "kb_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[Status] = mapped_column(_status_type, index=True)
    current_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    versions: Mapped[list[KbEntryVersion]] = relationship(
        lazy="raise", order_by="KbEntryVersion.version", cascade="all"
    )


class KbEntryVersion(Base):
    """One edit of an entry: the full content as it was written, never changed."""

    __tablename__ = "kb_entry_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id"), index=True)
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    questions: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64), index=True)
    unit: Mapped[str] = mapped_column(String(64))
    hotlines: Mapped[list[str]] = mapped_column(JSON, default=list)
    valid_from: Mapped[date | None]
    valid_to: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))

    def content(self) -> EntryContent:
        return EntryContent(
            title=self.title,
            questions=tuple(self.questions),
            answer=self.answer,
            category=self.category,
            unit=self.unit,
            hotlines=tuple(self.hotlines or ()),
            valid_from=self.valid_from,
            valid_to=self.valid_to,
        )

    @classmethod
    def from_content(cls, content: EntryContent, **fields: object) -> KbEntryVersion:
        return cls(
            title=content.title,
            questions=list(content.questions),
            answer=content.answer,
            category=content.category,
            unit=content.unit,
            hotlines=list(content.hotlines),
            valid_from=content.valid_from,
            valid_to=content.valid_to,
            **fields,
        )


class KbStatusChange(Base):
    """An audit row per workflow step (审核, 发布, 下线)."""

    __tablename__ = "kb_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id"), index=True)
    version: Mapped[int]
    from_status: Mapped[Status | None] = mapped_column(_status_type)
    to_status: Mapped[Status] = mapped_column(_status_type)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))


TABLES = [KbEntry.__table__, KbEntryVersion.__table__, KbStatusChange.__table__]


async def ensure_schema(engine: AsyncEngine) -> None:
    """Bring the database (the service's whole schema) up to date with the migrations."""
    await migrate(engine)


def current_join():
    return and_(
        KbEntryVersion.entry_id == KbEntry.id,
        KbEntryVersion.version == KbEntry.current_version,
    )


async def get_current(
    session: AsyncSession, external_id: str, *, for_update: bool = False
) -> tuple[KbEntry, KbEntryVersion] | None:
    statement = (
        select(KbEntry, KbEntryVersion)
        .join(KbEntryVersion, current_join())
        .where(KbEntry.external_id == external_id)
    )
    if for_update:
        statement = statement.with_for_update(of=KbEntry)
    row = (await session.execute(statement)).first()
    return None if row is None else (row[0], row[1])


async def get_current_many(
    session: AsyncSession, external_ids: Sequence[str]
) -> dict[str, tuple[KbEntry, KbEntryVersion]]:
    statement = (
        select(KbEntry, KbEntryVersion)
        .join(KbEntryVersion, current_join())
        .where(KbEntry.external_id.in_(external_ids))
    )
    rows = (await session.execute(statement)).all()
    return {entry.external_id: (entry, version) for entry, version in rows}


async def published_contents(session: AsyncSession) -> list[tuple[str, int, EntryContent]]:
    """(external id, version, content) of published entries; validity is the caller's.

    Plain column rows, not ORM objects: this reads every entry on each index refresh.
    """
    v = KbEntryVersion
    statement = (
        select(
            KbEntry.external_id,
            v.version,
            v.title,
            v.questions,
            v.answer,
            v.category,
            v.unit,
            v.hotlines,
            v.valid_from,
            v.valid_to,
        )
        .join(v, current_join())
        .where(KbEntry.status == Status.PUBLISHED)
        .order_by(KbEntry.id)
    )
    return [
        (
            row.external_id,
            row.version,
            EntryContent(
                title=row.title,
                questions=tuple(row.questions),
                answer=row.answer,
                category=row.category,
                unit=row.unit,
                hotlines=tuple(row.hotlines or ()),
                valid_from=row.valid_from,
                valid_to=row.valid_to,
            ),
        )
        for row in await session.execute(statement)
    ]


async def history(session: AsyncSession, entry_id: int) -> list[KbEntryVersion]:
    statement = (
        select(KbEntryVersion)
        .where(KbEntryVersion.entry_id == entry_id)
        .order_by(KbEntryVersion.version)
    )
    return list((await session.scalars(statement)).all())


async def fingerprint(session: AsyncSession) -> tuple[int, datetime | None]:
    """Changes whenever an entry is added or touched; cheap enough to poll."""
    row = (await session.execute(select(func.count(), func.max(KbEntry.updated_at)))).one()
    return int(row[0]), row[1]
