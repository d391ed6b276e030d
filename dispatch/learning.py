"""Learning from work (从办理中学习): what the classifier proposed versus where orders
really went. Returns, re-dispatches and manual category changes show up as corrections;
every order that settled with a unit becomes training data for the next retrain.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bus import announce
from app.errors import Conflict
from classifiers import ClassifierError, Record, load_phone_corpus, read_records, train
from config import ClassifierSettings
from dispatch.exceptions import ActionRejected
from dispatch.lifecycle import State
from dispatch.storage import Category, Order, OrderSuggestion, Unit

if TYPE_CHECKING:
    from dispatch.suggestions import Suggester

log = logging.getLogger(__name__)

# Orders whose unit is settled: accepted and beyond (a returned order is still open).
SETTLED = (State.ACCEPTED, State.REPLIED, State.CALLBACK_PENDING, State.CLOSED)


def suggestion_row(
    order: Order, model_version: str, suggestions: dict[str, Any], auto_dispatched: bool
) -> OrderSuggestion:
    """What the model proposed for `order`, kept to learn from the decisions later."""
    top = suggestions["category"][0]
    unit = suggestions["unit"][0]["unit"] if suggestions["unit"] else None
    return OrderSuggestion(
        order_id=order.id,
        model_version=model_version,
        label=top["label"],
        category_code=top["code"],
        unit_code=unit,
        confidence=top["score"],
        auto_dispatched=auto_dispatched,
        created_at=order.created_at,
    )


def _top_level_names(categories: list[Category]) -> dict[str, str]:
    """Category code -> name of its first-level ancestor (the level the model predicts)."""
    by_code = {c.code: c for c in categories}
    names = {}
    for category in categories:
        top = category
        while top.parent_code and top.parent_code in by_code:
            top = by_code[top.parent_code]
        names[category.code] = top.name
    return names


async def training_examples(session: AsyncSession) -> list[dict[str, Any]]:
    """One JSONL-ready record per settled order with a category and a lead unit."""
    names = _top_level_names(list(await session.scalars(select(Category))))
    rows = await session.execute(
        select(
            Order.number,
            Order.title,
            Order.content,
            Order.category_code,
            Unit.code,
            Order.return_count,
            OrderSuggestion.label,
            OrderSuggestion.unit_code,
        )
        .join(Unit, Unit.id == Order.lead_unit_id)
        .outerjoin(OrderSuggestion, OrderSuggestion.order_id == Order.id)
        .where(Order.state.in_(SETTLED), Order.category_code.is_not(None))
        .order_by(Order.id)
    )
    examples = []
    for number, title, content, category, unit, returns, suggested, suggested_unit in rows:
        label = names.get(category)
        correction = bool(returns) or (
            suggested is not None and (suggested != label or suggested_unit != unit)
        )
        examples.append(
            {
                "id": number,
                "title": title,
                "text": content,
                "label": label,
                "unit": unit,
                "correction": correction,
            }
        )
    return examples


@dataclass(frozen=True)
class RetrainResult:
    version: str
    examples: int
    from_orders: int
    corrections: int
    metrics: dict[str, Any]


async def retrain(
    sessions: async_sessionmaker[AsyncSession], base_data: Path | None, out: Path
) -> tuple[RetrainResult, Any]:
    """Train on the base data plus the orders, off the event loop; save atomically."""
    async with sessions() as session:
        examples = await training_examples(session)
    records = read_records(base_data) if base_data else []
    records += [
        Record(id=e["id"], text=e["text"], title=e["title"], raw=e, line=i)
        for i, e in enumerate(examples, start=1)
    ]
    loop = asyncio.get_running_loop()
    # the short-request corpus joins only when the labels are its taxonomy's
    supplement = await loop.run_in_executor(None, load_phone_corpus)
    model = await loop.run_in_executor(
        None, partial(train, records, cv_folds=0, supplement=supplement)
    )
    await loop.run_in_executor(None, model.save, out)
    log.info(
        "retrained category model %s on %d records (%d from orders)",
        model.version,
        len(records),
        len(examples),
    )
    result = RetrainResult(
        model.version,
        len(records),
        len(examples),
        sum(e["correction"] for e in examples),
        model.metadata.get("metrics", {}),
    )
    return result, model


async def retrain_suggester(
    suggester: Suggester,
    sessions: async_sessionmaker[AsyncSession],
    settings: ClassifierSettings,
) -> RetrainResult:
    """重新训练 (API and admin screen): train, save, and serve the new model from the next
    request; one run at a time per process."""
    if suggester.retrain_lock.locked():
        raise Conflict("模型正在训练中,请稍后再试", code="retrain_running")
    async with suggester.retrain_lock:
        try:
            result, model = await retrain(
                sessions, settings.base_training_path, settings.category_model_path
            )
        except ClassifierError as exc:
            raise ActionRejected(f"无法训练模型: {exc}", code="training_failed") from None
        suggester.category_model = model
    announce("model", {"version": model.version})  # the other nodes load it too
    return result
