"""Suggestions for a request being registered (智能辅助): category and unit (top-3 with
confidence), knowledge-base answers, request type, urgency. Proposals only: the agent or
dispatcher decides, and every action still goes through the life-cycle rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from classifiers import TextClassifier, classify_request_type, detect_urgency
from dispatch.storage import Category, Unit
from knowledge_base.live_index import KnowledgeBase

log = logging.getLogger(__name__)
TOP = 3


@dataclass
class Suggester:
    kb: KnowledgeBase
    # None when no model has been trained yet: the service runs without category hints.
    category_model: TextClassifier | None

    async def suggest(
        self, session: AsyncSession, content: str, title: str | None, hotline: str
    ) -> dict[str, Any]:
        kb = self.kb.search(content if not title else f"{title} {content}", TOP, hotline=hotline)
        urgency = detect_urgency(content)
        categories, units = await self._categories(session, content, title)
        return {
            "category": categories,
            "unit": units,
            "kb": [{**hit.as_json(), "answer": hit.answer} for hit in kb],
            "duplicates": [],
            "type": classify_request_type(content),
            "urgency": {"urgent": urgency.urgent, "type": urgency.type, "matched": urgency.matched},
        }

    async def _categories(
        self, session: AsyncSession, content: str, title: str | None
    ) -> tuple[list[dict], list[dict]]:
        """Model labels matched to catalogue entries by name; units from their defaults."""
        if self.category_model is None:
            return [], []
        top = self.category_model.predict(content, title=title, k=TOP)
        if not top:
            return [], []
        rows = await session.execute(
            select(Category.name, Category.code, Unit.code, Unit.name)
            .outerjoin(Unit, Unit.id == Category.default_unit_id)
            .where(Category.name.in_([label for label, _ in top]))
            .order_by(Category.level)
        )
        catalogue: dict[str, tuple] = {}
        for name, code, unit, unit_name in rows:
            catalogue.setdefault(name, (code, unit, unit_name))
        categories, units = [], []
        for label, score in top:
            code, unit, unit_name = catalogue.get(label, (None, None, None))
            categories.append({"label": label, "code": code, "score": round(score, 4)})
            if unit and unit not in {u["unit"] for u in units}:
                units.append({"unit": unit, "name": unit_name, "score": round(score, 4)})
        return categories, units
