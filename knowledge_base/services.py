"""Knowledge-base use cases, one transaction each.

Every function takes the session factory first and names the acting user `by`; the
results are plain dataclasses, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work, utcnow
from knowledge_base import storage
from knowledge_base.domain import (
    Action,
    EntryContent,
    SearchDocument,
    Status,
    is_searchable,
    next_status,
)
from knowledge_base.exceptions import EntryNotFound, InvalidEntry
from knowledge_base.records import ImportRecord
from knowledge_base.storage import KbEntry, KbEntryVersion, KbStatusChange

Sessions = async_sessionmaker[AsyncSession]
Progress = Callable[[int, int], None]
IMPORT_BATCH = 500


@dataclass(frozen=True, slots=True)
class EntryView:
    external_id: str
    status: Status
    version: int
    content: EntryContent
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    content: EntryContent
    created_at: datetime
    created_by: str
    note: str | None


@dataclass(frozen=True, slots=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _view(entry: KbEntry, version: KbEntryVersion) -> EntryView:
    return EntryView(
        entry.external_id,
        entry.status,
        entry.current_version,
        version.content(),
        entry.updated_at,
    )


async def _require(session: AsyncSession, external_id: str) -> tuple[KbEntry, KbEntryVersion]:
    found = await storage.get_current(session, external_id, for_update=True)
    if found is None:
        raise EntryNotFound(f"no knowledge-base entry '{external_id}'")
    return found


def _set_status(
    session: AsyncSession, entry: KbEntry, status: Status, by: str, note: str | None = None
) -> None:
    session.add(
        KbStatusChange(
            entry_id=entry.id,
            version=entry.current_version,
            from_status=entry.status,
            to_status=status,
            by=by,
            note=note,
        )
    )
    entry.status = status
    entry.updated_at = utcnow()


def _add_version(
    session: AsyncSession, entry: KbEntry, content: EntryContent, by: str, note: str | None
) -> KbEntryVersion:
    entry.current_version += 1
    version = KbEntryVersion.from_content(
        content, entry_id=entry.id, version=entry.current_version, created_by=by, note=note
    )
    session.add(version)
    entry.updated_at = utcnow()
    return version


async def create_entry(
    sessions: Sessions, external_id: str, content: EntryContent, *, by: str
) -> EntryView:
    """A new draft entry (草稿), version 1."""
    async with unit_of_work(sessions) as session:
        if await storage.get_current(session, external_id) is not None:
            raise InvalidEntry(f"entry '{external_id}' already exists")
        version = KbEntryVersion.from_content(content, version=1, created_by=by, note=None)
        entry = KbEntry(
            external_id=external_id, status=Status.DRAFT, current_version=1, versions=[version]
        )
        session.add(entry)
        await session.flush()
        session.add(KbStatusChange(entry_id=entry.id, version=1, to_status=Status.DRAFT, by=by))
        return _view(entry, version)


async def edit_entry(
    sessions: Sessions,
    external_id: str,
    content: EntryContent,
    *,
    by: str,
    note: str | None = None,
) -> EntryView:
    """Every edit is a new version and goes back to draft: changed answers are re-reviewed."""
    async with unit_of_work(sessions) as session:
        entry, _ = await _require(session, external_id)
        version = _add_version(session, entry, content, by, note)
        if entry.status is not Status.DRAFT:
            _set_status(session, entry, Status.DRAFT, by, "edited")
        return _view(entry, version)


async def _transition(
    sessions: Sessions, external_id: str, action: Action, by: str, note: str | None
) -> EntryView:
    async with unit_of_work(sessions) as session:
        entry, version = await _require(session, external_id)
        _set_status(session, entry, next_status(entry.status, action), by, note)
        return _view(entry, version)


async def review(
    sessions: Sessions, external_id: str, *, by: str, note: str | None = None
) -> EntryView:
    """审核通过: draft → reviewed."""
    return await _transition(sessions, external_id, Action.REVIEW, by, note)


async def reject(
    sessions: Sessions, external_id: str, *, by: str, note: str | None = None
) -> EntryView:
    """审核退回: reviewed → draft."""
    return await _transition(sessions, external_id, Action.REJECT, by, note)


async def publish(
    sessions: Sessions, external_id: str, *, by: str, note: str | None = None
) -> EntryView:
    """发布: reviewed → published; agents see it from now on."""
    return await _transition(sessions, external_id, Action.PUBLISH, by, note)


async def expire(
    sessions: Sessions, external_id: str, *, by: str, note: str | None = None
) -> EntryView:
    """下线: published → expired."""
    return await _transition(sessions, external_id, Action.EXPIRE, by, note)


async def expire_due(sessions: Sessions, today: date, *, by: str = "scanner") -> list[str]:
    """Expire every published entry whose validity ended before `today`."""
    async with unit_of_work(sessions) as session:
        statement = (
            select(KbEntry)
            .join(KbEntryVersion, storage.current_join())
            .where(KbEntry.status == Status.PUBLISHED, KbEntryVersion.valid_to < today)
        )
        entries = list((await session.scalars(statement)).all())
        for entry in entries:
            _set_status(session, entry, Status.EXPIRED, by, "validity ended")
        return [entry.external_id for entry in entries]


async def get_entry(sessions: Sessions, external_id: str) -> EntryView:
    async with unit_of_work(sessions) as session:
        found = await storage.get_current(session, external_id)
        if found is None:
            raise EntryNotFound(f"no knowledge-base entry '{external_id}'")
        return _view(*found)


async def entry_history(sessions: Sessions, external_id: str) -> list[VersionView]:
    """All versions of an entry, oldest first."""
    async with unit_of_work(sessions) as session:
        entry, _ = await _require(session, external_id)
        return [
            VersionView(v.version, v.content(), v.created_at, v.created_by, v.note)
            for v in await storage.history(session, entry.id)
        ]


async def import_records(
    sessions: Sessions,
    records: Sequence[ImportRecord],
    *,
    by: str = "import",
    progress: Progress | None = None,
) -> ImportReport:
    """Import (导入) as an admin act: new or changed entries are published at once.

    The same id updates the entry with a new version (never a duplicate); identical
    content adds no version. The whole file is one transaction.
    """
    created = updated = unchanged = 0
    async with unit_of_work(sessions) as session:
        for start in range(0, len(records), IMPORT_BATCH):
            batch = records[start : start + IMPORT_BATCH]
            existing = await storage.get_current_many(session, [r.external_id for r in batch])
            fresh: list[KbEntry] = []
            for record in batch:
                found = existing.get(record.external_id)
                if found is None:
                    fresh.append(_new_published(record, by))
                    created += 1
                    continue
                entry, version = found
                if version.content() != record.content:
                    _add_version(session, entry, record.content, by, "import")
                    updated += 1
                else:
                    unchanged += 1
                if entry.status is not Status.PUBLISHED:
                    _set_status(session, entry, Status.PUBLISHED, by, "import")
            session.add_all(fresh)
            await session.flush()
            session.add_all(
                KbStatusChange(
                    entry_id=e.id, version=1, to_status=Status.PUBLISHED, by=by, note="import"
                )
                for e in fresh
            )
            if progress is not None:
                progress(start + len(batch), len(records))
    return ImportReport(created, updated, unchanged)


def _new_published(record: ImportRecord, by: str) -> KbEntry:
    version = KbEntryVersion.from_content(record.content, version=1, created_by=by, note="import")
    return KbEntry(
        external_id=record.external_id,
        status=Status.PUBLISHED,
        current_version=1,
        versions=[version],
    )


async def searchable_documents(sessions: Sessions, today: date) -> list[SearchDocument]:
    """What agents may find today: published and inside the validity window."""
    async with unit_of_work(sessions) as session:
        rows = await storage.published_contents(session)
    return [
        SearchDocument(external_id, content, version)
        for external_id, version, content in rows
        if is_searchable(Status.PUBLISHED, content, today)
    ]


async def fingerprint(sessions: Sessions) -> tuple[int, datetime | None]:
    async with unit_of_work(sessions) as session:
        return await storage.fingerprint(session)
