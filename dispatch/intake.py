"""受理: the whole registration use case shared by the API and the web console —
register, compute the suggestions, 并单 when the order certainly repeats an open one,
else 智能派单 when confident, remember what was proposed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.domain import Actor
from app.db import insert_rows
from classifiers import extract_district
from dispatch import learning
from dispatch.services import DispatchService, OrderDetail
from dispatch.storage import Order
from dispatch.suggestions import Draft, Suggester

log = logging.getLogger(__name__)


async def register_request(
    service: DispatchService,
    suggester: Suggester,
    actor: Actor,
    fields: Mapping[str, Any],
    automatic: bool = True,
    also: Callable[[AsyncSession, Order, str | None], Awaitable[None]] | None = None,
) -> tuple[OrderDetail, dict[str, Any]]:
    """The registered (maybe merged or dispatched) order and the suggestions shown with it.

    The suggestions are computed first, from the request alone (reads only); then one
    transaction registers the order, applies the first automatic action the rules
    accept — 并单 into a certain duplicate, else the hand-off of an `external` hotline's
    order to its system's unit, else 智能派单 when the model is confident — and stores
    what was proposed. `automatic` off: neither (the agent is answering on
    the spot). `also` writes what else belongs to this registration (the channel's own
    record: the SMS, the mail and its files), in the same transaction.
    """
    draft = _draft(service, fields)
    suggestions = await suggester.suggest(actor, draft)
    reference = await service.current_reference()
    hotline = reference.hotlines.get(draft.hotline_number)
    handoff = reference.handoff_unit(hotline)
    candidates: list[tuple[str, Mapping[str, Any]]] = []
    if automatic and (merge := suggester.auto_merge(draft, suggestions)) is not None:
        candidates.append(("merge", merge))
    if automatic and handoff is not None:
        candidates.append(("dispatch", {"unit": handoff, "note": HANDOFF_NOTE}))
    payload = None
    if automatic and hotline is not None:
        payload = suggester.auto_dispatch(draft, hotline.mode, suggestions)
    if payload is not None:
        candidates.append(("dispatch", payload))

    async def remember(session: AsyncSession, order: Order, applied: str | None) -> None:
        if suggestions["category"]:
            row = learning.suggestion_row(
                order, suggester.model_version, suggestions, applied == "dispatch"
            )
            await insert_rows(session, [row])
        if also is not None:
            await also(session, order, applied)

    detail = await service.register(actor, fields, automatic=candidates, also=remember)
    return detail, suggestions


HANDOFF_NOTE = "转外部系统办理(热线原业务系统)"


def _draft(service: DispatchService, fields: Mapping[str, Any]) -> Draft:
    """The request as the suggestions read it."""
    address = fields.get("address")
    return Draft(
        content=fields["content"],
        title=fields.get("title"),
        address=address,
        district=fields.get("district") or extract_district(address),
        hotline_number=fields.get("hotline") or "12345",
        request_type=fields.get("type"),
        urgency=fields.get("urgency"),
        created_at=service.now(),
    )


async def suggest_request(
    service: DispatchService,
    suggester: Suggester,
    actor: Actor,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """智能辅助 while the agent types: what registering `fields` now would suggest, with
    nothing registered (DESIGN §9 `POST /api/v1/suggestions`)."""
    return await suggester.suggest(actor, _draft(service, fields))
