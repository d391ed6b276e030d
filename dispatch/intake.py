"""受理: the whole registration use case shared by the API and the web console —
register, compute the suggestions, 智能派单 when confident, remember what was proposed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.domain import Actor
from classifiers import extract_district
from dispatch import learning
from dispatch.services import DispatchService, OrderDetail
from dispatch.storage import Hotline, Order
from dispatch.suggestions import Suggester


async def register_request(
    service: DispatchService,
    suggester: Suggester,
    sessions: async_sessionmaker[AsyncSession],
    actor: Actor,
    fields: Mapping[str, Any],
    auto_dispatch: bool = True,
) -> tuple[OrderDetail, dict[str, Any]]:
    """The registered (maybe auto-dispatched) order and the suggestions shown with it.

    The suggestions are computed first, from the request alone (reads only); then one
    transaction registers the order, dispatches it when the model is confident enough
    and stores what was proposed.
    """
    draft = _draft(service, fields)
    async with sessions() as session:
        suggestions = await suggester.suggest(session, actor, draft)
        hotline = await session.get(Hotline, draft.hotline_number)
    payload = None
    if auto_dispatch and hotline is not None:
        payload = suggester.auto_dispatch(draft, hotline.mode, suggestions)

    async def remember(session: AsyncSession, order: Order) -> None:
        if suggestions["category"]:
            row = learning.suggestion_row(
                order, suggester.model_version, suggestions, payload is not None
            )
            session.add(row)

    detail = await service.register(actor, fields, dispatch=payload, also=remember)
    return detail, suggestions


def _draft(service: DispatchService, fields: Mapping[str, Any]) -> Order:
    """The request as an unsaved order: what the suggestions are computed from."""
    address = fields.get("address")
    return Order(
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
    sessions: async_sessionmaker[AsyncSession],
    actor: Actor,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """智能辅助 while the agent types: what registering `fields` now would suggest, with
    nothing registered (DESIGN §9 `POST /api/v1/suggestions`)."""
    async with sessions() as session:
        return await suggester.suggest(session, actor, _draft(service, fields))
