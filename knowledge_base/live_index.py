"""The per-process knowledge base the server holds: a search index kept in step with
the database.

    kb = await KnowledgeBase.load(sessions)            # at start-up
    hits = kb.search("公积金怎么取", top=5, hotline="12345")
    await kb.publish("KB-0001", by="alice")           # use case + index refresh
    await kb.refresh_if_changed()                     # from a periodic task

Searching is synchronous and CPU-only (a few ms), so it is safe on the event loop;
rebuilding runs in a worker thread and swaps the index in one assignment, so searches
never see a half-built index. Token streams are cached per (entry, version), so a
refresh after an edit re-tokenizes only the changed entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import date, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from app.bus import announce
from knowledge_base import services
from knowledge_base.domain import EntryContent, SearchDocument, SearchHit
from knowledge_base.records import ImportRecord
from knowledge_base.search import DocumentTokens, SearchIndex, SearchSettings, tokenize
from knowledge_base.services import EntryView, ImportReport, Progress, Sessions

T = TypeVar("T")


class KnowledgeBase:
    def __init__(
        self,
        sessions: Sessions,
        *,
        settings: SearchSettings | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.sessions = sessions
        self.settings = settings or SearchSettings()
        self._zone = ZoneInfo(timezone)
        self._index = SearchIndex([], self.settings)
        self._loaded: tuple[int, datetime | None, date] | None = None
        self._lock = asyncio.Lock()
        self._tokens: dict[tuple[str, int], DocumentTokens] = {}

    @classmethod
    async def load(
        cls,
        sessions: Sessions,
        *,
        settings: SearchSettings | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> KnowledgeBase:
        """A knowledge base with its index built from the database."""
        kb = cls(sessions, settings=settings, timezone=timezone)
        await kb.refresh()
        return kb

    def today(self) -> date:
        """Validity dates are local dates of the centre's time zone."""
        return datetime.now(self._zone).date()

    def __len__(self) -> int:
        return len(self._index)

    @property
    def index(self) -> object:
        """The index searched now: a new object after each refresh (callers that keep
        search results compare it to know when theirs are stale)."""
        return self._index

    def search(
        self,
        query: str,
        top: int = 5,
        *,
        category: str | None = None,
        hotline: str | None = None,
    ) -> list[SearchHit]:
        """Best published, currently valid entries for `query`, best first."""
        return self._index.search(query, top, category=category, hotline=hotline)

    async def refresh(self) -> None:
        """Rebuild the index from the database (off the event loop) and swap it in."""
        async with self._lock:
            today = self.today()
            count, changed = await services.fingerprint(self.sessions)
            documents = await services.searchable_documents(self.sessions, today)
            loop = asyncio.get_running_loop()
            self._index = await loop.run_in_executor(None, self._build, documents)
            self._loaded = (count, changed, today)

    def _build(self, documents: list[SearchDocument]) -> SearchIndex:
        """Runs in a worker thread; only documents not seen before are tokenized."""
        cache = {}
        for document in documents:
            key = (document.external_id, document.version)
            cached = self._tokens.get(key)
            cache[key] = cached if cached is not None else tokenize(document, self.settings)
        self._tokens = cache  # entries gone from search leave the cache too
        tokens = [cache[(d.external_id, d.version)] for d in documents]
        return SearchIndex(documents, self.settings, tokens=tokens)

    async def refresh_if_changed(self) -> bool:
        """Refresh when entries changed (maybe in another process) or the day turned."""
        count, changed = await services.fingerprint(self.sessions)
        if self._loaded == (count, changed, self.today()):
            return False
        await self.refresh()
        return True

    async def _then_refresh(self, use_case: Awaitable[T]) -> T:
        result = await use_case
        await self.refresh()
        announce("kb")  # the other nodes of a cluster refresh theirs too
        return result

    # Use cases that can change what agents find; each refreshes the index afterwards.
    # The others (create, review, reject, history) are plain `services` calls.
    async def import_records(
        self, records: list[ImportRecord], *, by: str = "import", progress: Progress | None = None
    ) -> ImportReport:
        return await self._then_refresh(
            services.import_records(self.sessions, records, by=by, progress=progress)
        )

    async def edit(
        self, external_id: str, content: EntryContent, *, by: str, note: str | None = None
    ) -> EntryView:
        return await self._then_refresh(
            services.edit_entry(self.sessions, external_id, content, by=by, note=note)
        )

    async def publish(self, external_id: str, *, by: str, note: str | None = None) -> EntryView:
        return await self._then_refresh(
            services.publish(self.sessions, external_id, by=by, note=note)
        )

    async def expire(self, external_id: str, *, by: str, note: str | None = None) -> EntryView:
        return await self._then_refresh(
            services.expire(self.sessions, external_id, by=by, note=note)
        )

    async def expire_due(self, *, by: str = "scanner") -> list[str]:
        expired = await services.expire_due(self.sessions, self.today(), by=by)
        await self.refresh()
        if expired:
            announce("kb")
        return expired
