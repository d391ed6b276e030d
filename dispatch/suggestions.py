"""Suggestions for a request being registered (智能辅助): category and unit (top-3 with
confidence), knowledge-base answers, possible duplicates, request type, urgency.
Proposals only: the agent or dispatcher decides, and every action still goes through
the life-cycle rules (auto-dispatch included, as the `system` actor).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import Actor
from app.bus import announce
from app.db import on_commit_of
from classifiers import TextClassifier
from config import ClassifierSettings
from dispatch.duplicate_index import DuplicateIndex
from dispatch.reading_pool import ReadingPool, read_text
from dispatch.services import forget_reference
from dispatch.storage import Category, Hotline, Order, Unit
from knowledge_base.live_index import KnowledgeBase

log = logging.getLogger(__name__)
TOP = 3


TEXT_CACHE = 4096  # requests whose text-only suggestions each process keeps


@dataclass(frozen=True, slots=True)
class Draft:
    """A request before it is registered, as the suggestions read it (the fields of an
    order by the same names; a registered `Order` serves as well). A plain object: an
    unsaved ORM order cost a registration more to build than its use here."""

    content: str
    title: str | None
    address: str | None
    district: str | None
    hotline_number: str
    request_type: str | None
    urgency: str | None
    created_at: datetime
    number: str | None = None


_SUGGESTERS: weakref.WeakSet[Suggester] = weakref.WeakSet()


def forget_catalogues() -> None:
    """Categories, units or hotlines changed: the suggesters and the dispatch services
    read them again."""
    for suggester in list(_SUGGESTERS):
        suggester.catalogue = None
        suggester.readings.clear()
        suggester.forgotten += 1
    forget_reference()


def _catalogue_changed() -> None:
    forget_catalogues()
    announce("catalogue")  # the other nodes of a cluster forget theirs too


on_commit_of((Category, Unit, Hotline), _catalogue_changed)


@dataclass(eq=False)
class Suggester:
    kb: KnowledgeBase
    # None when no model has been trained yet: the service runs without category hints.
    category_model: TextClassifier | None
    settings: ClassifierSettings
    # The open orders a new request may repeat (并单), kept in step by the dispatch service.
    duplicates: DuplicateIndex
    # Where the catalogue is read from (only when it is not held: a suggestion whose
    # text was read before opens no session).
    sessions: async_sessionmaker[AsyncSession]
    # One retrain at a time per process.
    retrain_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The catalogue by name (see `_catalogue`); None until read, and after any change.
    catalogue: dict[str, tuple] | None = None
    # What depends on the text alone (category, unit, KB, type, urgency) by request,
    # see `_reading`; with what it was computed from.
    readings: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    readings_of: tuple = ()
    forgotten: int = 0  # counts `forget_catalogues` calls
    # Worker processes for the text-only reading of unseen texts (None: in-process).
    pool: ReadingPool | None = None

    def __post_init__(self) -> None:
        _SUGGESTERS.add(self)

    @property
    def model_version(self) -> str | None:
        return self.category_model.version if self.category_model else None

    async def suggest(self, actor: Actor, order: Draft | Order) -> dict[str, Any]:
        reading = await self._reading(order.content, order.title, order.hotline_number)
        duplicates = self.duplicates.query(
            order.content,
            order.address,
            order.district,
            actor,
            order.created_at,
            exclude=order.number,
            limit=TOP,
        )
        return {**reading, "duplicates": [d.as_json() for d in duplicates]}

    async def _reading(self, content: str, title: str | None, hotline: str) -> dict[str, Any]:
        """The suggestions that depend on the request's text alone, computed once per
        text: the console asks them on every pause in typing and the registration of the
        same text asks them again. Kept until the model, the KB index or the catalogue
        changes (shared between requests: read-only)."""
        stamp = (self.category_model, self.kb.index, self.forgotten)
        if stamp != self.readings_of:
            self.readings.clear()
            self.readings_of = stamp
        key = (content, title, hotline)
        if (reading := self.readings.get(key)) is not None:
            return reading
        model, index = self.category_model, self.kb.index
        reading = None
        if self.pool is not None:
            reading = await self.pool.read(model, index, content, title, hotline, TOP)
        if reading is None:
            reading = read_text(model, index, content, title, hotline, TOP)
        kb, urgency, labels, request_type = reading
        categories, units = await self._categories(labels)
        reading = {
            "category": categories,
            "unit": units,
            "kb": kb,
            "type": request_type,
            "urgency": urgency,
        }
        if stamp == (self.category_model, self.kb.index, self.forgotten):  # none changed since
            if len(self.readings) >= TEXT_CACHE:
                del self.readings[next(iter(self.readings))]  # the oldest
            self.readings[key] = reading
        return reading

    async def _categories(self, top: list[tuple[str, float]]) -> tuple[list[dict], list[dict]]:
        """Model labels matched to catalogue entries by name; units from their defaults."""
        if not top:
            return [], []
        catalogue = await self._catalogue()
        categories, units = [], []
        for label, score in top:
            code, unit, unit_name = catalogue.get(label, (None, None, None))
            categories.append({"label": label, "code": code, "score": round(score, 4)})
            if unit and unit not in {u["unit"] for u in units}:
                units.append({"unit": unit, "name": unit_name, "score": round(score, 4)})
        return categories, units

    async def _catalogue(self) -> dict[str, tuple]:
        """Category name -> (code, default unit code, unit name), the shallowest entry of
        a name first; read once and kept until a category or unit changes."""
        if self.catalogue is None:
            async with self.sessions() as session:
                rows = (
                    await session.execute(
                        select(Category.name, Category.code, Unit.code, Unit.name)
                        .outerjoin(Unit, Unit.id == Category.default_unit_id)
                        .order_by(Category.level, Category.code)
                    )
                ).all()
            catalogue: dict[str, tuple] = {}
            for name, code, unit, unit_name in rows:
                catalogue.setdefault(name, (code, unit, unit_name))
            self.catalogue = catalogue
        return self.catalogue

    def auto_merge(self, order: Draft, suggestions: dict[str, Any]) -> dict[str, Any] | None:
        """并单 without asking: the merge payload when the best duplicate is certain.

        国办函〔2025〕66号 asks for repeated requests to be merged automatically; a person
        still decides for urgent orders (an emergency is never merged away unseen).
        """
        top = suggestions["duplicates"][0] if suggestions["duplicates"] else None
        if (
            top is None
            or not top["certain"]
            or not self.settings.duplicate_auto_merge
            or order.urgency == "urgent"
        ):
            return None
        note = f"自动并单:与 {top['number']} 为同一事项,相似度 {top['similarity']:.2f}"
        return {"parent": top["number"], "note": note}

    def auto_dispatch(
        self, order: Draft, hotline_mode: str, suggestions: dict[str, Any]
    ) -> dict[str, Any] | None:
        """智能派单: the dispatch payload when the model is confident enough, else None.

        Only for hotlines the centre dispatches itself (central mode), never for
        consultations (the agent answers those on the spot) or urgent orders (a person
        handles those at once).
        """
        top = suggestions["category"][0] if suggestions["category"] else None
        if (
            top is None
            or top["score"] < self.settings.auto_dispatch_confidence
            or hotline_mode != "central"
            or order.request_type == "consultation"
            or order.urgency == "urgent"
            or not suggestions["unit"]
            or top["code"] is None
        ):
            return None
        unit = suggestions["unit"][0]["unit"]
        note = f"智能派单:{top['label']},置信度 {top['score']:.2f}"
        return {"unit": unit, "category": top["code"], "note": note}
